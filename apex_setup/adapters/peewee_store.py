"""The core's store ports on a SQL database, through peewee.

``PeeweeStore`` implements ``PanelStore``, ``JournalStore``, ``AuditSink``, ``AuditLog`` and
``GuildSettingsStore`` on SQLite, PostgreSQL or MariaDB/MySQL;
``apex_setup.fakes.memory_store.MemoryStore`` is its in-memory twin and one contract test suite
holds both to the same behaviour.

Invariants:
- ``apply()`` writes a whole ``JournalChange`` in one transaction or nothing of it. A lost panel
  race raises ``ConflictError`` and every other database error ``StorageFailure``; both roll back.
- Panel writes are compare-and-swap: REPLACE and DELETE touch the row only while its version is
  the one the caller read, and INSERT relies on the UNIQUE (guild_id, panel_type) key. No
  read-modify-write, so two bot processes on one database cannot both win.
- Each store binds its own subclasses of the table models (``bind_model``), never the module's
  classes: stores on different databases, or two on one file, stay independent.
- Every datetime is stored as integer microseconds since the epoch in UTC and read back as an
  aware UTC datetime equal to the one written, microseconds included. Integers are exact and
  ordered on every backend, where SQLite has no datetime type, MariaDB drops microseconds by
  default and drivers disagree about offsets. A naive datetime is refused with ``ValueError``.
- A step's ``RollbackInfo`` is stored as JSON text from its own ``to_dict``, so it comes back
  exactly as the core wrote it.
- User-visible messages never contain exception text or SQL; causes are chained and logged.

Threads: peewee keeps one connection per thread, opened on first use. A store can be shared by
worker threads; ``close()`` closes the calling thread's connection, and another thread's
connection closes when that thread ends and its connection is collected.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import peewee

from apex_setup.adapters.database import (
    MYSQL_CLIENT_FOUND_ROWS,
    bind_model,
    decode_time,
    encode_time,
    migrate,
    storage_errors,
)
from apex_setup.core.errors import (
    ConflictError,
    InvalidInput,
    lease_lost,
    operation_taken_over,
    panel_conflict,
    session_conflict,
)
from apex_setup.core.records import (
    MAX_KEY_LENGTH,
    AuditRecord,
    JournalChange,
    ManualCleanupItem,
    Operation,
    OperationKind,
    OperationState,
    PanelRecord,
    PanelWrite,
    PanelWriteKind,
    RollbackInfo,
    Step,
    StepState,
    check_change,
    check_key,
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

__all__ = ["PeeweeStore"]

_log = logging.getLogger(__name__)


_OPEN_STATES = tuple(state.value for state in OperationState if state.is_open)


# ---------------------------------------------------------------------------------------------
# Table models. Unbound templates: a store binds its own subclasses to its database. They mirror
# what the migrations in apex_setup.adapters.database create; the migrations are the schema.


class _PanelRow(peewee.Model):
    id = peewee.AutoField()
    guild_id = peewee.BigIntegerField()
    panel_type = peewee.CharField(max_length=MAX_KEY_LENGTH)
    channel_id = peewee.BigIntegerField()
    message_id = peewee.BigIntegerField()
    created_by = peewee.BigIntegerField()
    operation_id = peewee.CharField(max_length=MAX_KEY_LENGTH)
    version = peewee.IntegerField()
    created_at = peewee.BigIntegerField()
    updated_at = peewee.BigIntegerField()

    class Meta:
        table_name = "panels"


class _OperationRow(peewee.Model):
    id = peewee.CharField(max_length=MAX_KEY_LENGTH, primary_key=True)
    kind = peewee.CharField(max_length=32)
    guild_id = peewee.BigIntegerField()
    user_id = peewee.BigIntegerField()
    panel_type = peewee.CharField(max_length=MAX_KEY_LENGTH, null=True)
    state = peewee.CharField(max_length=32)
    created_at = peewee.BigIntegerField()
    updated_at = peewee.BigIntegerField()

    class Meta:
        table_name = "operations"


class _StepRow(peewee.Model):
    id = peewee.AutoField()
    operation_id = peewee.CharField(max_length=MAX_KEY_LENGTH)
    idx = peewee.IntegerField()
    state = peewee.CharField(max_length=32)
    follow_up = peewee.BooleanField()
    info = peewee.TextField()

    class Meta:
        table_name = "steps"


class _CleanupRow(peewee.Model):
    id = peewee.AutoField()
    operation_id = peewee.CharField(max_length=MAX_KEY_LENGTH)
    guild_id = peewee.BigIntegerField()
    channel_id = peewee.BigIntegerField(null=True)
    message_id = peewee.BigIntegerField(null=True)
    description = peewee.TextField()
    reason = peewee.TextField()
    created_at = peewee.BigIntegerField()
    resolved_at = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "manual_cleanup"


class _AuditRow(peewee.Model):
    id = peewee.BigAutoField()
    guild_id = peewee.BigIntegerField()
    user_id = peewee.BigIntegerField()
    action = peewee.TextField()
    outcome = peewee.TextField()
    detail = peewee.TextField()
    operation_id = peewee.TextField(null=True)
    reference = peewee.TextField(null=True)
    created_at = peewee.BigIntegerField()

    class Meta:
        table_name = "audit"


class _SettingsRow(peewee.Model):
    guild_id = peewee.BigIntegerField(primary_key=True)
    audit_channel_id = peewee.BigIntegerField(null=True)
    updated_at = peewee.BigIntegerField()

    class Meta:
        table_name = "guild_settings"


class _SessionRow(peewee.Model):
    id = peewee.CharField(max_length=MAX_KEY_LENGTH, primary_key=True)
    guild_id = peewee.BigIntegerField()
    user_id = peewee.BigIntegerField()
    phase = peewee.CharField(max_length=32)
    version = peewee.IntegerField()
    started_at = peewee.BigIntegerField()
    last_activity = peewee.BigIntegerField()
    expires_at = peewee.BigIntegerField(null=True)
    operation_id = peewee.CharField(max_length=MAX_KEY_LENGTH, null=True)
    data = peewee.TextField()

    class Meta:
        table_name = "wizard_sessions"


class _LeaseRow(peewee.Model):
    guild_id = peewee.BigIntegerField(primary_key=True)
    owner = peewee.CharField(max_length=MAX_KEY_LENGTH)
    holder_user_id = peewee.BigIntegerField()
    acquired_at = peewee.BigIntegerField()
    heartbeat_at = peewee.BigIntegerField()
    expires_at = peewee.BigIntegerField()

    class Meta:
        table_name = "setup_leases"


# ---------------------------------------------------------------------------------------------


class PeeweeStore:
    """Panels, the journal, manual cleanup and the audit log in one SQL database.

    Args:
        db: a peewee database, usually from ``open_database``. The store migrates it; on
            MySQL/MariaDB it also sets the CLIENT_FOUND_ROWS flag its compare-and-swap needs.
        clock: the time source for ``resolve_cleanup_item``; the system's UTC time if None.

    Raises:
        StorageFailure: the database cannot be reached or migrated.
    """

    def __init__(self, db: peewee.Database, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock
        self._panels = bind_model(_PanelRow, db)
        self._operations = bind_model(_OperationRow, db)
        self._steps = bind_model(_StepRow, db)
        self._cleanup = bind_model(_CleanupRow, db)
        self._audit = bind_model(_AuditRow, db)
        self._settings = bind_model(_SettingsRow, db)
        self._sessions = bind_model(_SessionRow, db)
        self._leases = bind_model(_LeaseRow, db)
        _report_matched_rows(db)
        migrate(db)

    @property
    def database(self) -> peewee.Database:
        return self._db

    def close(self) -> None:
        """Close the calling thread's connection; the next call opens a new one."""
        with storage_errors(self._db, "close"):
            self._db.close()

    # -- PanelStore ---------------------------------------------------------------------------

    def get_panel(self, guild_id: int, panel_type: str) -> PanelRecord | None:
        panels = self._panels
        with storage_errors(self._db, "get_panel"):
            row = panels.get_or_none(
                (panels.guild_id == guild_id) & (panels.panel_type == panel_type)
            )
        return None if row is None else _panel_record(row)

    def list_panels(self, guild_id: int | None = None) -> list[PanelRecord]:
        """Panels ordered by guild, then type; every guild's when ``guild_id`` is None."""
        panels = self._panels
        query = panels.select()
        if guild_id is not None:
            query = query.where(panels.guild_id == guild_id)
        with storage_errors(self._db, "list_panels"):
            found = [_panel_record(row) for row in query]
        # Sorted here, not in SQL, where the order of text depends on the server's collation.
        return sorted(found, key=lambda record: (record.guild_id, record.panel_type))

    def ping(self) -> None:
        with storage_errors(self._db, "ping"):
            self._db.execute_sql("SELECT 1").fetchone()  # type: ignore[no-untyped-call]

    # -- JournalStore -------------------------------------------------------------------------

    def apply(self, change: JournalChange) -> None:
        if change.is_empty():
            return
        check_change(change)
        with storage_errors(self._db, "apply"), self._transaction():
            if change.expected is not None:
                self._check_expected(change.expected)
            if change.operation is not None:
                self._upsert_operation(change.operation)
            for step in change.steps:
                self._upsert_step(step)
            for write in change.panel_writes:
                self._write_panel(write)
            self._insert_cleanup_items(change.cleanup_items)

    def get_operation(self, operation_id: str) -> Operation | None:
        operations = self._operations
        with storage_errors(self._db, "get_operation"):
            row = operations.get_or_none(operations.id == operation_id)
        return None if row is None else _operation(row)

    def steps(self, operation_id: str) -> list[Step]:
        steps = self._steps
        query = steps.select().where(steps.operation_id == operation_id).order_by(steps.idx)
        with storage_errors(self._db, "steps"):
            return [_step(row) for row in query]

    def open_operations(self) -> list[Operation]:
        operations = self._operations
        query = operations.select().where(operations.state.in_(_OPEN_STATES))
        with storage_errors(self._db, "open_operations"):
            found = [_operation(row) for row in query]
        # Ties on created_at are broken by id in Python: SQL would order text by collation.
        return sorted(found, key=lambda op: (op.created_at, op.id))

    def manual_cleanup_items(self, guild_id: int | None = None) -> list[ManualCleanupItem]:
        """Unresolved items, oldest first."""
        cleanup = self._cleanup
        query = cleanup.select().where(cleanup.resolved_at.is_null()).order_by(cleanup.id)
        if guild_id is not None:
            query = query.where(cleanup.guild_id == guild_id)
        with storage_errors(self._db, "manual_cleanup_items"):
            return [_cleanup_item(row) for row in query]

    def resolve_cleanup_item(self, item_id: int) -> None:
        """Mark an item resolved: it is kept but no longer listed. Resolving twice is harmless.

        Raises:
            InvalidInput: there is no item ``item_id``.
        """
        cleanup = self._cleanup
        resolved_at = encode_time(self._now())
        with storage_errors(self._db, "resolve_cleanup_item"), self._transaction():
            if not cleanup.select().where(cleanup.id == item_id).exists():
                raise InvalidInput(f"There is no manual-cleanup item {item_id}.", field="item_id")
            cleanup.update(resolved_at=resolved_at).where(
                (cleanup.id == item_id) & cleanup.resolved_at.is_null()
            ).execute()

    # -- AuditSink ----------------------------------------------------------------------------

    def record(self, entry: AuditRecord) -> None:
        created_at = encode_time(entry.created_at)
        with storage_errors(self._db, "record"):
            self._audit.insert(
                guild_id=entry.guild_id,
                user_id=entry.user_id,
                action=entry.action,
                outcome=entry.outcome,
                detail=entry.detail,
                operation_id=entry.operation_id,
                reference=entry.reference,
                created_at=created_at,
            ).execute()

    def recent_audit(self, guild_id: int | None = None, limit: int = 20) -> list[AuditRecord]:
        """The latest ``limit`` entries, newest first; every guild's when ``guild_id`` is None."""
        if limit <= 0:
            return []
        audit = self._audit
        query = audit.select().order_by(audit.id.desc()).limit(limit)
        if guild_id is not None:
            query = query.where(audit.guild_id == guild_id)
        with storage_errors(self._db, "recent_audit"):
            return [_audit_record(row) for row in query]

    # -- GuildSettingsStore -------------------------------------------------------------------

    def get_audit_channel(self, guild_id: int) -> int | None:
        settings = self._settings
        with storage_errors(self._db, "get_audit_channel"):
            row = settings.get_or_none(settings.guild_id == guild_id)
        return None if row is None else row.audit_channel_id

    def set_audit_channel(self, guild_id: int, channel_id: int | None, now: datetime) -> None:
        """Set or clear the guild's audit channel; the last writer wins."""
        settings = self._settings
        values = {settings.audit_channel_id: channel_id, settings.updated_at: encode_time(now)}
        with storage_errors(self._db, "set_audit_channel"):
            for attempt in (1, 2):
                try:
                    with self._transaction():
                        query = settings.update(values).where(settings.guild_id == guild_id)
                        if query.execute() == 0:
                            settings.insert({settings.guild_id: guild_id, **values}).execute()
                    return
                except peewee.IntegrityError:
                    # Another process inserted the guild's row first: update it instead.
                    if attempt == 2:
                        raise

    # -- SessionStore -------------------------------------------------------------------------

    def save_session(self, state: WizardState, *, expected_version: int) -> None:
        check_key(state.session_id, "session id")
        sessions = self._sessions
        values = _session_values(state)
        with storage_errors(self._db, "save_session"):
            if expected_version == 0:
                try:
                    with self._transaction():
                        sessions.insert({sessions.id: state.session_id, **values}).execute()
                except peewee.IntegrityError as exc:
                    raise session_conflict() from exc
                return
            changed = (
                sessions.update(values)
                .where((sessions.id == state.session_id) & (sessions.version == expected_version))
                .execute()
            )
        if changed == 0:
            _log.info(
                "lost a race: session %s is no longer at version %d",
                state.session_id,
                expected_version,
            )
            raise session_conflict()

    def get_session(self, session_id: str) -> WizardState | None:
        sessions = self._sessions
        with storage_errors(self._db, "get_session"):
            row = sessions.get_or_none(sessions.id == session_id)
        return None if row is None else _session(row)

    def list_sessions(self, guild_id: int | None = None) -> list[WizardState]:
        """Sessions oldest first; every guild's when ``guild_id`` is None."""
        sessions = self._sessions
        query = sessions.select()
        if guild_id is not None:
            query = query.where(sessions.guild_id == guild_id)
        with storage_errors(self._db, "list_sessions"):
            found = [_session(row) for row in query]
        return sorted(found, key=lambda s: (s.started_at, s.session_id))

    def expired_sessions(self, now: datetime, *, limit: int) -> list[WizardState]:
        """Up to ``limit`` live sessions with ``expires_at <= now``, earliest first; a range
        scan of the ``expires_at`` index, where terminal sessions (NULL) take no room."""
        if limit <= 0:
            return []
        sessions = self._sessions
        query = (
            sessions.select()
            .where(sessions.expires_at <= encode_time(now))
            .order_by(sessions.expires_at)
            .limit(limit)
        )
        with storage_errors(self._db, "expired_sessions"):
            return [_session(row) for row in query]

    def delete_sessions(self, session_ids: Sequence[str]) -> int:
        ids = sorted(set(session_ids))
        if not ids:
            return 0
        sessions = self._sessions
        deleted = 0
        with storage_errors(self._db, "delete_sessions"), self._transaction():
            for start in range(0, len(ids), 500):  # stay under every backend's parameter cap
                batch = ids[start : start + 500]
                deleted += sessions.delete().where(sessions.id.in_(batch)).execute()
        return int(deleted)

    def clean_expired(self, now: datetime) -> int:
        sessions = self._sessions
        doomed = (sessions.phase == WizardPhase.EXPIRED.value) | (
            (sessions.expires_at <= encode_time(now)) & sessions.operation_id.is_null()
        )
        with storage_errors(self._db, "clean_expired"):
            return int(sessions.delete().where(doomed).execute())

    def clean_all(self, guild_id: int) -> int:
        sessions, leases = self._sessions, self._leases
        with storage_errors(self._db, "clean_all"), self._transaction():
            leases.delete().where(leases.guild_id == guild_id).execute()
            return int(sessions.delete().where(sessions.guild_id == guild_id).execute())

    # -- LeaseStore ---------------------------------------------------------------------------

    def acquire_lease(
        self, guild_id: int, owner: str, holder_user_id: int, now: datetime, ttl: timedelta
    ) -> Lease:
        """One transaction of conditional writes: renew our own lease, else take a lapsed one
        (UPDATE ... WHERE expires_at <= now), else INSERT against the primary key. Whichever
        process's write lands first wins; the others see the row and get LeaseHeld."""
        check_key(owner, "lease owner")
        leases = self._leases
        at, until = encode_time(now), encode_time(now + ttl)
        values = {
            leases.owner: owner,
            leases.holder_user_id: holder_user_id,
            leases.acquired_at: at,
            leases.heartbeat_at: at,
            leases.expires_at: until,
        }
        mine = (leases.guild_id == guild_id) & (leases.owner == owner)
        lapsed = (leases.guild_id == guild_id) & (leases.expires_at <= at)
        with storage_errors(self._db, "acquire_lease"), self._transaction():
            renew = {leases.holder_user_id: holder_user_id, leases.heartbeat_at: at}
            if leases.update({**renew, leases.expires_at: until}).where(mine).execute():
                return _lease(leases.get(leases.guild_id == guild_id))
            if leases.update(values).where(lapsed).execute():
                return _lease(leases.get(leases.guild_id == guild_id))
            try:
                with self._db.atomic():  # a savepoint: PostgreSQL aborts on a failed insert
                    leases.insert({leases.guild_id: guild_id, **values}).execute()
            except peewee.IntegrityError:
                _log.info("lost a race for guild %d's setup lease", guild_id)
            else:
                return _lease(leases.get(leases.guild_id == guild_id))
            row = leases.get_or_none(leases.guild_id == guild_id)
        if row is None:  # released between our insert and our read
            raise ConflictError("Another setup was starting at the same moment; try again.")
        raise LeaseHeld(_lease(row))

    def heartbeat_lease(self, guild_id: int, owner: str, now: datetime, ttl: timedelta) -> Lease:
        leases = self._leases
        at = encode_time(now)
        mine = (leases.guild_id == guild_id) & (leases.owner == owner)
        with storage_errors(self._db, "heartbeat_lease"), self._transaction():
            changed = (
                leases.update({leases.heartbeat_at: at, leases.expires_at: encode_time(now + ttl)})
                .where(mine)
                .execute()
            )
            row = leases.get_or_none(leases.guild_id == guild_id) if changed else None
        if row is None:
            raise lease_lost()
        return _lease(row)

    def release_lease(self, guild_id: int, owner: str) -> bool:
        leases = self._leases
        mine = (leases.guild_id == guild_id) & (leases.owner == owner)
        with storage_errors(self._db, "release_lease"):
            return bool(leases.delete().where(mine).execute())

    def get_lease(self, guild_id: int) -> Lease | None:
        leases = self._leases
        with storage_errors(self._db, "get_lease"):
            row = leases.get_or_none(leases.guild_id == guild_id)
        return None if row is None else _lease(row)

    # -- apply's parts ------------------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[object]:
        if isinstance(self._db, peewee.SqliteDatabase):
            # Take the write lock at BEGIN: a deferred transaction that reads first and then
            # writes fails at once with SQLITE_BUSY when another process wrote in between.
            return self._db.atomic(lock_type="IMMEDIATE")
        return self._db.atomic()

    def _check_expected(self, expected: Operation) -> None:
        """Raise OperationTakenOver unless the operation is stored exactly as ``expected``.

        Inside the write transaction (BEGIN IMMEDIATE on SQLite; a row lock elsewhere), so the
        check and the writes that follow are one compare-and-swap.
        """
        operations = self._operations
        query = operations.select().where(operations.id == expected.id)
        if not isinstance(self._db, peewee.SqliteDatabase):
            query = query.for_update()
        row = query.first()
        if (
            row is None
            or row.state != expected.state.value
            or row.updated_at != encode_time(expected.updated_at)
        ):
            raise operation_taken_over()

    def _upsert_operation(self, operation: Operation) -> None:
        check_key(operation.id, "operation id")
        if operation.panel_type is not None:
            check_key(operation.panel_type, "panel type")
        operations = self._operations
        values = {
            operations.kind: operation.kind.value,
            operations.guild_id: operation.guild_id,
            operations.user_id: operation.user_id,
            operations.panel_type: operation.panel_type,
            operations.state: operation.state.value,
            operations.created_at: encode_time(operation.created_at),
            operations.updated_at: encode_time(operation.updated_at),
        }
        # Look before writing instead of a dialect's upsert: SQLite, PostgreSQL and MySQL each
        # spell ON CONFLICT differently, and an UPDATE's row count differs between them.
        if operations.select().where(operations.id == operation.id).exists():
            operations.update(values).where(operations.id == operation.id).execute()
        else:
            operations.insert({operations.id: operation.id, **values}).execute()

    def _upsert_step(self, step: Step) -> None:
        check_key(step.operation_id, "operation id")
        steps = self._steps
        values = {
            steps.state: step.state.value,
            steps.follow_up: step.follow_up,
            steps.info: json.dumps(step.info.to_dict(), separators=(",", ":")),
        }
        where = (steps.operation_id == step.operation_id) & (steps.idx == step.index)
        if steps.select().where(where).exists():
            steps.update(values).where(where).execute()
        else:
            steps.insert(
                {steps.operation_id: step.operation_id, steps.idx: step.index, **values}
            ).execute()

    def _write_panel(self, write: PanelWrite) -> None:
        panels = self._panels
        if write.kind is PanelWriteKind.INSERT:
            record = _require(write.record, write)
            row = _panel_values(record)
            try:
                panels.insert(
                    guild_id=record.guild_id, panel_type=record.panel_type, **row
                ).execute()
            except peewee.IntegrityError as exc:
                _log.info(
                    "lost a race: guild %d already has a %s panel",
                    record.guild_id,
                    record.panel_type,
                )
                raise panel_conflict(record.panel_type) from exc
            return

        expected = _require(write.expected, write)
        current = (
            (panels.guild_id == expected.guild_id)
            & (panels.panel_type == expected.panel_type)
            & (panels.version == expected.version)
        )
        if write.kind is PanelWriteKind.REPLACE:
            record = _require(write.record, write)
            if (record.guild_id, record.panel_type) != (expected.guild_id, expected.panel_type):
                raise ValueError("a REPLACE must keep the panel's guild and type")
            changed = panels.update(**_panel_values(record)).where(current).execute()
        else:
            changed = panels.delete().where(current).execute()
        if changed == 0:
            _log.info(
                "lost a race: guild %d's %s panel is no longer at version %d",
                expected.guild_id,
                expected.panel_type,
                expected.version,
            )
            raise panel_conflict(expected.panel_type)

    def _insert_cleanup_items(self, items: Iterable[ManualCleanupItem]) -> None:
        for item in items:
            check_key(item.operation_id, "operation id")
            self._cleanup.insert(
                operation_id=item.operation_id,
                guild_id=item.guild_id,
                channel_id=item.channel_id,
                message_id=item.message_id,
                description=item.description,
                reason=item.reason,
                created_at=encode_time(item.created_at),
            ).execute()

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(timezone.utc)


