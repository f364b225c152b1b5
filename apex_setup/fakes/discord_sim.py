"""An in-memory Discord that answers like Discord: refusals, limits, nonces, clocks and all.

The simulator holds one world (users, guilds, roles, channels with overwrites, messages,
interactions) and three ways in:

- world building for test setup (``create_guild``, ``post_as``, ``timeout_member``...): no
  permission checks, but the world stays one Discord could hold (limits, parents, kinds);
- the bot's side, through ``port(bot_user_id)`` (the core's ``DiscordPort`` plus the actions a
  setup bot needs) or the ``api_*`` methods it delegates to, which take plain arguments so a wire
  front can serve them over HTTP; every such call passes through the ``FaultPlan`` as
  ``discord.<method>``, costs ``latency`` simulated seconds, meets the rate limiter and is logged
  in ``requests``;
- users' side for interactions (``press_button``, ``choose_select``, ``run_command``,
  ``submit_modal``), answered by the bot with ``respond``, ``defer``, ``followup``...

Invariants:
- State changes only under ``lock`` (a re-entrant lock: the bot's worker threads and an event loop
  may both call in). Every check of a call runs before its effect: a refused call changes nothing
  (except the rate-limit bucket it spent and the request log, as on Discord).
- A 429 has no effect at all, not even on the buckets.
- Time is the clock's only: nonce windows, buckets, snowflakes and interaction deadlines read it,
  and nothing sleeps for real.
- Message limits are checked here independently of ``apex_setup.core.payload.validate_payload``.

Choices where Discord's documentation is silent or where the simulator picks one behaviour:
- Nonces are always enforced (discord.py sends ``enforce_nonce``). The same author and nonce
  within ``nonce_window`` seconds of the *first* creation return that message, with the nonce set,
  and create nothing - even if the second payload or channel differs. After the window, or once that
  message has been deleted (or its channel has), a new message is created and becomes the nonce's
  new first creation.
- History without Read Message History returns an empty list (the documented behaviour of Get
  Channel Messages); fetching one message without it is 50001, like other access refusals.
- Embeds without Embed Links are refused with 50013 rather than silently dropped: the
  documentation does not say, and a loud refusal is the safer oracle.
- Sending into a category or voice channel is 50008 (text-in-voice is not simulated).
- A full category refuses a new child with 50035 on ``parent_id`` (Discord has no dedicated code for
  it); a full guild (500 channels) is 30013; 250 roles, @everyone included, is 30005.
- ``history`` accepts both ``before`` and ``after`` (Discord's endpoint takes one; discord.py
  filters for the other): the page is taken next to ``after`` when it is given, else next to
  ``before`` or the newest message, and is always returned newest first.
- Every guild channel is listed by ``list_channels``, including ones the bot cannot view, as the
  REST endpoint and the gateway do for bots.
- Interaction webhooks: an expired token (15 minutes, or 3 seconds without a first response) is
  401 / 50027 Invalid Webhook Token, as Discord answers; a follow-up before any first response is
  404 / 10015 Unknown Webhook. The initial-response route itself answers 10062 and 40060.
- The order of refusals for a send: 10003, 50001, 50008, 50035, 50006, 50013, then the nonce.

Known gaps (one TODO below): no threads, DMs, attachments,
reactions or text-in-voice; gateway events only through ``subscribe`` (the wire front
serves them, see ``sim_gateway``); slash commands need no registration; role positions
only matter for deleting roles; @everyone's default permissions are the documented member set, not
an exact copy of a live guild's.
"""

# TODO: no threads, DMs, attachments, reactions or text-in-voice, and slash commands need no
# registration; each ends when a setup flow or a user's test needs it.

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple, TypeVar

from apex_setup.core.discord_types import ChannelInfo, ChannelKind, MessageInfo, Permission
from apex_setup.core.errors import DiscordFailure
from apex_setup.core.payload import Button, MessagePayload, SelectMenu
from apex_setup.core.ports import Clock
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.faults import FaultPlan
from apex_setup.fakes.sim_errors import (
    ImpossibleUserAction,
    JsonCode,
    SimulatorUsageError,
    cannot_edit_others,
    empty_message,
    invalid_form_body,
    invalid_role,
    max_channels,
    max_roles,
    missing_access,
    missing_permissions,
    non_text_channel,
    rate_limited,
    unknown_channel,
    unknown_guild,
    unknown_message,
    unknown_role,
)
from apex_setup.fakes.sim_interactions import (
    AckState,
    ComponentType,
    Interaction,
    InteractionData,
    InteractionResponse,
    InteractionType,
    OptionValue,
    ResponseKind,
    check_first_response,
    check_token,
)
from apex_setup.fakes.sim_limits import (
    CHANNEL_NAME,
    CUSTOM_ID,
    ROLE_NAME,
    is_empty,
    length_errors,
    nonce_errors,
    payload_errors,
)
from apex_setup.fakes.sim_permissions import (
    DEFAULT_EVERYONE_PERMISSIONS,
    Overwrite,
    base_permissions,
    channel_permissions,
)
from apex_setup.fakes.sim_ratelimit import RateLimitConfig, RateLimiter
from apex_setup.fakes.sim_state import (
    ChannelRecord,
    GuildRecord,
    MemberRecord,
    MessageRecord,
    NonceRecord,
    RoleRecord,
    SnowflakeFactory,
    UserRecord,
)

__all__ = [
    "MAX_CATEGORY_CHANNELS",
    "MAX_GUILD_CHANNELS",
    "MAX_GUILD_ROLES",
    "STANDARD_BOT_PERMISSIONS",
    "DiscordSimulator",
    "ImpossibleUserAction",
    "Interaction",
    "InteractionData",
    "InteractionResponse",
    "InteractionType",
    "JsonCode",
    "Overwrite",
    "RateLimitConfig",
    "RequestRecord",
    "ResponseKind",
    "SimEvent",
    "SimulatorPort",
    "SimulatorUsageError",
    "StandardGuild",
    "WorldRecords",
]

T = TypeVar("T")

MAX_GUILD_CHANNELS = 500
MAX_CATEGORY_CHANNELS = 50
MAX_GUILD_ROLES = 250
#: Modal limits: custom_id 1..100, title 1..45, 1..5 text inputs.
_MODAL_TITLE = 45
_MODAL_FIELDS = 5

_VIEW = int(Permission.VIEW_CHANNEL)
_SEND = int(Permission.SEND_MESSAGES)
_EMBED = int(Permission.EMBED_LINKS)
_HISTORY = int(Permission.READ_MESSAGE_HISTORY)
_MANAGE_MESSAGES = int(Permission.MANAGE_MESSAGES)
_MANAGE_CHANNELS = int(Permission.MANAGE_CHANNELS)
_MANAGE_ROLES = int(Permission.MANAGE_ROLES)
_ADMINISTRATOR = int(Permission.ADMINISTRATOR)
_USE_COMMANDS = int(Permission.USE_APPLICATION_COMMANDS)

#: What the standard guild's bot role grants.
STANDARD_BOT_PERMISSIONS = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.READ_MESSAGE_HISTORY
    | Permission.MANAGE_CHANNELS
    | Permission.MANAGE_ROLES
    | Permission.MANAGE_MESSAGES
)


class RequestRecord(NamedTuple):
    """One request the bot made: the route, its top-level resource and Discord's status."""

    route: str
    resource_id: int | None
    status: int


