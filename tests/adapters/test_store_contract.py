"""One contract for every store: MemoryStore, and PeeweeStore on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import peewee
import pytest
from pytest_mock import MockerFixture

from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.errors import (
    ConflictError,
    InvalidInput,
    OperationTakenOver,
    StorageFailure,
)
from apex_setup.core.records import (
    AuditRecord,
    JournalChange,
    ManualCleanupItem,
    Operation,
    OperationKind,
    OperationState,
    OperationType,
    PanelRecord,
    PanelWrite,
    PanelWriteKind,
    RollbackInfo,
    Step,
    StepState,
)
from apex_setup.fakes.memory_store import MemoryStore

if TYPE_CHECKING:
    from conftest import Backend

Store = MemoryStore | PeeweeStore

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)
GUILD = 810_000_000_000_000_001
OTHER_GUILD = 810_000_000_000_000_002
USER = 9_223_372_036_854_775_807  # the largest 64-bit id


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def panel(
    guild_id: int = GUILD, panel_type: str = "tickets", version: int = 1, **changes: Any
) -> PanelRecord:
    record = PanelRecord(
        guild_id=guild_id,
        panel_type=panel_type,
        channel_id=1_111_111_111_111_111_111,
        message_id=2_222_222_222_222_222_222,
        created_by=USER,
        created_at=T0,
        updated_at=T0,
        operation_id="op-1",
        version=version,
    )
    return replace(record, **changes)


def operation(
    op_id: str = "op-1", state: OperationState = OperationState.PENDING, **changes: Any
) -> Operation:
    record = Operation(
        id=op_id,
        kind=OperationKind.DEPLOY_PANEL,
        guild_id=GUILD,
        user_id=USER,
        state=state,
        created_at=T0,
        updated_at=T0,
        panel_type="tickets",
    )
    return replace(record, **changes)


def step(index: int = 0, op_id: str = "op-1", **changes: Any) -> Step:
    info = RollbackInfo(
        operation_type=OperationType.PANEL_UPDATED,
        guild_id=GUILD,
        user_id=USER,
        timestamp=T0,
        panel_type="tickets",
        channel_id=1_111_111_111_111_111_111,
        message_id=2_222_222_222_222_222_222,
        panel_id=7,
        before=panel(panel_id=7),
        after=panel(version=2, panel_id=7, updated_at=at(1)),
        nonce="nonce-1",
        fingerprint="abc123",
    )
    return replace(Step(op_id, index, StepState.INTENDED, info), **changes)


def cleanup_item(
    guild_id: int = GUILD, description: str = "message 5", **changes: Any
) -> ManualCleanupItem:
    item = ManualCleanupItem(
        operation_id="op-1",
        guild_id=guild_id,
        description=description,
        reason="Missing Access",
        created_at=T0,
        channel_id=1_111_111_111_111_111_111,
        message_id=5,
    )
    return replace(item, **changes)


def audit(guild_id: int = GUILD, detail: str = "deployed", **changes: Any) -> AuditRecord:
    entry = AuditRecord(
        guild_id=guild_id,
        user_id=USER,
        action="deploy",
        outcome="ok",
        detail=detail,
        created_at=T0,
        operation_id="op-1",
        reference="ab12cd34",
    )
    return replace(entry, **changes)


def insert(record: PanelRecord) -> PanelWrite:
    return PanelWrite(PanelWriteKind.INSERT, record=record)


def stored(store: Store, record: PanelRecord) -> PanelRecord:
    """Insert ``record`` and return it as the store now holds it, row id included."""
    store.apply(JournalChange(panel_writes=[insert(record)]))
    found = store.get_panel(record.guild_id, record.panel_type)
    assert found is not None
    return found


def without_id(record: PanelRecord | None) -> PanelRecord | None:
    return None if record is None else replace(record, panel_id=None)


# -- round trips --------------------------------------------------------------------------------


def test_a_panel_reads_back_as_written_with_a_row_id(store: Store) -> None:
    record = panel()

    store.apply(JournalChange(panel_writes=[insert(record)]))
    found = store.get_panel(GUILD, "tickets")

    assert found is not None
    assert found.panel_id is not None
    assert replace(found, panel_id=None) == record


def test_an_operation_reads_back_as_written(store: Store) -> None:
    record = operation(updated_at=at(2.5))

    store.apply(JournalChange(operation=record))

    assert store.get_operation("op-1") == record


def test_an_operation_without_a_panel_type_reads_back_as_written(store: Store) -> None:
    record = operation(kind=OperationKind.CLEANUP, panel_type=None)

    store.apply(JournalChange(operation=record))

    assert store.get_operation("op-1") == record


def test_steps_read_back_in_index_order_with_their_rollback_info(store: Store) -> None:
    sent = step(0, info=replace(step().info, operation_type=OperationType.MESSAGE_SENT))
    updated = step(1, follow_up=True, state=StepState.DONE)
    retired = step(2, info=replace(step().info, before=None, after=None, payload={"content": "x"}))

    store.apply(JournalChange(operation=operation(), steps=[retired, sent, updated]))

    assert store.steps("op-1") == [sent, updated, retired]


def test_a_manual_cleanup_item_reads_back_with_an_item_id(store: Store) -> None:
    item = cleanup_item()

    store.apply(JournalChange(cleanup_items=[item]))
    [found] = store.manual_cleanup_items(GUILD)

    assert found.item_id is not None
    assert replace(found, item_id=None) == item


def test_an_audit_entry_reads_back_as_written(store: Store) -> None:
    entry = audit(operation_id=None, reference=None)

    store.record(entry)

    assert store.recent_audit(GUILD) == [entry]


def test_times_come_back_timezone_aware_in_utc_to_the_microsecond(store: Store) -> None:
    created = datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    store.apply(JournalChange(operation=operation(created_at=created, updated_at=created)))

    found = store.get_operation("op-1")

    assert found is not None
    assert found.created_at == created
    assert found.created_at.utcoffset() == timedelta(0)
    assert found.created_at.microsecond == 999999


def test_a_time_with_another_offset_reads_back_as_the_same_instant(store: Store) -> None:
    paris = timezone(timedelta(hours=2))
    created = datetime(2026, 6, 1, 14, 0, 0, 1, tzinfo=paris)

    store.record(audit(created_at=created))
    [found] = store.recent_audit()

    assert found.created_at == created
    assert found.created_at.utcoffset() is not None


def test_a_naive_datetime_is_refused_and_nothing_is_written(store: Store) -> None:
    naive = datetime(2026, 1, 1, 12, 0)
    change = JournalChange(operation=operation(), panel_writes=[insert(panel(updated_at=naive))])

    with pytest.raises(ValueError, match="timezone-aware"):
        store.apply(change)

    assert store.get_operation("op-1") is None
    assert store.get_panel(GUILD, "tickets") is None


def test_missing_things_read_as_none_or_empty(store: Store) -> None:
    assert store.get_panel(GUILD, "tickets") is None
    assert store.get_operation("nope") is None
    assert store.steps("nope") == []
    assert store.list_panels() == []
    assert store.open_operations() == []
    assert store.manual_cleanup_items() == []
    assert store.recent_audit() == []


def test_panels_are_listed_by_guild_then_type(store: Store) -> None:
    for guild_id, panel_type in [(OTHER_GUILD, "roles"), (GUILD, "verify"), (GUILD, "roles")]:
        store.apply(JournalChange(panel_writes=[insert(panel(guild_id, panel_type))]))

    everything = [(p.guild_id, p.panel_type) for p in store.list_panels()]
    one_guild = [p.panel_type for p in store.list_panels(GUILD)]

    assert everything == [(GUILD, "roles"), (GUILD, "verify"), (OTHER_GUILD, "roles")]
    assert one_guild == ["roles", "verify"]


def test_keys_are_compared_exactly_with_case_and_all(store: Store) -> None:
    store.apply(JournalChange(panel_writes=[insert(panel(panel_type="tickets"))]))

    store.apply(JournalChange(panel_writes=[insert(panel(panel_type="Tickets"))]))

    assert [p.panel_type for p in store.list_panels()] == ["Tickets", "tickets"]
    assert store.get_panel(GUILD, "TICKETS") is None


def test_a_key_longer_than_the_column_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="at most 64"):
        store.apply(JournalChange(operation=operation("x" * 65)))

    assert store.open_operations() == []


# -- apply: all or nothing ------------------------------------------------------------------------


def test_apply_writes_nothing_when_a_later_panel_write_conflicts(store: Store) -> None:
    stored(store, panel(panel_type="roles"))
    change = JournalChange(
        operation=operation("op-2"),
        steps=[step(0, "op-2"), step(1, "op-2")],
        panel_writes=[insert(panel(panel_type="tickets")), insert(panel(panel_type="roles"))],
        cleanup_items=[cleanup_item()],
    )

    with pytest.raises(ConflictError):
        store.apply(change)

    assert store.get_operation("op-2") is None
    assert store.steps("op-2") == []
    assert store.get_panel(GUILD, "tickets") is None
    assert store.manual_cleanup_items() == []


def test_an_empty_change_writes_nothing(store: Store) -> None:
    store.apply(JournalChange())

    assert store.list_panels() == []
    assert store.open_operations() == []


def test_apply_updates_an_existing_operation_and_step_in_place(store: Store) -> None:
    store.apply(JournalChange(operation=operation(), steps=[step(0)]))
    committed = operation(state=OperationState.COMMITTED, updated_at=at(3))
    done = step(0, state=StepState.DONE, info=step().info.with_message(99))

    store.apply(JournalChange(operation=committed, steps=[done]))

    assert store.get_operation("op-1") == committed
    assert store.steps("op-1") == [done]


def test_a_malformed_panel_write_is_refused_before_anything_is_written(store: Store) -> None:
    change = JournalChange(
        operation=operation(), panel_writes=[PanelWrite(PanelWriteKind.REPLACE, record=panel())]
    )

    with pytest.raises(ValueError, match="lacks the record"):
        store.apply(change)

    assert store.get_operation("op-1") is None


def test_inserting_a_second_panel_of_a_type_in_one_guild_conflicts(store: Store) -> None:
    first = stored(store, panel())

    with pytest.raises(ConflictError) as raised:
        store.apply(JournalChange(panel_writes=[insert(panel(channel_id=3))]))

    assert store.get_panel(GUILD, "tickets") == first
    assert "tickets" in str(raised.value)


def test_the_same_panel_type_may_live_in_two_guilds(store: Store) -> None:
    store.apply(JournalChange(panel_writes=[insert(panel(GUILD)), insert(panel(OTHER_GUILD))]))

    assert len(store.list_panels()) == 2


def test_replace_with_the_current_version_stores_the_new_record_on_the_same_row(
    store: Store,
) -> None:
    old = stored(store, panel())
    new = panel(version=2, message_id=42, operation_id="op-2", updated_at=at(9))

    store.apply(JournalChange(panel_writes=[PanelWrite(PanelWriteKind.REPLACE, new, old)]))
    found = store.get_panel(GUILD, "tickets")

    assert found == replace(new, panel_id=old.panel_id)


def test_a_replace_that_rewrites_equal_values_still_succeeds(store: Store) -> None:
    old = stored(store, panel())

    store.apply(JournalChange(panel_writes=[PanelWrite(PanelWriteKind.REPLACE, old, old)]))

    assert store.get_panel(GUILD, "tickets") == old


def test_replace_with_a_stale_version_conflicts_and_changes_nothing(store: Store) -> None:
    current = stored(store, panel(version=3))
    stale = replace(current, version=2)
    change = JournalChange(
        operation=operation(),
        panel_writes=[PanelWrite(PanelWriteKind.REPLACE, panel(version=3, message_id=1), stale)],
    )

    with pytest.raises(ConflictError):
        store.apply(change)

    assert store.get_panel(GUILD, "tickets") == current
    assert store.get_operation("op-1") is None


def test_replacing_a_panel_that_is_gone_conflicts(store: Store) -> None:
    ghost = panel()

    with pytest.raises(ConflictError):
        store.apply(JournalChange(panel_writes=[PanelWrite(PanelWriteKind.REPLACE, ghost, ghost)]))

    assert store.list_panels() == []


def test_delete_with_the_current_version_removes_the_panel(store: Store) -> None:
    current = stored(store, panel())

    store.apply(JournalChange(panel_writes=[PanelWrite(PanelWriteKind.DELETE, expected=current)]))

    assert store.get_panel(GUILD, "tickets") is None


def test_delete_with_a_stale_version_conflicts_and_changes_nothing(store: Store) -> None:
    current = stored(store, panel(version=2))
    stale = replace(current, version=1)

    with pytest.raises(ConflictError):
        store.apply(JournalChange(panel_writes=[PanelWrite(PanelWriteKind.DELETE, expected=stale)]))

    assert store.get_panel(GUILD, "tickets") == current


def test_one_change_may_delete_a_panel_and_insert_its_successor(store: Store) -> None:
    current = stored(store, panel())
    successor = panel(version=2, message_id=77)
    change = JournalChange(
        panel_writes=[PanelWrite(PanelWriteKind.DELETE, expected=current), insert(successor)]
    )

    store.apply(change)

    assert without_id(store.get_panel(GUILD, "tickets")) == successor


# -- the journal's open operations ---------------------------------------------------------------


def test_open_operations_are_pending_and_committed_ones_oldest_first(store: Store) -> None:
    writes = [
        operation("op-c", OperationState.COMMITTED, created_at=at(1)),
        operation("op-done", OperationState.DONE, created_at=at(0)),
        operation("op-b", OperationState.PENDING, created_at=at(1)),
        operation("op-rolled", OperationState.ROLLED_BACK, created_at=at(0)),
        operation("op-manual", OperationState.NEEDS_MANUAL_CLEANUP, created_at=at(0)),
        operation("op-a", OperationState.PENDING, created_at=at(2)),
        operation("op-z", OperationState.COMMITTED, created_at=at(-1)),
    ]
    for record in writes:
        store.apply(JournalChange(operation=record))

    found = [op.id for op in store.open_operations()]

    assert found == ["op-z", "op-b", "op-c", "op-a"]


def test_an_operation_that_reaches_a_final_state_is_no_longer_open(store: Store) -> None:
    store.apply(JournalChange(operation=operation()))

    store.apply(JournalChange(operation=operation(state=OperationState.DONE)))

    assert store.open_operations() == []


# -- manual cleanup ---------------------------------------------------------------------------


def test_manual_cleanup_items_are_listed_per_guild_oldest_first(store: Store) -> None:
    items = [
        cleanup_item(GUILD, "first"),
        cleanup_item(OTHER_GUILD, "other"),
        cleanup_item(GUILD, "second"),
    ]
    store.apply(JournalChange(cleanup_items=items))

    mine = [item.description for item in store.manual_cleanup_items(GUILD)]
    everyone = [item.description for item in store.manual_cleanup_items()]

    assert mine == ["first", "second"]
    assert everyone == ["first", "other", "second"]


def test_a_resolved_cleanup_item_is_no_longer_listed(store: Store) -> None:
    store.apply(
        JournalChange(cleanup_items=[cleanup_item(description="a"), cleanup_item(description="b")])
    )
    first, second = store.manual_cleanup_items()
    assert first.item_id is not None

    store.resolve_cleanup_item(first.item_id)

    assert store.manual_cleanup_items() == [second]


def test_resolving_an_item_twice_is_harmless(store: Store) -> None:
    store.apply(JournalChange(cleanup_items=[cleanup_item()]))
    [item] = store.manual_cleanup_items()
    assert item.item_id is not None
    store.resolve_cleanup_item(item.item_id)

    store.resolve_cleanup_item(item.item_id)

    assert store.manual_cleanup_items() == []


def test_resolving_an_unknown_item_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput) as raised:
        store.resolve_cleanup_item(12345)

    assert raised.value.field == "item_id"


# -- audit ------------------------------------------------------------------------------------


def test_recent_audit_is_newest_first_and_limited(store: Store) -> None:
    for n in range(5):
        store.record(audit(detail=f"entry {n}", created_at=at(n)))

    found = [entry.detail for entry in store.recent_audit(limit=3)]

    assert found == ["entry 4", "entry 3", "entry 2"]


def test_recent_audit_keeps_to_one_guild_when_asked(store: Store) -> None:
    store.record(audit(GUILD, "mine, old"))
    store.record(audit(OTHER_GUILD, "theirs"))
    store.record(audit(GUILD, "mine, new"))

    found = [entry.detail for entry in store.recent_audit(GUILD)]

    assert found == ["mine, new", "mine, old"]


def test_recent_audit_with_a_limit_of_zero_is_empty(store: Store) -> None:
    store.record(audit())

    assert store.recent_audit(limit=0) == []


# -- reachability and threads -----------------------------------------------------------------


def test_ping_succeeds_on_a_working_store(store: Store) -> None:
    store.ping()


def test_a_store_works_from_another_thread_than_the_one_that_created_it(store: Store) -> None:
    record = panel()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(store.apply, JournalChange(panel_writes=[insert(record)])).result()
        seen_there = pool.submit(store.get_panel, GUILD, "tickets").result()
        pool.submit(store.close).result()

    assert without_id(seen_there) == record
    assert store.get_panel(GUILD, "tickets") == seen_there


def test_threads_writing_at_once_each_land_exactly_once(store: Store) -> None:
    start = threading.Barrier(4)

    def deploy(n: int) -> None:
        start.wait()
        store.apply(JournalChange(operation=operation(f"op-{n}"), panel_writes=[insert(panel(n))]))
        store.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(deploy, range(4)))

    assert sorted(p.guild_id for p in store.list_panels()) == [0, 1, 2, 3]
    assert len(store.open_operations()) == 4


# -- two processes on one database (SQL stores only) ----------------------------------------------


def test_two_stores_on_one_database_see_each_others_commits(sql_backend: Backend) -> None:
    first, second = sql_backend.open_store(), sql_backend.open_store()

    first.apply(JournalChange(operation=operation(), panel_writes=[insert(panel())]))

    assert second.get_operation("op-1") == operation()
    assert without_id(second.get_panel(GUILD, "tickets")) == panel()


def test_the_second_of_two_stores_to_replace_a_panel_loses_the_race(sql_backend: Backend) -> None:
    first, second = sql_backend.open_store(), sql_backend.open_store()
    read_by_both = stored(first, panel())
    winner = panel(version=2, message_id=10)
    loser = panel(version=2, message_id=20)
    first.apply(
        JournalChange(panel_writes=[PanelWrite(PanelWriteKind.REPLACE, winner, read_by_both)])
    )

    with pytest.raises(ConflictError):
        second.apply(
            JournalChange(panel_writes=[PanelWrite(PanelWriteKind.REPLACE, loser, read_by_both)])
        )

    assert without_id(second.get_panel(GUILD, "tickets")) == winner


def test_stores_on_different_databases_stay_independent(tmp_path: Path) -> None:
    here = PeeweeStore(open_database(f"sqlite:///{tmp_path / 'here.db'}"))
    there = PeeweeStore(open_database(f"sqlite:///{tmp_path / 'there.db'}"))

    here.apply(JournalChange(panel_writes=[insert(panel())]))

    assert here.get_panel(GUILD, "tickets") is not None
    assert there.get_panel(GUILD, "tickets") is None
    here.close()
    there.close()


# -- database failures (SQL stores only) ----------------------------------------------------------

SECRET = "SELECT password FROM secrets -- near syntax error"


def test_a_database_error_surfaces_as_storage_failure_without_its_text(
    sql_store: PeeweeStore, mocker: MockerFixture
) -> None:
    mocker.patch.object(
        sql_store.database, "execute_sql", side_effect=peewee.OperationalError(SECRET)
    )

    with pytest.raises(StorageFailure) as raised:
        sql_store.get_panel(GUILD, "tickets")

    assert str(raised.value) == "The bot's database is not available right now."
    assert "SELECT" not in raised.value.user_text()
    assert isinstance(raised.value.__cause__, peewee.OperationalError)


def test_a_database_error_is_logged_with_its_cause_and_the_errors_reference(
    sql_store: PeeweeStore, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    mocker.patch.object(
        sql_store.database, "execute_sql", side_effect=peewee.OperationalError(SECRET)
    )

    with pytest.raises(StorageFailure) as raised:
        sql_store.apply(JournalChange(operation=operation()))

    [entry] = [r for r in caplog.records if r.name == "apex_setup.adapters.database"]
    assert entry.levelname == "WARNING"
    assert raised.value.reference in entry.getMessage()
    assert SECRET in caplog.text  # the traceback, for the operator


def test_ping_raises_storage_failure_when_the_database_fails(
    sql_store: PeeweeStore, mocker: MockerFixture
) -> None:
    mocker.patch.object(
        sql_store.database, "execute_sql", side_effect=peewee.InterfaceError(SECRET)
    )

    with pytest.raises(StorageFailure) as raised:
        sql_store.ping()

    assert SECRET not in str(raised.value)


def test_a_failure_halfway_through_apply_writes_nothing(
    sql_store: PeeweeStore, mocker: MockerFixture
) -> None:
    real = sql_store.database.execute_sql

    def fail_on_cleanup_insert(sql: str, params: Any = None) -> Any:
        if sql.startswith("INSERT") and "manual_cleanup" in sql:
            raise peewee.OperationalError(SECRET)
        return real(sql, params)

    mocker.patch.object(sql_store.database, "execute_sql", side_effect=fail_on_cleanup_insert)
    change = JournalChange(
        operation=operation(),
        steps=[step(0)],
        panel_writes=[insert(panel())],
        cleanup_items=[cleanup_item()],
    )

    with pytest.raises(StorageFailure):
        sql_store.apply(change)

    mocker.stopall()
    assert sql_store.get_operation("op-1") is None
    assert sql_store.steps("op-1") == []
    assert sql_store.get_panel(GUILD, "tickets") is None


def test_a_store_works_again_once_the_database_recovers(
    sql_store: PeeweeStore, mocker: MockerFixture
) -> None:
    broken = mocker.patch.object(
        sql_store.database, "execute_sql", side_effect=peewee.OperationalError(SECRET)
    )
    with pytest.raises(StorageFailure):
        sql_store.ping()
    mocker.stop(broken)

    sql_store.apply(JournalChange(operation=operation()))

    assert sql_store.get_operation("op-1") == operation()


# -- the operation's compare-and-swap ---------------------------------------------------------


def test_a_change_expecting_the_stored_operation_applies(store: Store) -> None:
    store.apply(JournalChange(operation=operation()))
    claimed = operation(state=OperationState.COMPENSATING, updated_at=at(3))

    store.apply(JournalChange(operation=claimed, expected=operation(), steps=[step(0)]))

    assert store.get_operation("op-1") == claimed
    assert store.steps("op-1") == [step(0)]


@pytest.mark.parametrize(
    "stale",
    [
        {"state": OperationState.COMPENSATING},  # someone claimed it
        {"updated_at": at(2)},  # someone renewed or changed it
    ],
    ids=["other-state", "other-time"],
)
def test_a_change_expecting_a_stale_operation_writes_nothing(
    store: Store, stale: dict[str, Any]
) -> None:
    store.apply(JournalChange(operation=operation()))
    committed = operation(state=OperationState.DONE, updated_at=at(3))

    with pytest.raises(OperationTakenOver):
        store.apply(
            JournalChange(
                operation=committed,
                expected=operation(**stale),
                steps=[step(0)],
                panel_writes=[insert(panel())],
            )
        )

    assert store.get_operation("op-1") == operation()
    assert store.steps("op-1") == []
    assert store.list_panels() == []


def test_a_compensating_operation_is_open(store: Store) -> None:
    store.apply(JournalChange(operation=operation(state=OperationState.COMPENSATING)))

    assert [op.id for op in store.open_operations()] == ["op-1"]