# ---------------------------------------------------------------------------------------------
# Rows to records and back


def _panel_values(record: PanelRecord) -> dict[str, object]:
    """The columns a write sets, apart from the (guild_id, panel_type) key."""
    check_key(record.panel_type, "panel type")
    check_key(record.operation_id, "operation id")
    return {
        "channel_id": record.channel_id,
        "message_id": record.message_id,
        "created_by": record.created_by,
        "operation_id": record.operation_id,
        "version": record.version,
        "created_at": encode_time(record.created_at),
        "updated_at": encode_time(record.updated_at),
    }


def _panel_record(row: _PanelRow) -> PanelRecord:
    return PanelRecord(
        guild_id=row.guild_id,
        panel_type=row.panel_type,
        channel_id=row.channel_id,
        message_id=row.message_id,
        created_by=row.created_by,
        created_at=decode_time(row.created_at),
        updated_at=decode_time(row.updated_at),
        operation_id=row.operation_id,
        version=row.version,
        panel_id=row.id,
    )


def _operation(row: _OperationRow) -> Operation:
    return Operation(
        id=row.id,
        kind=OperationKind(row.kind),
        guild_id=row.guild_id,
        user_id=row.user_id,
        state=OperationState(row.state),
        created_at=decode_time(row.created_at),
        updated_at=decode_time(row.updated_at),
        panel_type=row.panel_type,
    )


