"""The ports: every way the core reaches the outside world.

Each port is a small ``typing.Protocol``. Adapters (``apex_setup.adapters``) and fakes
(``apex_setup.fakes``) implement them; the core never imports either.

Contract shared by all ports: a method either completes or raises a ``SetupOperationError``
subclass. Discord ports raise the ``Discord*`` errors with Discord's HTTP status and JSON code;
stores raise ``StorageFailure`` (or ``ConflictError`` where a method says so). A method that
raises may still have had its effect (a timeout after the request reached Discord): callers that
care use idempotency keys and the journal, never the absence of an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from apex_setup.core.discord_types import ChannelInfo, MessageInfo, Permission
from apex_setup.core.payload import MessagePayload
from apex_setup.core.records import (
    AuditRecord,
    JournalChange,
    ManualCleanupItem,
    Operation,
    PanelRecord,
    Step,
)
from apex_setup.core.wizard import Lease, WizardState

__all__ = [
    "AuditLog",
    "AuditSink",
    "Clock",
    "DiscordPort",
    "GuildSettingsStore",
    "JournalStore",
    "LeaseStore",
    "PanelStore",
    "SessionStore",
]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; a fake clock advances instead."""
        ...


class DiscordPort(Protocol):
    """Discord as seen by one bot user."""

    @property
    def bot_user_id(self) -> int: ...

    #: How long Discord deduplicates a repeated nonce, in seconds.
    @property
    def nonce_window_seconds(self) -> float: ...

    def get_channel(self, channel_id: int) -> ChannelInfo:
        """Raises DiscordNotFound (10003) for an unknown channel, DiscordForbidden (50001) for
        one the bot cannot see."""
        ...

    def list_channels(self, guild_id: int) -> Sequence[ChannelInfo]: ...

    def bot_permissions(self, channel_id: int) -> Permission:
        """The bot's effective permissions in the channel, as Discord computes them."""
        ...

    def send_message(self, channel_id: int, payload: MessagePayload, *, nonce: str) -> MessageInfo:
        """Post a message with ``enforce_nonce``: a repeated nonce within Discord's window
        returns the message created the first time and posts nothing new."""
        ...

    def fetch_message(self, channel_id: int, message_id: int) -> MessageInfo: ...

    def delete_message(self, channel_id: int, message_id: int) -> None: ...

    def history(
        self,
        channel_id: int,
        *,
        limit: int = 100,
        before: int | None = None,
        after: int | None = None,
    ) -> Sequence[MessageInfo]:
        """Messages newest first, as Discord's Get Channel Messages returns them."""
        ...


class PanelStore(Protocol):
    def get_panel(self, guild_id: int, panel_type: str) -> PanelRecord | None: ...

    def list_panels(self, guild_id: int | None = None) -> Sequence[PanelRecord]: ...

    def ping(self) -> None:
        """Raise StorageFailure when the store cannot be reached."""
        ...


class JournalStore(Protocol):
    def apply(self, change: JournalChange) -> None:
        """Write everything in ``change`` in one transaction, or nothing.

        Raises ConflictError when a panel write loses a race (the unique (guild, type) key is
        taken, or the expected version no longer matches); StorageFailure otherwise.
        """
        ...

    def get_operation(self, operation_id: str) -> Operation | None: ...

    def steps(self, operation_id: str) -> Sequence[Step]:
        """The operation's steps, in index order."""
        ...

    def open_operations(self) -> Sequence[Operation]:
        """Operations in PENDING or COMMITTED, oldest first."""
        ...

    def manual_cleanup_items(self, guild_id: int | None = None) -> Sequence[ManualCleanupItem]: ...


class AuditSink(Protocol):
    def record(self, entry: AuditRecord) -> None: ...


class AuditLog(Protocol):
    """Reading the audit log back, and closing manual-cleanup items."""

    def recent_audit(self, guild_id: int | None = None, limit: int = 20) -> Sequence[AuditRecord]:
        """The latest ``limit`` entries, newest first; every guild's when ``guild_id`` is None."""
        ...

    def resolve_cleanup_item(self, item_id: int) -> None:
        """Mark a manual-cleanup item done; InvalidInput when there is no such item."""
        ...


class GuildSettingsStore(Protocol):
    """Per-guild settings; today only the channel audit entries are posted to."""

    def get_audit_channel(self, guild_id: int) -> int | None: ...

    def set_audit_channel(self, guild_id: int, channel_id: int | None, now: datetime) -> None:
        """Set (or with None clear) the guild's audit channel. The caller validates it first."""
        ...


class SessionStore(Protocol):
    """Setup wizard sessions, saved with compare-and-swap on ``WizardState.version``."""

    def save_session(self, state: WizardState, *, expected_version: int) -> None:
        """Store ``state``. ``expected_version`` 0 inserts a new session; otherwise the stored
        session must still be at ``expected_version``, and ConflictError says it is not (or that
        a new session's id is taken)."""
        ...

    def get_session(self, session_id: str) -> WizardState | None: ...

    def list_sessions(self, guild_id: int | None = None) -> Sequence[WizardState]:
        """Sessions oldest first; every guild's when ``guild_id`` is None."""
        ...

    def expired_sessions(self, now: datetime, *, limit: int) -> Sequence[WizardState]:
        """Up to ``limit`` sessions with ``expires_at <= now``, earliest first. Terminal
        sessions have no ``expires_at`` and never appear. Costs O(result), through an index."""
        ...

    def delete_sessions(self, session_ids: Sequence[str]) -> int:
        """Delete these sessions; returns how many existed."""
        ...

    def clean_expired(self, now: datetime) -> int:
        """Delete sessions in the EXPIRED phase, and live ones past ``expires_at`` with no step
        in flight; returns how many."""
        ...

    def clean_all(self, guild_id: int) -> int:
        """Delete every session of the guild and its lease; returns how many sessions."""
        ...


class LeaseStore(Protocol):
    """One setup lease per guild, shared by every bot process on the database."""

    def acquire_lease(
        self, guild_id: int, owner: str, holder_user_id: int, now: datetime, ttl: timedelta
    ) -> Lease:
        """Take the guild's lease when it is free, lapsed or already ``owner``'s, atomically
        across processes; raises LeaseHeld (a ConflictError naming the holder) otherwise."""
        ...

    def heartbeat_lease(self, guild_id: int, owner: str, now: datetime, ttl: timedelta) -> Lease:
        """Extend ``owner``'s lease to ``now + ttl``; ConflictError when someone else has it
        (or nobody does)."""
        ...

    def release_lease(self, guild_id: int, owner: str) -> bool:
        """Free the lease if ``owner`` holds it; True when it did."""
        ...

    def get_lease(self, guild_id: int) -> Lease | None: ...
