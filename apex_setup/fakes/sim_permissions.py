"""Discord's permission arithmetic as pure functions over plain values.

The order follows Discord's developer documentation (Permissions, "Permission Overwrites" and
"Implicit Permissions"):

1. The guild owner has every permission.
2. Base: the @everyone role's permissions OR every role the member holds.
3. Administrator in the base: every permission, and channel overwrites are ignored.
4. The channel's @everyone overwrite: deny, then allow.
5. All of the member's role overwrites together: deny the union of their denies, then allow the
   union of their allows (role positions play no part).
6. The member's own overwrite: deny, then allow.
7. A timed-out member keeps only View Channel and Read Message History (owners and
   administrators are exempt, as the documentation says).
8. Implicit: without View Channel nothing else in the channel applies; without Send Messages,
   Embed Links, Attach Files, Mention Everyone and Send TTS Messages do not apply either.

Invariants: nothing here looks anything up or keeps state; callers pass the member's roles and the
channel's overwrites, and get an ``int`` bit set back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from apex_setup.core.discord_types import Permission

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "SEND_DEPENDENT_PERMISSIONS",
    "TIMEOUT_KEPT_PERMISSIONS",
    "Overwrite",
    "base_permissions",
    "channel_permissions",
]

#: Every bit Discord documents (0..46, 49, 50); the owner and administrators hold all of them.
ALL_PERMISSIONS = ((1 << 47) - 1) | (1 << 49) | (1 << 50)

# Bits the core's Permission enum does not name, used only for the @everyone default.
_CHANGE_NICKNAME = 1 << 26
_CONNECT = 1 << 20
_SPEAK = 1 << 21
_USE_VAD = 1 << 25
_STREAM = 1 << 9
_CREATE_PUBLIC_THREADS = 1 << 35
_CREATE_PRIVATE_THREADS = 1 << 36
_USE_EXTERNAL_STICKERS = 1 << 37

#: What a new guild's @everyone role is given by Discord (the ordinary member permissions).
DEFAULT_EVERYONE_PERMISSIONS = int(
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.MENTION_EVERYONE
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.SEND_MESSAGES_IN_THREADS
) | (
    _CHANGE_NICKNAME
    | _CONNECT
    | _SPEAK
    | _USE_VAD
    | _STREAM
    | _CREATE_PUBLIC_THREADS
    | _CREATE_PRIVATE_THREADS
    | _USE_EXTERNAL_STICKERS
)

#: What a timed-out member keeps.
TIMEOUT_KEPT_PERMISSIONS = int(Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY)

#: What is ignored in a channel where the member cannot send messages.
SEND_DEPENDENT_PERMISSIONS = int(
    Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.MENTION_EVERYONE
    | Permission.SEND_TTS_MESSAGES
)

_ADMINISTRATOR = int(Permission.ADMINISTRATOR)
_VIEW_CHANNEL = int(Permission.VIEW_CHANNEL)
_SEND_MESSAGES = int(Permission.SEND_MESSAGES)


@dataclass(frozen=True)
class Overwrite:
    """A channel permission overwrite for a role (``is_role``) or a member.

    The @everyone overwrite is the role overwrite whose ``target_id`` is the guild id.
    """

    target_id: int
    is_role: bool
    allow: int = 0
    deny: int = 0

    def __post_init__(self) -> None:
        if self.allow & self.deny:
            raise ValueError("an overwrite cannot both allow and deny the same permission")


def base_permissions(
    *,
    is_owner: bool,
    everyone: int,
    role_permissions: Iterable[int],
    timed_out: bool = False,
) -> int:
    """A member's guild-level permissions (steps 1-3, and 7 for guild-wide actions)."""
    if is_owner:
        return ALL_PERMISSIONS
    permissions = everyone
    for value in role_permissions:
        permissions |= value
    if permissions & _ADMINISTRATOR:
        return ALL_PERMISSIONS
    if timed_out:
        permissions &= TIMEOUT_KEPT_PERMISSIONS
    return permissions


def channel_permissions(
    *,
    is_owner: bool,
    guild_id: int,
    member_id: int,
    everyone: int,
    roles: Mapping[int, int],
    overwrites: Iterable[Overwrite],
    timed_out: bool = False,
) -> int:
    """A member's permissions in one channel (all eight steps).

    Args:
        is_owner: whether the member owns the guild.
        guild_id: the guild's id, which is also the @everyone role's id.
        member_id: the member's user id, to find their own overwrite.
        everyone: the @everyone role's permissions.
        roles: the member's other roles, role id -> that role's permissions.
        overwrites: the channel's overwrites, in any order.
        timed_out: whether the member is timed out now.
    """
    # Steps 1-3: the guild level, where owner and administrator end the computation.
    base = base_permissions(is_owner=is_owner, everyone=everyone, role_permissions=roles.values())
    if base & _ADMINISTRATOR:
        return ALL_PERMISSIONS

    # Step 4: the @everyone overwrite.
    by_target = {(o.target_id, o.is_role): o for o in overwrites}
    permissions = base
    everyone_overwrite = by_target.get((guild_id, True))
    if everyone_overwrite is not None:
        permissions &= ~everyone_overwrite.deny
        permissions |= everyone_overwrite.allow

    # Step 5: every role overwrite at once, denies before allows.
    deny = 0
    allow = 0
    for role_id in roles:
        role_overwrite = by_target.get((role_id, True))
        if role_overwrite is not None and role_id != guild_id:
            deny |= role_overwrite.deny
            allow |= role_overwrite.allow
    permissions &= ~deny
    permissions |= allow

    # Step 6: the member's own overwrite.
    member_overwrite = by_target.get((member_id, False))
    if member_overwrite is not None:
        permissions &= ~member_overwrite.deny
        permissions |= member_overwrite.allow

    # Step 7: a timeout leaves only reading.
    if timed_out:
        permissions &= TIMEOUT_KEPT_PERMISSIONS

    # Step 8: implicit denials.
    if not permissions & _VIEW_CHANNEL:
        return 0
    if not permissions & _SEND_MESSAGES:
        permissions &= ~SEND_DEPENDENT_PERMISSIONS
    return permissions