def _step(row: _StepRow) -> Step:
    return Step(
        operation_id=row.operation_id,
        index=row.idx,
        state=StepState(row.state),
        info=RollbackInfo.from_dict(json.loads(row.info)),
        follow_up=bool(row.follow_up),
    )


def _cleanup_item(row: _CleanupRow) -> ManualCleanupItem:
    return ManualCleanupItem(
        operation_id=row.operation_id,
        guild_id=row.guild_id,
        description=row.description,
        reason=row.reason,
        created_at=decode_time(row.created_at),
        channel_id=row.channel_id,
        message_id=row.message_id,
        item_id=row.id,
    )


def _audit_record(row: _AuditRow) -> AuditRecord:
    return AuditRecord(
        guild_id=row.guild_id,
        user_id=row.user_id,
        action=row.action,
        outcome=row.outcome,
        detail=row.detail,
        created_at=decode_time(row.created_at),
        operation_id=row.operation_id,
        reference=row.reference,
    )


def _session_values(state: WizardState) -> dict[str, object]:
    """The columns of a session row apart from its id."""
    if state.operation_id is not None:
        check_key(state.operation_id, "operation id")
    return {
        "guild_id": state.guild_id,
        "user_id": state.user_id,
        "phase": state.phase.value,
        "version": state.version,
        "started_at": encode_time(state.started_at),
        "last_activity": encode_time(state.last_activity),
        "expires_at": None if state.expires_at is None else encode_time(state.expires_at),
        "operation_id": state.operation_id,
        "data": json.dumps(state.to_dict(), separators=(",", ":")),
    }


