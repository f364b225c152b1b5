"""The simulator's world as plain records, and the snowflake factory that names everything.

Invariants:
- Every id is a snowflake from one ``SnowflakeFactory``: it encodes the clock's time at creation
  (``(ms - DISCORD_EPOCH_MS) << 22 | worker << 17 | increment``) and ids are strictly increasing,
  even when many are made within one millisecond or the clock stands still.
- A guild's @everyone role has the guild's id. A channel's messages are kept in id order, which is
  creation order. Deleted things are removed outright; only the nonce ledger remembers them.
- These records are mutated only by ``DiscordSimulator`` while it holds its lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from apex_setup.core.discord_types import (
    DISCORD_EPOCH_MS,
    ChannelInfo,
    ChannelKind,
    MessageInfo,
    snowflake_time,
)
from apex_setup.core.payload import MessagePayload
from apex_setup.fakes.sim_permissions import Overwrite

__all__ = [
    "ChannelRecord",
    "GuildRecord",
    "MemberRecord",
    "MessageRecord",
    "NonceRecord",
    "RoleRecord",
    "SnowflakeFactory",
    "UserRecord",
]

_INCREMENT_BITS = 12
_MAX_INCREMENT = (1 << _INCREMENT_BITS) - 1


class SnowflakeFactory:
    """Makes Discord-shaped ids from a clock's time; never repeats, never goes backwards."""

    def __init__(self, worker: int = 1) -> None:
        if not 0 <= worker < 32:
            raise ValueError("a snowflake worker id has 5 bits")
        self._worker = worker
        self._last_ms = -1
        self._increment = 0

    def make(self, when: datetime) -> int:
        ms = int(when.timestamp() * 1000) - DISCORD_EPOCH_MS
        if ms < 0:
            raise ValueError("snowflakes cannot encode times before 2015")
        if ms > self._last_ms:
            self._last_ms, self._increment = ms, 0
        elif self._increment < _MAX_INCREMENT:
            self._increment += 1
        else:
            # 4096 ids in one millisecond: borrow the next millisecond, as Discord's workers do.
            self._last_ms, self._increment = self._last_ms + 1, 0
        return (self._last_ms << 22) | (self._worker << 17) | self._increment


@dataclass
class UserRecord:
    id: int
    name: str
    bot: bool


@dataclass
class RoleRecord:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int


@dataclass
class MemberRecord:
    user_id: int
    role_ids: set[int] = field(default_factory=set)
    timeout_until: datetime | None = None

    def timed_out(self, now: datetime) -> bool:
        return self.timeout_until is not None and self.timeout_until > now


@dataclass
class MessageRecord:
    id: int
    channel_id: int
    author_id: int
    payload: MessagePayload
    created_at: datetime  # the clock's time, full precision; the id holds it in milliseconds
    nonce: str | None = None
    edited_at: datetime | None = None
    ephemeral_for: int | None = None  # the only user who sees it, for ephemeral responses

    def info(self, *, with_nonce: bool = False) -> MessageInfo:
        return MessageInfo(
            id=self.id,
            channel_id=self.channel_id,
            author_id=self.author_id,
            created_at=snowflake_time(self.id),
            payload=self.payload,
            nonce=self.nonce if with_nonce else None,
        )


@dataclass
class ChannelRecord:
    id: int
    guild_id: int
    name: str
    kind: ChannelKind
    parent_id: int | None
    position: int
    overwrites: dict[tuple[int, bool], Overwrite] = field(default_factory=dict)
    messages: dict[int, MessageRecord] = field(default_factory=dict)

    def info(self) -> ChannelInfo:
        return ChannelInfo(
            id=self.id,
            guild_id=self.guild_id,
            name=self.name,
            kind=self.kind,
            parent_id=self.parent_id,
            position=self.position,
        )

    def holds_messages(self) -> bool:
        return self.kind in (ChannelKind.TEXT, ChannelKind.NEWS)


@dataclass
class GuildRecord:
    id: int
    name: str
    owner_id: int
    members: dict[int, MemberRecord] = field(default_factory=dict)
    roles: dict[int, RoleRecord] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    next_position: int = 0


@dataclass
class NonceRecord:
    """The first message an author created with a nonce, for ``enforce_nonce``."""

    message_id: int
    channel_id: int
    created_at: datetime