class SimEvent(NamedTuple):
    """A change announced to subscribers (see ``subscribe``): what happened, and to what.

    ``kind`` is one of ``message_create``, ``message_delete``, ``channel_create``,
    ``channel_delete``, ``interaction_create``; ``subject`` is the ``MessageRecord``,
    ``ChannelRecord`` or ``Interaction`` concerned (after a delete, the removed record).
    """

    kind: str
    subject: object


class WorldRecords(NamedTuple):
    """Live read-only views of the world, for the wire front; read them only under ``lock``."""

    users: Mapping[int, UserRecord]
    guilds: Mapping[int, GuildRecord]
    channels: Mapping[int, ChannelRecord]
    ephemeral: Mapping[int, MessageRecord]


@dataclass(frozen=True)
class StandardGuild:
    """Ids of a ready guild: who is in it and which channels it has (see ``standard_guild``)."""

    guild_id: int
    everyone_role_id: int
    owner_id: int
    bot_id: int
    bot_role_id: int
    admin_id: int
    admin_role_id: int
    member_id: int
    general_id: int
    shop_id: int
    support_id: int
    info_category_id: int
    rules_id: int
    audit_log_id: int
    voice_id: int
    staff_only_id: int  # neither @everyone nor the bot can view it
    read_only_id: int  # the bot can view it but not send

    @property
    def channels(self) -> dict[str, int]:
        """Channel name -> id, for the channels this guild was built with."""
        return {
            "general": self.general_id,
            "shop": self.shop_id,
            "support": self.support_id,
            "Info": self.info_category_id,
            "rules": self.rules_id,
            "audit-log": self.audit_log_id,
            "Voice": self.voice_id,
            "staff-only": self.staff_only_id,
            "read-only": self.read_only_id,
        }


@dataclass
class _InteractionState:
    ack: AckState = AckState.PENDING
    kind: ResponseKind | None = None
    original_message_id: int | None = None
    deferred_unfilled: bool = False  # a deferred message the first follow-up fills


@dataclass(frozen=True)
class _OpenModal:
    source: Interaction
    field_ids: tuple[str, ...]


