"""The store ports in plain dictionaries, for fast core tests.

``MemoryStore`` behaves like ``apex_setup.adapters.peewee_store.PeeweeStore`` (the shared
contract tests check both) but keeps everything in memory and imports no database driver.

Invariants:
- ``apply()`` is all-or-nothing: it checks the whole change and stages its panel writes before
  it touches any state, so a ``ConflictError`` or ``ValueError`` leaves the store as it was.
- Records are frozen dataclasses and are stored as given; nothing is copied except to attach a
  row id (``panel_id``, ``item_id``), exactly where the SQL store would return one.
- One lock guards all state, so worker threads may share a store.
- Naive datetimes and keys longer than ``records.MAX_KEY_LENGTH`` are refused with
  ``ValueError`` (``records.check_change``), as the SQL store refuses them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from apex_setup.core.errors import (
    InvalidInput,
    lease_lost,
    operation_taken_over,
    panel_conflict,
    session_conflict,
)
from apex_setup.core.records import (
    AuditRecord,
    JournalChange,
    ManualCleanupItem,
    Operation,
    PanelRecord,
    PanelWrite,
    PanelWriteKind,
    Step,
    check_change,
    check_key,
    check_time,
)
from apex_setup.core.wizard import Lease, LeaseHeld, WizardPhase, WizardState

if TYPE_CHECKING:
    from apex_setup.core.ports import (
        AuditLog,
        AuditSink,
        Clock,
        GuildSettingsStore,
        JournalStore,
        LeaseStore,
        PanelStore,
        SessionStore,
    )

__all__ = ["MemoryStore"]

_log = logging.getLogger(__name__)


_PanelKey = tuple[int, str]


@dataclass
class _CleanupEntry:
    item: ManualCleanupItem
    resolved_at: datetime | None = None


class MemoryStore:
    """Panels, the journal, manual cleanup and the audit log in dictionaries.

    Args:
        clock: the time source for ``resolve_cleanup_item``; the system's UTC time if None.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._panels: dict[_PanelKey, PanelRecord] = {}
        self._operations: dict[str, Operation] = {}
        self._steps: dict[str, dict[int, Step]] = {}
        self._cleanup: dict[int, _CleanupEntry] = {}
        self._audit: list[AuditRecord] = []
        self._audit_channels: dict[int, int | None] = {}
        self._next_panel_id = 1
        self._next_item_id = 1
        self._sessions: dict[str, WizardState] = {}
        self._leases: dict[int, Lease] = {}

    def close(self) -> None:
        """Nothing to release; here so a MemoryStore can stand in for a PeeweeStore."""

    # -- PanelStore ---------------------------------------------------------------------------

    def get_panel(self, guild_id: int, panel_type: str) -> PanelRecord | None:
        with self._lock:
            return self._panels.get((guild_id, panel_type))

    def list_panels(self, guild_id: int | None = None) -> list[PanelRecord]:
        """Panels ordered by guild, then type; every guild's when ``guild_id`` is None."""
        with self._lock:
            return [
                self._panels[key]
                for key in sorted(self._panels)
                if guild_id is None or key[0] == guild_id
            ]

    def ping(self) -> None:
        return None

    # -- JournalStore -------------------------------------------------------------------------

    def apply(self, change: JournalChange) -> None:
        check_change(change)
        with self._lock:
            # Step 1: check the operation's compare-and-swap and stage the panel writes; a
            # conflict raises before anything is changed.
            if change.expected is not None:
                current = self._operations.get(change.expected.id)
                if current is None or (current.state, current.updated_at) != (
                    change.expected.state,
                    change.expected.updated_at,
                ):
                    raise operation_taken_over()
            staged, next_panel_id = self._stage_panel_writes(change.panel_writes)

            # Step 2: nothing can fail any more; write it all.
            if change.operation is not None:
                self._operations[change.operation.id] = change.operation
            for step in change.steps:
                self._steps.setdefault(step.operation_id, {})[step.index] = step
            for key, record in staged.items():
                if record is None:
                    self._panels.pop(key, None)
                else:
                    self._panels[key] = record
            self._next_panel_id = next_panel_id
            for item in change.cleanup_items:
                stored = replace(item, item_id=self._next_item_id)
                self._cleanup[self._next_item_id] = _CleanupEntry(stored)
                self._next_item_id += 1

    def get_operation(self, operation_id: str) -> Operation | None:
        with self._lock:
            return self._operations.get(operation_id)

    def steps(self, operation_id: str) -> list[Step]:
        with self._lock:
            by_index = self._steps.get(operation_id, {})
            return [by_index[index] for index in sorted(by_index)]

    def open_operations(self) -> list[Operation]:
        with self._lock:
            found = [op for op in self._operations.values() if op.state.is_open]
        return sorted(found, key=lambda op: (op.created_at, op.id))

    def manual_cleanup_items(self, guild_id: int | None = None) -> list[ManualCleanupItem]:
        """Unresolved items, oldest first."""
        with self._lock:
            entries = [self._cleanup[item_id] for item_id in sorted(self._cleanup)]
            return [
                entry.item
                for entry in entries
                if entry.resolved_at is None
                and (guild_id is None or entry.item.guild_id == guild_id)
            ]

    def resolve_cleanup_item(self, item_id: int) -> None:
        """Mark an item resolved: it is kept but no longer listed. Resolving twice is harmless.

        Raises:
            InvalidInput: there is no item ``item_id``.
        """
        now = self._clock.now() if self._clock is not None else datetime.now(timezone.utc)
        with self._lock:
            entry = self._cleanup.get(item_id)
            if entry is None:
                raise InvalidInput(f"There is no manual-cleanup item {item_id}.", field="item_id")
            if entry.resolved_at is None:
                entry.resolved_at = now

    # -- AuditSink ----------------------------------------------------------------------------

    def record(self, entry: AuditRecord) -> None:
        check_time(entry.created_at)
        with self._lock:
            self._audit.append(entry)

    def recent_audit(self, guild_id: int | None = None, limit: int = 20) -> list[AuditRecord]:
        """The latest ``limit`` entries, newest first; every guild's when ``guild_id`` is None."""
        found: list[AuditRecord] = []
        if limit <= 0:
            return found
        with self._lock:
            for entry in reversed(self._audit):
                if guild_id is None or entry.guild_id == guild_id:
                    found.append(entry)
                    if len(found) == limit:
                        break
        return found

    # -- GuildSettingsStore -------------------------------------------------------------------

    def get_audit_channel(self, guild_id: int) -> int | None:
        with self._lock:
            return self._audit_channels.get(guild_id)

    def set_audit_channel(self, guild_id: int, channel_id: int | None, now: datetime) -> None:
        """Set or clear the guild's audit channel; the last writer wins."""
        check_time(now)
        with self._lock:
            self._audit_channels[guild_id] = channel_id

    # -- SessionStore -------------------------------------------------------------------------

    def save_session(self, state: WizardState, *, expected_version: int) -> None:
        _check_session(state)
        with self._lock:
            stored = self._sessions.get(state.session_id)
            if expected_version == 0 and stored is not None:
                raise session_conflict()
            if expected_version != 0 and (stored is None or stored.version != expected_version):
                raise session_conflict()
            self._sessions[state.session_id] = state

    def get_session(self, session_id: str) -> WizardState | None:
        with self._lock:
            return self._sessions.get(session_id)

    def list_sessions(self, guild_id: int | None = None) -> list[WizardState]:
        """Sessions oldest first; every guild's when ``guild_id`` is None."""
        with self._lock:
            found = [
                s for s in self._sessions.values() if guild_id is None or s.guild_id == guild_id
            ]
        return sorted(found, key=lambda s: (s.started_at, s.session_id))

    def expired_sessions(self, now: datetime, *, limit: int) -> list[WizardState]:
        """Up to ``limit`` live sessions with ``expires_at <= now``, earliest first.

        A scan of every session: fine in memory; the SQL store uses its index.
        """
        check_time(now)
        with self._lock:
            found = [
                s
                for s in self._sessions.values()
                if s.expires_at is not None and s.expires_at <= now
            ]
        found.sort(key=lambda s: (s.expires_at or now, s.session_id))
        return found[: max(limit, 0)]

    def delete_sessions(self, session_ids: Sequence[str]) -> int:
        with self._lock:
            return sum(self._sessions.pop(i, None) is not None for i in set(session_ids))

    def clean_expired(self, now: datetime) -> int:
        check_time(now)
        with self._lock:
            doomed = [
                s.session_id
                for s in self._sessions.values()
                if s.phase is WizardPhase.EXPIRED
                or (s.expires_at is not None and s.expires_at <= now and s.operation_id is None)
            ]
            return self.delete_sessions(doomed)

    def clean_all(self, guild_id: int) -> int:
        with self._lock:
            self._leases.pop(guild_id, None)
            doomed = [s.session_id for s in self._sessions.values() if s.guild_id == guild_id]
            return self.delete_sessions(doomed)

    # -- LeaseStore ---------------------------------------------------------------------------

    def acquire_lease(
        self, guild_id: int, owner: str, holder_user_id: int, now: datetime, ttl: timedelta
    ) -> Lease:
        check_time(now)
        check_key(owner, "lease owner")
        with self._lock:
            held = self._leases.get(guild_id)
            if held is not None and held.owner != owner and held.is_live(now):
                raise LeaseHeld(held)
            keep = held is not None and held.owner == owner
            lease = Lease(
                guild_id=guild_id,
                owner=owner,
                holder_user_id=holder_user_id,
                acquired_at=held.acquired_at if keep and held is not None else now,
                heartbeat_at=now,
                expires_at=now + ttl,
            )
            self._leases[guild_id] = lease
            return lease

    def heartbeat_lease(self, guild_id: int, owner: str, now: datetime, ttl: timedelta) -> Lease:
        check_time(now)
        with self._lock:
            held = self._leases.get(guild_id)
            if held is None or held.owner != owner:
                raise lease_lost()
            lease = replace(held, heartbeat_at=now, expires_at=now + ttl)
            self._leases[guild_id] = lease
            return lease

    def release_lease(self, guild_id: int, owner: str) -> bool:
        with self._lock:
            held = self._leases.get(guild_id)
            if held is None or held.owner != owner:
                return False
            del self._leases[guild_id]
            return True

    def get_lease(self, guild_id: int) -> Lease | None:
        with self._lock:
            return self._leases.get(guild_id)

    # -- apply's parts ------------------------------------------------------------------------

    def _stage_panel_writes(
        self, writes: list[PanelWrite]
    ) -> tuple[dict[_PanelKey, PanelRecord | None], int]:
        """The rows the writes leave (None: deleted) and the next free row id, or ConflictError."""
        staged: dict[_PanelKey, PanelRecord | None] = {}
        next_panel_id = self._next_panel_id

        def current(key: _PanelKey) -> PanelRecord | None:
            return staged[key] if key in staged else self._panels.get(key)

        for write in writes:
            if write.kind is PanelWriteKind.INSERT:
                assert write.record is not None  # checked by _check_change
                key = (write.record.guild_id, write.record.panel_type)
                if current(key) is not None:
                    _log.info("lost a race: guild %d already has a %s panel", *key)
                    raise panel_conflict(key[1])
                staged[key] = replace(write.record, panel_id=next_panel_id)
                next_panel_id += 1
                continue

            assert write.expected is not None  # checked by _check_change
            key = (write.expected.guild_id, write.expected.panel_type)
            row = current(key)
            if row is None or row.version != write.expected.version:
                _log.info(
                    "lost a race: guild %d's %s panel is no longer at version %d",
                    key[0],
                    key[1],
                    write.expected.version,
                )
                raise panel_conflict(key[1])
            if write.kind is PanelWriteKind.REPLACE:
                assert write.record is not None  # checked by _check_change
                staged[key] = replace(write.record, panel_id=row.panel_id)
            else:
                staged[key] = None
        return staged, next_panel_id


def _check_session(state: WizardState) -> None:
    check_key(state.session_id, "session id")
    check_time(state.started_at)
    check_time(state.last_activity)
    if state.expires_at is not None:
        check_time(state.expires_at)


if TYPE_CHECKING:

    def _implements_the_ports(store: MemoryStore) -> tuple[PanelStore, JournalStore, AuditSink]:
        return store, store, store

    def _implements_the_settings_ports(store: MemoryStore) -> tuple[GuildSettingsStore, AuditLog]:
        return store, store

    def _implements_the_wizard_ports(store: MemoryStore) -> tuple[SessionStore, LeaseStore]:
        return store, store
