"""One contract for wizard sessions and setup leases: MemoryStore and PeeweeStore alike.

Lease contention between processes runs on a SQLite file, and on PostgreSQL when
APEX_SETUP_TEST_DATABASE_URL is set: several spawned processes, each with its own store on the
same database, race to acquire one guild's lease and exactly one wins.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.errors import ConflictError
from apex_setup.core.wizard import LeaseHeld, WizardPhase, WizardState
from apex_setup.fakes.memory_store import MemoryStore

if TYPE_CHECKING:
    from conftest import Backend

Store = MemoryStore | PeeweeStore

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)
GUILD = 810_000_000_000_000_001
OTHER_GUILD = 810_000_000_000_000_002
USER = 9_223_372_036_854_775_807
OTHER_USER = 42
TTL = timedelta(minutes=30)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def session(
    session_id: str = "s-1", guild_id: int = GUILD, version: int = 1, **changes: Any
) -> WizardState:
    state = WizardState(
        user_id=USER,
        guild_id=guild_id,
        panel_types=("rules", "support"),
        current_index=1,
        completed_panels=("rules",),
        operation_id=None,
        started_at=T0,
        last_activity=at(1),
        expires_at=at(31),
        phase=WizardPhase.DEPLOYING,
        session_id=session_id,
        channels={"rules": 1_111_111_111_111_111_111, "support": 2},
        skipped_panels=(),
        last_error=None,
        version=version,
    )
    return replace(state, **changes)


# ---------------------------------------------------------------------------------------------
# Sessions


class TestSavingSessions:
    def test_a_saved_session_reads_back_equal(self, store: Store) -> None:
        state = session(operation_id="op-7", last_error="Discord said no.", skipped_panels=("x",))

        store.save_session(state, expected_version=0)

        assert store.get_session("s-1") == state

    def test_a_terminal_session_reads_back_without_a_deadline(self, store: Store) -> None:
        state = session(phase=WizardPhase.COMPLETED, expires_at=None)

        store.save_session(state, expected_version=0)

        found = store.get_session("s-1")
        assert found is not None and found.expires_at is None

    def test_inserting_an_existing_session_id_is_a_conflict(self, store: Store) -> None:
        store.save_session(session(), expected_version=0)

        with pytest.raises(ConflictError):
            store.save_session(session(user_id=OTHER_USER), expected_version=0)

        found = store.get_session("s-1")
        assert found is not None and found.user_id == USER

    def test_a_save_at_the_expected_version_replaces_the_session(self, store: Store) -> None:
        store.save_session(session(), expected_version=0)
        newer = session(version=2, current_index=2, completed_panels=("rules", "support"))

        store.save_session(newer, expected_version=1)

        assert store.get_session("s-1") == newer

    def test_a_save_with_a_stale_version_is_a_conflict_and_changes_nothing(
        self, store: Store
    ) -> None:
        store.save_session(session(), expected_version=0)
        store.save_session(session(version=2, current_index=2), expected_version=1)

        with pytest.raises(ConflictError):
            store.save_session(session(version=2, phase=WizardPhase.CANCELLED), expected_version=1)

        found = store.get_session("s-1")
        assert found is not None and found.phase is WizardPhase.DEPLOYING
        assert found.current_index == 2

    def test_updating_a_missing_session_is_a_conflict(self, store: Store) -> None:
        with pytest.raises(ConflictError):
            store.save_session(session(version=2), expected_version=1)

        assert store.get_session("s-1") is None

    def test_sessions_are_listed_oldest_first_and_by_guild(self, store: Store) -> None:
        store.save_session(session("b", started_at=at(2)), expected_version=0)
        store.save_session(session("a", started_at=at(1)), expected_version=0)
        store.save_session(session("c", guild_id=OTHER_GUILD), expected_version=0)

        mine = [s.session_id for s in store.list_sessions(GUILD)]
        everyone = [s.session_id for s in store.list_sessions()]

        assert mine == ["a", "b"]
        assert everyone == ["c", "a", "b"]


class TestFindingExpiredSessions:
    def test_only_sessions_at_or_past_their_deadline_are_found_earliest_first(
        self, store: Store
    ) -> None:
        store.save_session(session("late", expires_at=at(40)), expected_version=0)
        store.save_session(session("second", expires_at=at(30)), expected_version=0)
        store.save_session(session("first", expires_at=at(20)), expected_version=0)

        found = store.expired_sessions(at(30), limit=10)

        assert [s.session_id for s in found] == ["first", "second"]

    def test_terminal_sessions_are_never_found(self, store: Store) -> None:
        store.save_session(
            session("done", phase=WizardPhase.EXPIRED, expires_at=None), expected_version=0
        )

        assert store.expired_sessions(at(1000), limit=10) == []

    def test_the_limit_caps_what_is_returned(self, store: Store) -> None:
        for n in range(5):
            store.save_session(session(f"s{n}", expires_at=at(n)), expected_version=0)

        found = store.expired_sessions(at(100), limit=2)

        assert [s.session_id for s in found] == ["s0", "s1"]


class TestCleaningSessions:
    def test_deleting_sessions_counts_those_that_existed(self, store: Store) -> None:
        store.save_session(session("a"), expected_version=0)
        store.save_session(session("b"), expected_version=0)

        deleted = store.delete_sessions(["a", "b", "missing"])

        assert deleted == 2
        assert store.list_sessions() == []

    def test_clean_expired_removes_expired_and_idle_sessions_but_not_running_ones(
        self, store: Store
    ) -> None:
        store.save_session(
            session("expired", phase=WizardPhase.EXPIRED, expires_at=None), expected_version=0
        )
        store.save_session(session("idle", expires_at=at(10)), expected_version=0)
        store.save_session(
            session("running", expires_at=at(10), operation_id="op-1"), expected_version=0
        )
        store.save_session(session("alive", expires_at=at(40)), expected_version=0)
        store.save_session(
            session("done", phase=WizardPhase.COMPLETED, expires_at=None), expected_version=0
        )

        cleaned = store.clean_expired(at(20))

        assert cleaned == 2
        assert sorted(s.session_id for s in store.list_sessions()) == ["alive", "done", "running"]

    def test_clean_all_removes_one_guilds_sessions_and_lease(self, store: Store) -> None:
        store.save_session(session("a"), expected_version=0)
        store.save_session(session("b", guild_id=OTHER_GUILD), expected_version=0)
        store.acquire_lease(GUILD, "a", USER, T0, TTL)
        store.acquire_lease(OTHER_GUILD, "b", USER, T0, TTL)

        cleaned = store.clean_all(GUILD)

        assert cleaned == 1
        assert [s.session_id for s in store.list_sessions()] == ["b"]
        assert store.get_lease(GUILD) is None
        assert store.get_lease(OTHER_GUILD) is not None


# ---------------------------------------------------------------------------------------------
# Leases


class TestAcquiringTheLease:
    def test_a_free_lease_is_taken(self, store: Store) -> None:
        lease = store.acquire_lease(GUILD, "s-1", USER, T0, TTL)

        assert (lease.owner, lease.holder_user_id) == ("s-1", USER)
        assert (lease.acquired_at, lease.heartbeat_at, lease.expires_at) == (T0, T0, T0 + TTL)
        assert store.get_lease(GUILD) == lease

    def test_a_live_lease_refuses_another_owner_and_names_the_holder(self, store: Store) -> None:
        store.acquire_lease(GUILD, "s-1", USER, T0, TTL)

        with pytest.raises(LeaseHeld) as caught:
            store.acquire_lease(GUILD, "s-2", OTHER_USER, at(29), TTL)

        assert caught.value.lease.holder_user_id == USER
        assert f"<@{USER}>" in str(caught.value)
        assert "idle since" in str(caught.value)
        held = store.get_lease(GUILD)
        assert held is not None and held.owner == "s-1"

    def test_a_lapsed_lease_is_taken_over(self, store: Store) -> None:
        store.acquire_lease(GUILD, "s-1", USER, T0, TTL)

        lease = store.acquire_lease(GUILD, "s-2", OTHER_USER, at(30), TTL)

        assert (lease.owner, lease.holder_user_id, lease.acquired_at) == ("s-2", OTHER_USER, at(30))

    def test_the_owner_acquiring_again_renews_and_keeps_its_start(self, store: Store) -> None:
        store.acquire_lease(GUILD, "s-1", USER, T0, TTL)

        lease = store.acquire_lease(GUILD, "s-1", USER, at(5), TTL)

        assert (lease.acquired_at, lease.heartbeat_at, lease.expires_at) == (T0, at(5), at(35))

    def test_leases_of_different_guilds_are_independent(self, store: Store) -> None:
        store.acquire_lease(GUILD, "s-1", USER, T0, TTL)

        other = store.acquire_lease(OTHER_GUILD, "s-2", OTHER_USER, T0, TTL)

        assert other.owner == "s-2"


class TestHeartbeatAndRelease:
    def test_a_heartbeat_extends_the_owners_lease(self, store: Store) -> None:
        store.acquire_lease(GUILD, "s-1", USER, T0, TTL)

        lease = store.heartbeat_lease(GUILD, "s-1", at(20), TTL)

        assert (lease.heartbeat_at, lease.expires_at) == (at(20), at(50))
        assert store.get_lease(GUILD) == lease

    def test_a_heartbeat_by_someone_else_is_a_conflict(self, store: Store) -> None:
        store.acquire_lease(GUILD, "s-1", USER, T0, TTL)

        with pytest.raises(ConflictError):
            store.heartbeat_lease(GUILD, "s-2", at(1), TTL)

        held = store.get_lease(GUILD)
        assert held is not None and held.heartbeat_at == T0

    def test_a_heartbeat_on_no_lease_is_a_conflict(self, store: Store) -> None:
        with pytest.raises(ConflictError):
            store.heartbeat_lease(GUILD, "s-1", T0, TTL)

    def test_release_by_the_owner_frees_the_lease(self, store: Store) -> None:
        store.acquire_lease(GUILD, "s-1", USER, T0, TTL)

        released = store.release_lease(GUILD, "s-1")

        assert released is True
        assert store.get_lease(GUILD) is None

    def test_release_by_someone_else_changes_nothing(self, store: Store) -> None:
        store.acquire_lease(GUILD, "s-1", USER, T0, TTL)

        released = store.release_lease(GUILD, "s-2")

        assert released is False
        assert store.get_lease(GUILD) is not None


# ---------------------------------------------------------------------------------------------
# Contention between processes


def _race_for_the_lease(url: str, owner: str, start: Any, results: Any) -> None:
    """Run in a spawned process: open an own store, wait for the gun, try to take the lease."""
    store = PeeweeStore(open_database(url))
    start.wait()
    try:
        store.acquire_lease(GUILD, owner, USER, T0, TTL)
        results.put((owner, "won"))
    except LeaseHeld as exc:
        results.put((owner, f"held by {exc.lease.owner}"))
    except ConflictError:
        results.put((owner, "conflict"))
    finally:
        store.close()


PROCESSES = 6


def _race(url: str, *, lapsed_holder: bool = False) -> list[tuple[str, str]]:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    setup = PeeweeStore(open_database(url))  # migrate once, before the race
    if lapsed_holder:  # a holder that crashed an hour ago: its lease lapsed long since
        setup.acquire_lease(GUILD, "crashed", OTHER_USER, T0 - timedelta(hours=1), TTL)
    setup.close()
    workers = [
        context.Process(target=_race_for_the_lease, args=(url, f"p{n}", start, results))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    return sorted(outcomes)


class TestLeaseContentionBetweenProcesses:
    def test_exactly_one_process_on_a_sqlite_file_wins_the_lease(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'race.db'}"

        outcomes = _race(url)

        winners = [owner for owner, outcome in outcomes if outcome == "won"]
        assert len(winners) == 1
        assert all(o in ("won", f"held by {winners[0]}") for _, o in outcomes)

    def test_exactly_one_process_takes_over_a_crashed_holders_lease(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'race.db'}"

        outcomes = _race(url, lapsed_holder=True)

        winners = [owner for owner, outcome in outcomes if outcome == "won"]
        assert len(winners) == 1
        assert all(o in ("won", f"held by {winners[0]}") for _, o in outcomes)

    @pytest.mark.postgres
    def test_exactly_one_process_on_postgresql_wins_the_lease(self, sql_backend: Backend) -> None:
        if sql_backend.kind != "postgresql":
            pytest.skip("this race runs on PostgreSQL only; the SQLite one is separate")
        assert sql_backend.url is not None

        fresh = _race(sql_backend.url)
        cleaner = PeeweeStore(open_database(sql_backend.url))
        cleaner.clean_all(GUILD)
        cleaner.close()
        lapsed = _race(sql_backend.url, lapsed_holder=True)

        for outcomes in (fresh, lapsed):
            winners = [owner for owner, outcome in outcomes if outcome == "won"]
            assert len(winners) == 1
            assert all(o in ("won", f"held by {winners[0]}") for _, o in outcomes)