class DiscordSimulator:
    """One simulated Discord. Thread-safe; every method takes and returns plain values.

    Args:
        clock: the time source; a fresh ``FakeClock`` when omitted.
        faults: the fault plan every bot-side call passes through; its ``sleep`` is set to this
            simulator's clock when it has none.
        nonce_window: seconds during which a repeated nonce returns the first message.
        rate_limits: buckets and limits; Discord-like defaults when omitted,
            ``RateLimitConfig.disabled()`` to switch them off.
        latency: simulated seconds each bot-side call adds to the clock.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        faults: FaultPlan | None = None,
        nonce_window: float = 300.0,
        rate_limits: RateLimitConfig | None = None,
        latency: float = 0.0,
    ) -> None:
        self.clock: Clock = clock if clock is not None else FakeClock()
        self.faults = faults if faults is not None else FaultPlan()
        if self.faults.sleep is None:
            self.faults.sleep = self._advance
        self.nonce_window = nonce_window
        self.rate_limits = rate_limits if rate_limits is not None else RateLimitConfig()
        self.latency = latency
        #: Every request the bot made, in order.
        self.requests: list[RequestRecord] = []
        #: Every interaction users started, in order.
        self.interactions: list[Interaction] = []
        #: Every answer the bot gave to an interaction, in order.
        self.interaction_responses: list[InteractionResponse] = []

        self._lock = threading.RLock()
        self._ids = SnowflakeFactory()
        self._limiter = RateLimiter(self.rate_limits)
        self._users: dict[int, UserRecord] = {}
        self._guilds: dict[int, GuildRecord] = {}
        self._channels: dict[int, ChannelRecord] = {}
        self._ephemeral: dict[int, MessageRecord] = {}
        self._nonces: dict[tuple[int, str], NonceRecord] = {}
        self._nonce_counts: Counter[tuple[int, str]] = Counter()
        self._interactions: dict[int, Interaction] = {}
        self._by_token: dict[str, int] = {}
        self._ack: dict[int, _InteractionState] = {}
        self._open_modals: dict[tuple[int, str], _OpenModal] = {}
        self._listeners: list[Callable[[SimEvent], None]] = []

    # ------------------------------------------------------------------ plumbing

    @property
    def lock(self) -> threading.RLock:
        """The lock guarding all state; hold it to make several calls atomic."""
        return self._lock

    @property
    def invalid_request_count(self) -> int:
        """401, 403 and 429 answers within Discord's 10-minute window."""
        with self._lock:
            return self._limiter.invalid_count(self._seconds())

    def subscribe(self, listener: Callable[[SimEvent], None]) -> Callable[[], None]:
        """Call ``listener`` after every change a gateway would announce; returns an unsubscriber.

        The listener runs synchronously under ``lock`` in whichever thread made the change: it
        must not block, and must not raise (an exception would fail the caller's request).
        """
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    @property
    def records(self) -> WorldRecords:
        """The world's records, read-only, for serving them over a wire."""
        return WorldRecords(
            MappingProxyType(self._users),
            MappingProxyType(self._guilds),
            MappingProxyType(self._channels),
            MappingProxyType(self._ephemeral),
        )

    def _emit(self, kind: str, subject: object) -> None:
        for listener in list(self._listeners):
            listener(SimEvent(kind, subject))

    def port(self, bot_user_id: int) -> SimulatorPort:
        """The bot's view of Discord, implementing the core's ``DiscordPort``."""
        with self._lock:
            user = self._users.get(bot_user_id)
            if user is None or not user.bot:
                raise SimulatorUsageError(f"user {bot_user_id} is not a bot user")
            return SimulatorPort(self, bot_user_id)

    def _now(self) -> datetime:
        return self.clock.now()

    def _seconds(self) -> float:
        return self.clock.now().timestamp()

    def _advance(self, seconds: float) -> None:
        if isinstance(self.clock, FakeClock):
            self.clock.advance(seconds)
        else:
            self.clock.sleep(seconds)

    def _new_id(self) -> int:
        return self._ids.make(self._now())

    def _bot_call(
        self,
        name: str,
        body: Callable[[], T],
        *,
        bot_id: int,
        route: str | None,
        resource_id: int | None,
        ok_status: int = 200,
        limited: bool = True,
        detail: str = "",
    ) -> T:
        """Run one bot-side call: faults, latency, rate limit, the body, the request log."""
        call = f"discord.{name}"
        with self._lock:
            self.faults.before(call, detail)
            if self.latency > 0:
                self._advance(self.latency)
            if route is not None and limited:
                hit = self._limiter.check(bot_id, route, resource_id, self._seconds())
                if hit is not None:
                    self.requests.append(RequestRecord(route, resource_id, 429))
                    if hit.bucket != "invalid-requests":
                        self._limiter.record_invalid(self._seconds())
                    raise rate_limited(hit.retry_after, scope=hit.scope)
            try:
                result = body()
            except DiscordFailure as exc:
                if route is not None:
                    self.requests.append(RequestRecord(route, resource_id, exc.status))
                if exc.status in (401, 403, 429):
                    self._limiter.record_invalid(self._seconds())
                raise
            if route is not None:
                self.requests.append(RequestRecord(route, resource_id, ok_status))
            self.faults.after(call)
            return result

    # ------------------------------------------------------------------ lookups

    def _user(self, user_id: int) -> UserRecord:
        user = self._users.get(user_id)
        if user is None:
            raise SimulatorUsageError(f"unknown user {user_id}")
        return user

    def _guild(self, guild_id: int) -> GuildRecord:
        guild = self._guilds.get(guild_id)
        if guild is None:
            raise SimulatorUsageError(f"unknown guild {guild_id}")
        return guild

    def _channel(self, channel_id: int) -> ChannelRecord:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise SimulatorUsageError(f"unknown channel {channel_id}")
        return channel

    def _api_guild(self, bot_id: int, guild_id: int) -> GuildRecord:
        guild = self._guilds.get(guild_id)
        if guild is None:
            raise unknown_guild()
        if bot_id not in guild.members:
            raise missing_access()
        return guild

    def _api_channel(self, bot_id: int, channel_id: int) -> ChannelRecord:
        """The channel, if it exists (10003) and the bot can view it (50001)."""
        channel = self._channels.get(channel_id)
        if channel is None:
            raise unknown_channel()
        if not self._perms_in(bot_id, channel) & _VIEW:
            raise missing_access()
        return channel

    def _perms_in(self, user_id: int, channel: ChannelRecord) -> int:
        guild = self._guilds[channel.guild_id]
        member = guild.members.get(user_id)
        if member is None:
            return 0
        return channel_permissions(
            is_owner=user_id == guild.owner_id,
            guild_id=guild.id,
            member_id=user_id,
            everyone=guild.roles[guild.id].permissions,
            roles={r: guild.roles[r].permissions for r in member.role_ids},
            overwrites=channel.overwrites.values(),
            timed_out=member.timed_out(self._now()),
        )

    def _guild_perms(self, user_id: int, guild: GuildRecord) -> int:
        member = guild.members.get(user_id)
        if member is None:
            return 0
        return base_permissions(
            is_owner=user_id == guild.owner_id,
            everyone=guild.roles[guild.id].permissions,
            role_permissions=[guild.roles[r].permissions for r in member.role_ids],
            timed_out=member.timed_out(self._now()),
        )

    def _top_position(self, user_id: int, guild: GuildRecord) -> int:
        member = guild.members.get(user_id)
        if member is None or not member.role_ids:
            return 0
        return max(guild.roles[r].position for r in member.role_ids)

    def find_message(self, message_id: int) -> MessageRecord | None:
        """A message of any channel, or an ephemeral one, by id; None when there is none."""
        with self._lock:
            ephemeral = self._ephemeral.get(message_id)
            if ephemeral is not None:
                return ephemeral
            for channel in self._channels.values():
                message = channel.messages.get(message_id)
                if message is not None:
                    return message
            return None

    # ------------------------------------------------------------------ world building

    def create_user(self, name: str, *, bot: bool = False) -> int:
        with self._lock:
            user_id = self._new_id()
            self._users[user_id] = UserRecord(user_id, name, bot)
            return user_id

    def create_guild(self, name: str, owner_id: int) -> int:
        """A guild owned by ``owner_id``, with @everyone (id = guild id) at Discord's defaults."""
        with self._lock:
            self._user(owner_id)
            guild_id = self._new_id()
            guild = GuildRecord(guild_id, name, owner_id)
            guild.roles[guild_id] = RoleRecord(
                guild_id, guild_id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS, 0
            )
            guild.members[owner_id] = MemberRecord(owner_id)
            self._guilds[guild_id] = guild
            return guild_id

    def add_member(self, guild_id: int, user_id: int, roles: Sequence[int] = ()) -> None:
        with self._lock:
            guild = self._guild(guild_id)
            self._user(user_id)
            for role_id in roles:
                if role_id not in guild.roles:
                    raise SimulatorUsageError(f"unknown role {role_id} in guild {guild_id}")
            member = guild.members.setdefault(user_id, MemberRecord(user_id))
            member.role_ids.update(r for r in roles if r != guild_id)

    def create_role(
        self,
        guild_id: int,
        name: str,
        permissions: Permission | int,
        position: int | None = None,
    ) -> int:
        """A role; without ``position`` it goes on top of the others."""
        with self._lock:
            guild = self._guild(guild_id)
            if len(guild.roles) >= MAX_GUILD_ROLES:
                raise SimulatorUsageError(f"a guild holds at most {MAX_GUILD_ROLES} roles")
            if position is None:
                position = max(r.position for r in guild.roles.values()) + 1
            elif position < 1:
                raise SimulatorUsageError("position 0 belongs to @everyone")
            role_id = self._new_id()
            guild.roles[role_id] = RoleRecord(role_id, guild_id, name, int(permissions), position)
            return role_id

    def edit_role(self, guild_id: int, role_id: int, *, permissions: Permission | int) -> None:
        """Change a role's permissions (@everyone included)."""
        with self._lock:
            role = self._guild(guild_id).roles.get(role_id)
            if role is None:
                raise SimulatorUsageError(f"unknown role {role_id}")
            role.permissions = int(permissions)

    def add_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        with self._lock:
            guild = self._guild(guild_id)
            member = guild.members.get(user_id)
            if member is None or role_id not in guild.roles:
                raise SimulatorUsageError(f"no member {user_id} or role {role_id}")
            if role_id != guild_id:
                member.role_ids.add(role_id)

    def remove_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        with self._lock:
            member = self._guild(guild_id).members.get(user_id)
            if member is None:
                raise SimulatorUsageError(f"no member {user_id}")
            member.role_ids.discard(role_id)

    def create_channel(
        self,
        guild_id: int,
        name: str,
        kind: ChannelKind = ChannelKind.TEXT,
        parent_id: int | None = None,
        overwrites: Sequence[Overwrite] | None = None,
    ) -> int:
        """A channel; with a parent and ``overwrites=None`` it copies (syncs) the parent's."""
        with self._lock:
            guild = self._guild(guild_id)
            errors = self._channel_form_errors(guild, name, kind, parent_id)
            if len(guild.channel_ids) >= MAX_GUILD_CHANNELS:
                errors["guild"] = f"a guild holds at most {MAX_GUILD_CHANNELS} channels"
            for overwrite in overwrites or ():
                if not self._overwrite_target_exists(guild, overwrite):
                    errors["overwrites"] = f"unknown overwrite target {overwrite.target_id}"
            if errors:
                raise SimulatorUsageError("; ".join(f"{k}: {v}" for k, v in errors.items()))
            return self._add_channel(guild, name, kind, parent_id, overwrites)

    def set_overwrite(self, channel_id: int, overwrite: Overwrite) -> None:
        """Add or replace the channel's overwrite for that role or member."""
        with self._lock:
            channel = self._channel(channel_id)
            if not self._overwrite_target_exists(self._guilds[channel.guild_id], overwrite):
                raise SimulatorUsageError(f"unknown overwrite target {overwrite.target_id}")
            channel.overwrites[(overwrite.target_id, overwrite.is_role)] = overwrite

    def remove_overwrite(self, channel_id: int, target_id: int, *, is_role: bool) -> None:
        with self._lock:
            self._channel(channel_id).overwrites.pop((target_id, is_role), None)

    def delete_channel(self, channel_id: int) -> None:
        with self._lock:
            self._remove_channel(self._channel(channel_id))

    def timeout_member(self, guild_id: int, user_id: int, until: datetime | None) -> None:
        """Time the member out until ``until`` (None lifts the timeout)."""
        with self._lock:
            member = self._guild(guild_id).members.get(user_id)
            if member is None:
                raise SimulatorUsageError(f"no member {user_id}")
            member.timeout_until = until

    def post_as(self, user_id: int, channel_id: int, payload: MessagePayload) -> MessageInfo:
        """Someone (a member or another bot) posts; Discord's size limits still apply."""
        with self._lock:
            channel = self._channel(channel_id)
            if user_id not in self._guilds[channel.guild_id].members:
                raise SimulatorUsageError(f"user {user_id} is not in the channel's guild")
            if not channel.holds_messages():
                raise SimulatorUsageError(f"channel {channel_id} holds no messages")
            self._check_payload(payload)
            return self._add_message(channel, user_id, payload).info()

    def delete_message_as_admin(self, channel_id: int, message_id: int) -> None:
        """A moderator deletes a message (someone else's action, so no bot permissions apply)."""
        with self._lock:
            channel = self._channel(channel_id)
            removed = channel.messages.pop(message_id, None)
            if removed is None:
                raise SimulatorUsageError(f"no message {message_id} in channel {channel_id}")
            self._emit("message_delete", removed)

    def standard_guild(self, name: str = "Apex Test Guild") -> StandardGuild:
        """A ready guild: owner, a setup bot, an admin, a member and the usual channels."""
        with self._lock:
            owner = self.create_user("Guild Owner")
            bot = self.create_user("Apex Setup", bot=True)
            admin = self.create_user("Admin")
            member = self.create_user("Member")
            guild = self.create_guild(name, owner)
            bot_role = self.create_role(guild, "Apex Setup", STANDARD_BOT_PERMISSIONS)
            admin_role = self.create_role(guild, "Admin", Permission.ADMINISTRATOR)
            self.add_member(guild, bot, [bot_role])
            self.add_member(guild, admin, [admin_role])
            self.add_member(guild, member)

            general = self.create_channel(guild, "general")
            shop = self.create_channel(guild, "shop")
            support = self.create_channel(guild, "support")
            info = self.create_channel(guild, "Info", ChannelKind.CATEGORY)
            rules = self.create_channel(guild, "rules", parent_id=info)
            audit_log = self.create_channel(guild, "audit-log")
            voice = self.create_channel(guild, "Voice", ChannelKind.VOICE)
            hidden = Permission.VIEW_CHANNEL
            staff_only = self.create_channel(
                guild,
                "staff-only",
                overwrites=[
                    Overwrite(guild, True, deny=hidden),
                    Overwrite(bot_role, True, deny=hidden),
                ],
            )
            mute = Permission.SEND_MESSAGES
            read_only = self.create_channel(
                guild,
                "read-only",
                overwrites=[
                    Overwrite(guild, True, deny=mute),
                    Overwrite(bot_role, True, deny=mute),
                ],
            )
            return StandardGuild(
                guild_id=guild,
                everyone_role_id=guild,
                owner_id=owner,
                bot_id=bot,
                bot_role_id=bot_role,
                admin_id=admin,
                admin_role_id=admin_role,
                member_id=member,
                general_id=general,
                shop_id=shop,
                support_id=support,
                info_category_id=info,
                rules_id=rules,
                audit_log_id=audit_log,
                voice_id=voice,
                staff_only_id=staff_only,
                read_only_id=read_only,
            )

    # ------------------------------------------------------------------ reading, for assertions

    def messages(self, channel_id: int) -> list[MessageInfo]:
        """The channel's messages, oldest first (nonce None, as fetched messages have)."""
        with self._lock:
            return [m.info() for m in self._channel(channel_id).messages.values()]

    def all_messages(self, guild_id: int | None = None) -> list[MessageInfo]:
        """Every message (in one guild, or everywhere), oldest first."""
        with self._lock:
            found = [
                m
                for c in self._channels.values()
                if guild_id is None or c.guild_id == guild_id
                for m in c.messages.values()
            ]
            return [m.info() for m in sorted(found, key=lambda m: m.id)]

    def message_exists(self, channel_id: int, message_id: int) -> bool:
        with self._lock:
            channel = self._channels.get(channel_id)
            return channel is not None and message_id in channel.messages

    def messages_created_with_nonce(self, author_id: int, nonce: str) -> int:
        """How many messages were ever created for that author and nonce, deleted ones included."""
        with self._lock:
            return self._nonce_counts[(author_id, nonce)]

    def ephemeral_messages(self, user_id: int) -> list[MessageInfo]:
        """Ephemeral interaction responses only ``user_id`` can see, oldest first."""
        with self._lock:
            return [m.info() for m in self._ephemeral.values() if m.ephemeral_for == user_id]

    def channel(self, channel_id: int) -> ChannelInfo | None:
        with self._lock:
            channel = self._channels.get(channel_id)
            return None if channel is None else channel.info()

    def channels(self, guild_id: int) -> list[ChannelInfo]:
        with self._lock:
            guild = self._guild(guild_id)
            return [self._channels[c].info() for c in guild.channel_ids]

    def overwrites(self, channel_id: int) -> list[Overwrite]:
        with self._lock:
            return list(self._channel(channel_id).overwrites.values())

    def role_ids(self, guild_id: int) -> list[int]:
        """The guild's roles, @everyone first, then by position."""
        with self._lock:
            roles = self._guild(guild_id).roles.values()
            return [r.id for r in sorted(roles, key=lambda r: (r.position, r.id))]

    def permissions_for(self, user_id: int, channel_id: int) -> Permission:
        """The user's effective permissions in the channel, as Discord computes them."""
        with self._lock:
            return Permission(self._perms_in(user_id, self._channel(channel_id)))

    # ------------------------------------------------------------------ the bot's side

    def api_get_channel(self, bot_id: int, channel_id: int) -> ChannelInfo:
        def body() -> ChannelInfo:
            return self._api_channel(bot_id, channel_id).info()

        return self._bot_call(
            "get_channel", body, bot_id=bot_id, route="get_channel", resource_id=channel_id
        )

    def api_list_channels(self, bot_id: int, guild_id: int) -> list[ChannelInfo]:
        def body() -> list[ChannelInfo]:
            guild = self._api_guild(bot_id, guild_id)
            infos = [self._channels[c].info() for c in guild.channel_ids]
            return sorted(infos, key=lambda c: (c.position, c.id))

        return self._bot_call(
            "list_channels", body, bot_id=bot_id, route="list_channels", resource_id=guild_id
        )

    def api_bot_permissions(self, bot_id: int, channel_id: int) -> Permission:
        """Computed locally, as discord.py does from its cache: no request, no rate limit."""

        def body() -> Permission:
            channel = self._channels.get(channel_id)
            if channel is None:
                raise unknown_channel()
            return Permission(self._perms_in(bot_id, channel))

        return self._bot_call(
            "bot_permissions", body, bot_id=bot_id, route=None, resource_id=channel_id
        )

    def api_send_message(
        self, bot_id: int, channel_id: int, payload: MessagePayload, *, nonce: str
    ) -> MessageInfo:
        """Create Message with ``enforce_nonce`` (see the module docstring for the nonce rule)."""

        def body() -> MessageInfo:
            # Step 1: where, and whether the bot may be there at all.
            channel = self._api_channel(bot_id, channel_id)
            if not channel.holds_messages():
                raise non_text_channel()

            # Step 2: the body, then what the bot may post.
            errors = payload_errors(payload)
            errors.update(nonce_errors(nonce))
            if errors:
                raise invalid_form_body(errors)
            if is_empty(payload):
                raise empty_message()
            perms = self._perms_in(bot_id, channel)
            if not perms & _SEND or (payload.embeds and not perms & _EMBED):
                raise missing_permissions()

            # Step 3: a nonce seen recently returns the first message and creates nothing.
            existing = self._nonce_hit(bot_id, nonce)
            if existing is not None:
                return existing.info(with_nonce=True)
            message = self._add_message(channel, bot_id, payload, nonce=nonce)
            return message.info(with_nonce=True)

        return self._bot_call(
            "send_message",
            body,
            bot_id=bot_id,
            route="send_message",
            resource_id=channel_id,
            detail=f"channel={channel_id} nonce={nonce}",
        )

    def api_fetch_message(self, bot_id: int, channel_id: int, message_id: int) -> MessageInfo:
        def body() -> MessageInfo:
            channel = self._api_channel(bot_id, channel_id)
            if not self._perms_in(bot_id, channel) & _HISTORY:
                raise missing_access()
            message = channel.messages.get(message_id)
            if message is None:
                raise unknown_message()
            return message.info()

        return self._bot_call(
            "fetch_message", body, bot_id=bot_id, route="fetch_message", resource_id=channel_id
        )

    def api_delete_message(self, bot_id: int, channel_id: int, message_id: int) -> None:
        def body() -> None:
            channel = self._api_channel(bot_id, channel_id)
            message = channel.messages.get(message_id)
            if message is None:
                raise unknown_message()
            if (
                message.author_id != bot_id
                and not self._perms_in(bot_id, channel) & _MANAGE_MESSAGES
            ):
                raise missing_permissions()
            del channel.messages[message_id]
            self._emit("message_delete", message)

        self._bot_call(
            "delete_message",
            body,
            bot_id=bot_id,
            route="delete_message",
            resource_id=channel_id,
            ok_status=204,
            detail=f"channel={channel_id} message={message_id}",
        )

    def api_history(
        self,
        bot_id: int,
        channel_id: int,
        *,
        limit: int = 100,
        before: int | None = None,
        after: int | None = None,
    ) -> list[MessageInfo]:
        """Get Channel Messages: newest first; empty without Read Message History."""

        def body() -> list[MessageInfo]:
            channel = self._api_channel(bot_id, channel_id)
            if not 1 <= limit <= 100:
                raise invalid_form_body({"limit": "Must be between 1 and 100."})
            if not self._perms_in(bot_id, channel) & _HISTORY:
                return []
            ids = [
                m
                for m in channel.messages
                if (before is None or m < before) and (after is None or m > after)
            ]
            page = ids[:limit] if after is not None else ids[-limit:]
            return [channel.messages[m].info() for m in reversed(page)]

        return self._bot_call(
            "history", body, bot_id=bot_id, route="history", resource_id=channel_id
        )

    def api_edit_message(
        self, bot_id: int, channel_id: int, message_id: int, payload: MessagePayload
    ) -> MessageInfo:
        """Edit one of the bot's own messages (someone else's: 50005)."""

        def body() -> MessageInfo:
            channel = self._api_channel(bot_id, channel_id)
            message = channel.messages.get(message_id)
            if message is None:
                raise unknown_message()
            if message.author_id != bot_id:
                raise cannot_edit_others()
            self._check_payload(payload)
            if payload.embeds and not self._perms_in(bot_id, channel) & _EMBED:
                raise missing_permissions()
            message.payload = payload
            message.edited_at = self._now()
            return message.info()

        return self._bot_call(
            "edit_message",
            body,
            bot_id=bot_id,
            route="edit_message",
            resource_id=channel_id,
            detail=f"channel={channel_id} message={message_id}",
        )

    def api_create_channel(
        self,
        bot_id: int,
        guild_id: int,
        name: str,
        kind: ChannelKind = ChannelKind.TEXT,
        parent_id: int | None = None,
        overwrites: Sequence[Overwrite] | None = None,
    ) -> ChannelInfo:
        """Create Guild Channel: Manage Channels; overwrites only with permissions the bot has in
        the guild, Manage Roles in an overwrite only for administrators."""

        def body() -> ChannelInfo:
            guild = self._api_guild(bot_id, guild_id)

            # Step 1: the form, including the parent's room.
            errors = self._channel_form_errors(guild, name, kind, parent_id)
            for i, overwrite in enumerate(overwrites or ()):
                if not self._overwrite_target_exists(guild, overwrite):
                    errors[f"permission_overwrites.{i}.id"] = "Unknown overwrite target."
            if errors:
                raise invalid_form_body(errors)

            # Step 2: permissions, in the parent when there is one.
            guild_perms = self._guild_perms(bot_id, guild)
            where = guild_perms
            if parent_id is not None:
                where = self._perms_in(bot_id, self._channels[parent_id])
            if not where & _MANAGE_CHANNELS:
                raise missing_permissions()
            for overwrite in overwrites or ():
                bits = overwrite.allow | overwrite.deny
                if bits & _MANAGE_ROLES and not guild_perms & _ADMINISTRATOR:
                    raise missing_permissions()
                if bits & ~guild_perms:
                    raise missing_permissions()

            # Step 3: the guild's maximum, then the effect.
            if len(guild.channel_ids) >= MAX_GUILD_CHANNELS:
                raise max_channels(MAX_GUILD_CHANNELS)
            channel_id = self._add_channel(guild, name, kind, parent_id, overwrites)
            return self._channels[channel_id].info()

        return self._bot_call(
            "create_channel",
            body,
            bot_id=bot_id,
            route="create_channel",
            resource_id=guild_id,
            detail=f"guild={guild_id} name={name}",
        )

    def api_delete_channel(self, bot_id: int, channel_id: int) -> None:
        def body() -> None:
            channel = self._api_channel(bot_id, channel_id)
            if not self._perms_in(bot_id, channel) & _MANAGE_CHANNELS:
                raise missing_permissions()
            self._remove_channel(channel)

        self._bot_call(
            "delete_channel",
            body,
            bot_id=bot_id,
            route="delete_channel",
            resource_id=channel_id,
            detail=f"channel={channel_id}",
        )

    def api_create_role(
        self, bot_id: int, guild_id: int, name: str, permissions: Permission | int = 0
    ) -> int:
        """Create Guild Role: Manage Roles, only permissions the bot has; placed at position 1."""

        def body() -> int:
            guild = self._api_guild(bot_id, guild_id)
            errors: dict[str, str] = {}
            length_errors(name, "name", high=ROLE_NAME, errors=errors)
            if errors:
                raise invalid_form_body(errors)
            perms = self._guild_perms(bot_id, guild)
            if not perms & _MANAGE_ROLES:
                raise missing_permissions()
            if int(permissions) & ~perms and not perms & _ADMINISTRATOR:
                raise missing_permissions()
            if len(guild.roles) >= MAX_GUILD_ROLES:
                raise max_roles(MAX_GUILD_ROLES)
            for role in guild.roles.values():
                if role.position >= 1:
                    role.position += 1
            role_id = self._new_id()
            guild.roles[role_id] = RoleRecord(role_id, guild_id, name, int(permissions), 1)
            return role_id

        return self._bot_call(
            "create_role",
            body,
            bot_id=bot_id,
            route="create_role",
            resource_id=guild_id,
            detail=f"guild={guild_id} name={name}",
        )

    def api_delete_role(self, bot_id: int, guild_id: int, role_id: int) -> None:
        """Delete Guild Role: Manage Roles, and only roles below the bot's highest role."""

        def body() -> None:
            guild = self._api_guild(bot_id, guild_id)
            role = guild.roles.get(role_id)
            if role is None:
                raise unknown_role()
            if role_id == guild_id:
                raise invalid_role()
            if not self._guild_perms(bot_id, guild) & _MANAGE_ROLES:
                raise missing_permissions()
            owner = bot_id == guild.owner_id
            if not owner and role.position >= self._top_position(bot_id, guild):
                raise missing_permissions()
            del guild.roles[role_id]
            for member in guild.members.values():
                member.role_ids.discard(role_id)
            for channel_id in guild.channel_ids:
                self._channels[channel_id].overwrites.pop((role_id, True), None)

        self._bot_call(
            "delete_role",
            body,
            bot_id=bot_id,
            route="delete_role",
            resource_id=guild_id,
            ok_status=204,
            detail=f"guild={guild_id} role={role_id}",
        )

    # ------------------------------------------------------------------ users' interactions

    def press_button(
        self, user_id: int, channel_id: int, message_id: int, custom_id: str
    ) -> Interaction:
        """A user presses a button on a bot's message; the bot receives the interaction."""
        with self._lock:
            channel, message = self._visible_message(user_id, channel_id, message_id)
            component = self._component(message, custom_id)
            if not isinstance(component, Button):
                raise ImpossibleUserAction(f"'{custom_id}' is not a button")
            data = InteractionData(custom_id=custom_id, component_type=ComponentType.BUTTON)
            return self._new_interaction(
                InteractionType.MESSAGE_COMPONENT,
                message.author_id,
                user_id,
                channel,
                message.id,
                data,
            )

    def choose_select(
        self,
        user_id: int,
        channel_id: int,
        message_id: int,
        custom_id: str,
        values: Sequence[str],
    ) -> Interaction:
        """A user picks from a select menu (one value: the menus have min = max = 1)."""
        with self._lock:
            channel, message = self._visible_message(user_id, channel_id, message_id)
            component = self._component(message, custom_id)
            if not isinstance(component, SelectMenu):
                raise ImpossibleUserAction(f"'{custom_id}' is not a select menu")
            offered = {o.value for o in component.options}
            if len(values) != 1 or not set(values) <= offered:
                raise ImpossibleUserAction(f"choose exactly one of {sorted(offered)}")
            data = InteractionData(
                custom_id=custom_id,
                component_type=ComponentType.STRING_SELECT,
                values=tuple(values),
            )
            return self._new_interaction(
                InteractionType.MESSAGE_COMPONENT,
                message.author_id,
                user_id,
                channel,
                message.id,
                data,
            )

    def run_command(
        self,
        user_id: int,
        channel_id: int,
        name: str,
        options: Mapping[str, OptionValue] | None = None,
        *,
        bot_user_id: int | None = None,
    ) -> Interaction:
        """A user runs a slash command; ``bot_user_id`` picks the bot when the guild has several."""
        with self._lock:
            channel = self._channel(channel_id)
            guild = self._guilds[channel.guild_id]
            perms = self._perms_in(user_id, channel)
            if not perms & _VIEW or not perms & _USE_COMMANDS:
                raise ImpossibleUserAction(f"user {user_id} cannot use commands in {channel_id}")
            bots = [u for u in guild.members if self._users[u].bot]
            if bot_user_id is None:
                if len(bots) != 1:
                    raise ImpossibleUserAction("the guild has several bots: pass bot_user_id")
                bot_user_id = bots[0]
            elif bot_user_id not in bots:
                raise ImpossibleUserAction(f"bot {bot_user_id} is not in the guild")
            data = InteractionData(name=name, options=dict(options or {}))
            return self._new_interaction(
                InteractionType.APPLICATION_COMMAND, bot_user_id, user_id, channel, None, data
            )

    def submit_modal(self, user_id: int, custom_id: str, fields: Mapping[str, str]) -> Interaction:
        """A user submits the modal the bot showed them (``show_modal``) with these values."""
        with self._lock:
            modal = self._open_modals.get((user_id, custom_id))
            if modal is None:
                raise ImpossibleUserAction(f"no modal '{custom_id}' is open for user {user_id}")
            unknown = set(fields) - set(modal.field_ids)
            if unknown:
                raise ImpossibleUserAction(f"the modal has no fields {sorted(unknown)}")
            channel = self._channels.get(modal.source.channel_id)
            if channel is None:
                raise ImpossibleUserAction("the modal's channel is gone")
            del self._open_modals[(user_id, custom_id)]
            data = InteractionData(
                custom_id=custom_id, fields={f: fields.get(f, "") for f in modal.field_ids}
            )
            return self._new_interaction(
                InteractionType.MODAL_SUBMIT,
                modal.source.application_id,
                user_id,
                channel,
                modal.source.message_id,
                data,
            )

    # ------------------------------------------------------------------ the bot's answers

    def respond(
        self, interaction_id: int, payload: MessagePayload, *, ephemeral: bool = False
    ) -> MessageInfo:
        """The first response: a message (in the channel, or only for the user)."""

        def body() -> MessageInfo:
            interaction, state = self._first_response(interaction_id, ResponseKind.MESSAGE)
            self._check_payload(payload)
            message = self._response_message(interaction, payload, ephemeral)
            self._acknowledge(interaction, state, ResponseKind.MESSAGE, message.id)
            self._record(interaction, ResponseKind.MESSAGE, payload, ephemeral, message.id)
            return message.info()

        return self._interaction_call("respond", interaction_id, body)

    def defer(self, interaction_id: int, *, ephemeral: bool = False) -> None:
        """The first response: "thinking..." now, the message later (edit or first follow-up)."""

        def body() -> None:
            kind = ResponseKind.DEFERRED_MESSAGE
            interaction, state = self._first_response(interaction_id, kind)
            message = self._response_message(interaction, MessagePayload(), ephemeral)
            self._acknowledge(interaction, state, kind, message.id)
            state.deferred_unfilled = True
            self._record(interaction, kind, None, ephemeral, message.id)

        self._interaction_call("defer", interaction_id, body)

    def update_message(self, interaction_id: int, payload: MessagePayload) -> MessageInfo:
        """The first response to a component: edit the message the component is on."""

        def body() -> MessageInfo:
            kind = ResponseKind.UPDATE_MESSAGE
            interaction, state = self._first_response(interaction_id, kind)
            self._check_payload(payload)
            message = self._component_message(interaction)
            message.payload = payload
            message.edited_at = self._now()
            self._acknowledge(interaction, state, kind, message.id)
            self._record(interaction, kind, payload, False, message.id)
            return message.info()

        return self._interaction_call("update_message", interaction_id, body)

    def defer_update(self, interaction_id: int) -> None:
        """The first response to a component: acknowledge now, edit the message later."""

        def body() -> None:
            kind = ResponseKind.DEFERRED_UPDATE
            interaction, state = self._first_response(interaction_id, kind)
            message = self._component_message(interaction)
            self._acknowledge(interaction, state, kind, message.id)
            self._record(interaction, kind, None, False, message.id)

        self._interaction_call("defer_update", interaction_id, body)

    def show_modal(
        self, interaction_id: int, custom_id: str, title: str, field_ids: Sequence[str]
    ) -> None:
        """The first response: open a modal (text inputs named by ``field_ids``) for the user."""

        def body() -> None:
            interaction, state = self._first_response(interaction_id, ResponseKind.MODAL)
            errors: dict[str, str] = {}
            length_errors(custom_id, "data.custom_id", low=1, high=CUSTOM_ID, errors=errors)
            length_errors(title, "data.title", low=1, high=_MODAL_TITLE, errors=errors)
            if not 1 <= len(field_ids) <= _MODAL_FIELDS:
                errors["data.components"] = f"Must be between 1 and {_MODAL_FIELDS} in length."
            for i, field_id in enumerate(field_ids):
                path = f"data.components.{i}.components.0.custom_id"
                length_errors(field_id, path, low=1, high=CUSTOM_ID, errors=errors)
            if errors:
                raise invalid_form_body(errors)
            self._acknowledge(interaction, state, ResponseKind.MODAL, None)
            modal = _OpenModal(interaction, tuple(field_ids))
            self._open_modals[(interaction.user_id, custom_id)] = modal
            response = InteractionResponse(
                interaction.id, ResponseKind.MODAL, self._now(), modal_custom_id=custom_id
            )
            self.interaction_responses.append(response)

        self._interaction_call("show_modal", interaction_id, body)

    def followup(
        self, token: str, payload: MessagePayload, *, ephemeral: bool = False
    ) -> MessageInfo:
        """A follow-up message through the token (15 minutes); after a deferral the first one
        fills the deferred message and keeps its ephemerality."""

        def body() -> MessageInfo:
            interaction, state = self._token_use(token)
            self._check_payload(payload)
            if state.deferred_unfilled and state.original_message_id is not None:
                message = self._existing_message(state.original_message_id)
                message.payload = payload
                state.deferred_unfilled = False
            else:
                message = self._response_message(interaction, payload, ephemeral)
            kind = ResponseKind.FOLLOWUP
            self._record(interaction, kind, payload, message.ephemeral_for is not None, message.id)
            return message.info()

        with self._lock:
            interaction_id = self._by_token.get(token, 0)
            return self._interaction_call("followup", interaction_id, body, route="followup")

    def edit_original(self, token: str, payload: MessagePayload) -> MessageInfo:
        """Edit the original response (or, after an update, the component's message)."""

        def body() -> MessageInfo:
            interaction, state = self._token_use(token)
            self._check_payload(payload)
            if state.original_message_id is None:
                raise unknown_message()
            message = self._existing_message(state.original_message_id)
            message.payload = payload
            message.edited_at = self._now()
            state.deferred_unfilled = False
            kind = ResponseKind.EDIT_ORIGINAL
            self._record(interaction, kind, payload, message.ephemeral_for is not None, message.id)
            return message.info()

        with self._lock:
            interaction_id = self._by_token.get(token, 0)
            return self._interaction_call(
                "edit_original", interaction_id, body, route="edit_original"
            )

    # ------------------------------------------------------------------ helpers: messages

    def _check_payload(self, payload: MessagePayload) -> None:
        errors = payload_errors(payload)
        if errors:
            raise invalid_form_body(errors)
        if is_empty(payload):
            raise empty_message()

    def _add_message(
        self,
        channel: ChannelRecord,
        author_id: int,
        payload: MessagePayload,
        *,
        nonce: str | None = None,
    ) -> MessageRecord:
        now = self._now()
        message = MessageRecord(self._new_id(), channel.id, author_id, payload, now, nonce=nonce)
        channel.messages[message.id] = message
        if nonce is not None:
            key = (author_id, nonce)
            self._nonces[key] = NonceRecord(message.id, channel.id, now)
            self._nonce_counts[key] += 1
        self._emit("message_create", message)
        return message

    def _nonce_hit(self, author_id: int, nonce: str) -> MessageRecord | None:
        record = self._nonces.get((author_id, nonce))
        if record is None:
            return None
        if self._now() - record.created_at >= timedelta(seconds=self.nonce_window):
            return None
        channel = self._channels.get(record.channel_id)
        if channel is None:
            return None
        return channel.messages.get(record.message_id)

    def _existing_message(self, message_id: int) -> MessageRecord:
        message = self.find_message(message_id)
        if message is None:
            raise unknown_message()
        return message

    # ------------------------------------------------------------------ helpers: channels

    def _channel_form_errors(
        self, guild: GuildRecord, name: str, kind: ChannelKind, parent_id: int | None
    ) -> dict[str, str]:
        errors: dict[str, str] = {}
        length_errors(name, "name", low=1, high=CHANNEL_NAME, errors=errors)
        if parent_id is None:
            return errors
        parent = self._channels.get(parent_id)
        if kind is ChannelKind.CATEGORY:
            errors["parent_id"] = "A category cannot have a parent."
        elif (
            parent is None or parent.guild_id != guild.id or parent.kind is not ChannelKind.CATEGORY
        ):
            errors["parent_id"] = "Not a category in this guild."
        else:
            children = sum(1 for c in guild.channel_ids if self._channels[c].parent_id == parent_id)
            if children >= MAX_CATEGORY_CHANNELS:
                errors["parent_id"] = (
                    f"Maximum number of channels in category reached ({MAX_CATEGORY_CHANNELS})"
                )
        return errors

    def _overwrite_target_exists(self, guild: GuildRecord, overwrite: Overwrite) -> bool:
        if overwrite.is_role:
            return overwrite.target_id in guild.roles
        return overwrite.target_id in guild.members

    def _add_channel(
        self,
        guild: GuildRecord,
        name: str,
        kind: ChannelKind,
        parent_id: int | None,
        overwrites: Sequence[Overwrite] | None,
    ) -> int:
        channel_id = self._new_id()
        channel = ChannelRecord(channel_id, guild.id, name, kind, parent_id, guild.next_position)
        guild.next_position += 1
        if overwrites is None and parent_id is not None:
            channel.overwrites = dict(self._channels[parent_id].overwrites)
        for overwrite in overwrites or ():
            channel.overwrites[(overwrite.target_id, overwrite.is_role)] = overwrite
        self._channels[channel_id] = channel
        guild.channel_ids.append(channel_id)
        self._emit("channel_create", channel)
        return channel_id

    def _remove_channel(self, channel: ChannelRecord) -> None:
        guild = self._guilds[channel.guild_id]
        guild.channel_ids.remove(channel.id)
        del self._channels[channel.id]
        # Deleting a category leaves its children in place, without a parent.
        for child_id in guild.channel_ids:
            child = self._channels[child_id]
            if child.parent_id == channel.id:
                child.parent_id = None
        self._emit("channel_delete", channel)

    # ------------------------------------------------------------------ helpers: interactions

    def _visible_message(
        self, user_id: int, channel_id: int, message_id: int
    ) -> tuple[ChannelRecord, MessageRecord]:
        channel = self._channel(channel_id)
        if not self._perms_in(user_id, channel) & _VIEW:
            raise ImpossibleUserAction(f"user {user_id} cannot see channel {channel_id}")
        message = channel.messages.get(message_id)
        if message is None:
            ephemeral = self._ephemeral.get(message_id)
            if ephemeral is not None and ephemeral.ephemeral_for == user_id:
                message = ephemeral
        if message is None or message.channel_id != channel_id:
            raise ImpossibleUserAction(f"no message {message_id} in channel {channel_id}")
        if not self._users[message.author_id].bot:
            raise ImpossibleUserAction("only a bot's messages carry components")
        return channel, message

    def _component(self, message: MessageRecord, custom_id: str) -> Button | SelectMenu:
        for row in message.payload.rows:
            for component in row.components:
                if component.custom_id == custom_id:
                    return component
        raise ImpossibleUserAction(f"message {message.id} has no component '{custom_id}'")

    def _new_interaction(
        self,
        kind: InteractionType,
        application_id: int,
        user_id: int,
        channel: ChannelRecord,
        message_id: int | None,
        data: InteractionData,
    ) -> Interaction:
        interaction_id = self._new_id()
        interaction = Interaction(
            id=interaction_id,
            token=f"interaction-token-{interaction_id}",
            type=kind,
            application_id=application_id,
            user_id=user_id,
            guild_id=channel.guild_id,
            channel_id=channel.id,
            message_id=message_id,
            data=data,
            created_at=self._now(),
        )
        self._interactions[interaction_id] = interaction
        self._by_token[interaction.token] = interaction_id
        self._ack[interaction_id] = _InteractionState()
        self.interactions.append(interaction)
        self._emit("interaction_create", interaction)
        return interaction

    def _interaction_call(
        self,
        name: str,
        interaction_id: int,
        body: Callable[[], T],
        *,
        route: str = "interaction_callback",
    ) -> T:
        """Interaction routes are not bound by the rate limits, but are faulted and logged."""
        with self._lock:
            interaction = self._interactions.get(interaction_id)
            bot_id = interaction.application_id if interaction is not None else 0
            return self._bot_call(
                name,
                body,
                bot_id=bot_id,
                route=route,
                resource_id=interaction_id,
                limited=False,
                detail=f"interaction={interaction_id}",
            )

    def _first_response(
        self, interaction_id: int, kind: ResponseKind
    ) -> tuple[Interaction, _InteractionState]:
        interaction = self._interactions.get(interaction_id)
        state = self._ack.get(interaction_id, _InteractionState())
        check_first_response(interaction, state.ack, kind, self._now())
        assert interaction is not None  # check_first_response raised otherwise
        return interaction, state

    def _acknowledge(
        self,
        interaction: Interaction,
        state: _InteractionState,
        kind: ResponseKind,
        message_id: int | None,
    ) -> None:
        state.ack = check_first_response(interaction, state.ack, kind, self._now())
        state.kind = kind
        state.original_message_id = message_id

    def _token_use(self, token: str) -> tuple[Interaction, _InteractionState]:
        interaction_id = self._by_token.get(token)
        interaction = None if interaction_id is None else self._interactions[interaction_id]
        state = self._ack.get(interaction_id or 0, _InteractionState())
        check_token(interaction, state.ack, self._now())
        assert interaction is not None  # check_token raised otherwise
        return interaction, state

    def _response_message(
        self, interaction: Interaction, payload: MessagePayload, ephemeral: bool
    ) -> MessageRecord:
        channel = self._channels.get(interaction.channel_id)
        if channel is None:
            raise unknown_channel()
        if not ephemeral:
            return self._add_message(channel, interaction.application_id, payload)
        message = MessageRecord(
            self._new_id(),
            channel.id,
            interaction.application_id,
            payload,
            self._now(),
            ephemeral_for=interaction.user_id,
        )
        self._ephemeral[message.id] = message
        return message

    def _component_message(self, interaction: Interaction) -> MessageRecord:
        if interaction.message_id is None:
            raise invalid_form_body({"type": "Interaction response type is not valid here."})
        return self._existing_message(interaction.message_id)

    def _record(
        self,
        interaction: Interaction,
        kind: ResponseKind,
        payload: MessagePayload | None,
        ephemeral: bool,
        message_id: int | None,
    ) -> None:
        response = InteractionResponse(
            interaction.id, kind, self._now(), payload, ephemeral, message_id
        )
        self.interaction_responses.append(response)


