"""What the core knows of Discord: permission bits, channels and messages as plain values.

These mirror Discord's own data model (the bit values are Discord's), so the simulator and the
discord.py adapter can translate without tables of their own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone

from apex_setup.core.payload import MessagePayload

__all__ = [
    "DISCORD_EPOCH_MS",
    "ChannelInfo",
    "ChannelKind",
    "MessageInfo",
    "Permission",
    "permission_names",
    "snowflake_time",
    "time_snowflake",
]

#: Milliseconds from the Unix epoch to the first second of 2015, Discord's epoch.
DISCORD_EPOCH_MS = 1420070400000


class Permission(enum.IntFlag):
    """Discord permission bits (the subset setup bots deal with)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40

    @classmethod
    def all(cls) -> Permission:
        value = 0
        for member in cls:
            value |= member.value
        return cls(value)


def permission_names(perms: Permission | int) -> tuple[str, ...]:
    """Human names ('Send Messages') of the bits set, in bit order."""
    value = int(perms)
    return tuple(
        member.name.replace("_", " ").title().replace("Tts", "TTS")
        for member in Permission
        if member.name and value & member.value
    )


def time_snowflake(when: datetime) -> int:
    """The smallest snowflake Discord could have created at ``when``; for history bounds."""
    ms = int(when.timestamp() * 1000) - DISCORD_EPOCH_MS
    return max(ms, 0) << 22


def snowflake_time(snowflake: int) -> datetime:
    """The creation time Discord encodes in a snowflake id."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


class ChannelKind(enum.Enum):
    TEXT = "text"  # a guild text channel, where panels live
    VOICE = "voice"  # cannot hold panels
    CATEGORY = "category"  # groups channels, holds no messages
    NEWS = "news"  # announcement channel; panels are allowed


@dataclass(frozen=True)
class ChannelInfo:
    id: int
    guild_id: int
    name: str
    kind: ChannelKind = ChannelKind.TEXT
    parent_id: int | None = None
    position: int = 0

    @property
    def holds_messages(self) -> bool:
        return self.kind in (ChannelKind.TEXT, ChannelKind.NEWS)


@dataclass(frozen=True)
class MessageInfo:
    id: int
    channel_id: int
    author_id: int
    created_at: datetime
    payload: MessagePayload
    #: Only the create response carries the nonce; fetched messages have None here.
    nonce: str | None = None