def _session(row: _SessionRow) -> WizardState:
    bare = WizardState(
        user_id=row.user_id,
        guild_id=row.guild_id,
        panel_types=(),
        current_index=0,
        completed_panels=(),
        operation_id=row.operation_id,
        started_at=decode_time(row.started_at),
        last_activity=decode_time(row.last_activity),
        expires_at=None if row.expires_at is None else decode_time(row.expires_at),
        phase=WizardPhase(row.phase),
        session_id=row.id,
        version=row.version,
    )
    return bare.with_data(json.loads(row.data))


def _lease(row: _LeaseRow) -> Lease:
    return Lease(
        guild_id=row.guild_id,
        owner=row.owner,
        holder_user_id=row.holder_user_id,
        acquired_at=decode_time(row.acquired_at),
        heartbeat_at=decode_time(row.heartbeat_at),
        expires_at=decode_time(row.expires_at),
    )


def _report_matched_rows(db: peewee.Database) -> None:
    """Make MySQL's UPDATE count the rows it matched, as compare-and-swap needs.

    Without CLIENT_FOUND_ROWS an UPDATE that rewrites equal values reports 0 rows, which a
    REPLACE would take for a lost race. ``open_database`` sets the flag; this covers databases
    built elsewhere. It applies to connections opened from now on, so the calling thread's
    connection is reopened.
    """
    if not isinstance(db, peewee.MySQLDatabase):
        return
    flags = int(db.connect_params.get("client_flag", 0))
    if flags & MYSQL_CLIENT_FOUND_ROWS:
        return
    _log.debug("setting CLIENT_FOUND_ROWS on a MySQL database opened without it")
    db.connect_params["client_flag"] = flags | MYSQL_CLIENT_FOUND_ROWS
    if not db.is_closed() and not db.in_transaction():
        db.close()


def _require(record: PanelRecord | None, write: PanelWrite) -> PanelRecord:
    if record is None:
        raise ValueError(f"a {write.kind.value} panel write lacks the record it needs")
    return record


if TYPE_CHECKING:

    def _implements_the_ports(store: PeeweeStore) -> tuple[PanelStore, JournalStore, AuditSink]:
        return store, store, store

    def _implements_the_settings_ports(store: PeeweeStore) -> tuple[GuildSettingsStore, AuditLog]:
        return store, store

    def _implements_the_wizard_ports(store: PeeweeStore) -> tuple[SessionStore, LeaseStore]:
        return store, store