class SimulatorPort:
    """One bot's view of a ``DiscordSimulator``; implements the core's ``DiscordPort``.

    Holds no state of its own: drop it, and everything the bot made is still in the simulator.
    """

    def __init__(self, simulator: DiscordSimulator, bot_user_id: int) -> None:
        self._sim = simulator
        self._bot = bot_user_id

    @property
    def simulator(self) -> DiscordSimulator:
        return self._sim

    @property
    def bot_user_id(self) -> int:
        return self._bot

    @property
    def nonce_window_seconds(self) -> float:
        return self._sim.nonce_window

    # The core's DiscordPort.

    def get_channel(self, channel_id: int) -> ChannelInfo:
        return self._sim.api_get_channel(self._bot, channel_id)

    def list_channels(self, guild_id: int) -> Sequence[ChannelInfo]:
        return self._sim.api_list_channels(self._bot, guild_id)

    def bot_permissions(self, channel_id: int) -> Permission:
        return self._sim.api_bot_permissions(self._bot, channel_id)

    def send_message(self, channel_id: int, payload: MessagePayload, *, nonce: str) -> MessageInfo:
        return self._sim.api_send_message(self._bot, channel_id, payload, nonce=nonce)

    def fetch_message(self, channel_id: int, message_id: int) -> MessageInfo:
        return self._sim.api_fetch_message(self._bot, channel_id, message_id)

    def delete_message(self, channel_id: int, message_id: int) -> None:
        self._sim.api_delete_message(self._bot, channel_id, message_id)

    def history(
        self,
        channel_id: int,
        *,
        limit: int = 100,
        before: int | None = None,
        after: int | None = None,
    ) -> Sequence[MessageInfo]:
        return self._sim.api_history(self._bot, channel_id, limit=limit, before=before, after=after)

    # What a setup bot needs beyond the port.

    def edit_message(
        self, channel_id: int, message_id: int, payload: MessagePayload
    ) -> MessageInfo:
        return self._sim.api_edit_message(self._bot, channel_id, message_id, payload)

    def create_channel(
        self,
        guild_id: int,
        name: str,
        kind: ChannelKind = ChannelKind.TEXT,
        parent_id: int | None = None,
        overwrites: Sequence[Overwrite] | None = None,
    ) -> ChannelInfo:
        return self._sim.api_create_channel(self._bot, guild_id, name, kind, parent_id, overwrites)

    def delete_channel(self, channel_id: int) -> None:
        self._sim.api_delete_channel(self._bot, channel_id)

    def create_role(self, guild_id: int, name: str, permissions: Permission | int = 0) -> int:
        return self._sim.api_create_role(self._bot, guild_id, name, permissions)

    def delete_role(self, guild_id: int, role_id: int) -> None:
        self._sim.api_delete_role(self._bot, guild_id, role_id)

    # Answers to interactions (the interaction names its bot; these are for convenience).

    def respond(
        self, interaction_id: int, payload: MessagePayload, *, ephemeral: bool = False
    ) -> MessageInfo:
        return self._sim.respond(interaction_id, payload, ephemeral=ephemeral)

    def defer(self, interaction_id: int, *, ephemeral: bool = False) -> None:
        self._sim.defer(interaction_id, ephemeral=ephemeral)

    def update_message(self, interaction_id: int, payload: MessagePayload) -> MessageInfo:
        return self._sim.update_message(interaction_id, payload)

    def defer_update(self, interaction_id: int) -> None:
        self._sim.defer_update(interaction_id)

    def show_modal(
        self, interaction_id: int, custom_id: str, title: str, field_ids: Sequence[str]
    ) -> None:
        self._sim.show_modal(interaction_id, custom_id, title, field_ids)

    def followup(
        self, token: str, payload: MessagePayload, *, ephemeral: bool = False
    ) -> MessageInfo:
        return self._sim.followup(token, payload, ephemeral=ephemeral)

    def edit_original(self, token: str, payload: MessagePayload) -> MessageInfo:
        return self._sim.edit_original(token, payload)
