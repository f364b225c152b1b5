"""Opening databases, the project's migrations, and the time encoding."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import peewee
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apex_setup.adapters.database import (
    MIGRATIONS,
    MYSQL_CLIENT_FOUND_ROWS,
    UNAVAILABLE_MESSAGE,
    decode_time,
    encode_time,
    migrate,
    open_database,
    schema_version,
)
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.errors import StorageFailure

if TYPE_CHECKING:
    from conftest import Backend

EXTRA_TABLE = "apex_setup_test_extra"


def pragma(db: peewee.Database, name: str) -> object:
    return db.execute_sql(f"PRAGMA {name}").fetchone()[0]


def add_extra_table(db: peewee.Database) -> None:
    db.execute_sql(f"CREATE TABLE {EXTRA_TABLE} (id INTEGER PRIMARY KEY)")


def break_after_creating_a_table(db: peewee.Database) -> None:
    add_extra_table(db)
    raise peewee.OperationalError("migration 2 failed halfway")


def drop_extra_table(backend: Backend) -> None:
    db = backend.open_database()
    db.execute_sql(f"DROP TABLE IF EXISTS {EXTRA_TABLE}")
    db.close()


# -- open_database ------------------------------------------------------------------------------


def test_without_a_url_the_database_is_a_sqlite_file_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"

    db = open_database(None, default_path=str(path))

    assert isinstance(db, peewee.SqliteDatabase)
    assert pragma(db, "journal_mode") == "wal"
    assert pragma(db, "foreign_keys") == 1
    assert pragma(db, "busy_timeout") == 5000
    assert pragma(db, "synchronous") == 1  # NORMAL
    assert path.exists()
    db.close()


def test_a_sqlite_url_gets_the_same_pragmas(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'bot.db'}")

    assert pragma(db, "journal_mode") == "wal"
    assert pragma(db, "busy_timeout") == 5000
    db.close()


def test_a_missing_directory_for_a_sqlite_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "data" / "bot.db"

    store = PeeweeStore(open_database(f"sqlite:///{path}"))

    assert path.exists()
    store.close()


def test_a_directory_that_cannot_be_created_raises_storage_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    with pytest.raises(StorageFailure, match="directory"):
        open_database(None, default_path=str(blocker / "bot.db"))


def test_a_store_on_the_default_database_runs_in_wal_mode(tmp_path: Path) -> None:
    store = PeeweeStore(open_database(None, default_path=str(tmp_path / "bot.db")))

    mode = pragma(store.database, "journal_mode")

    assert mode == "wal"
    store.close()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        pytest.param("oracle://admin:hunter2@db/bot", "scheme 'oracle'", id="unknown-scheme"),
        pytest.param("sqlite://", "names no database", id="sqlite-two-slashes"),
        pytest.param("postgresql://admin:hunter2@db", "names no database", id="no-database"),
        pytest.param("postgresql://admin:hunter2@db:99999/bot", "invalid port", id="bad-port"),
        pytest.param("mysql://admin:hunter2@db/bot?client_flag=x", "client_flag", id="bad-flag"),
        pytest.param("not a url at all", "scheme ''", id="not-a-url"),
    ],
)
def test_a_bad_url_raises_storage_failure_naming_the_problem(url: str, problem: str) -> None:
    with pytest.raises(StorageFailure) as raised:
        open_database(url)

    assert problem in str(raised.value)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql://postgres:hunter2@127.0.0.1:1/bot", id="postgresql"),
        pytest.param("mysql://root:hunter2@127.0.0.1:1/bot", id="mysql"),
    ],
)
def test_an_unreachable_server_raises_storage_failure_on_first_use(url: str) -> None:
    db = open_database(url)

    with pytest.raises(StorageFailure) as raised:
        PeeweeStore(db)

    assert str(raised.value) == UNAVAILABLE_MESSAGE
    assert "hunter2" not in raised.value.user_text()
    assert isinstance(raised.value.__cause__, peewee.OperationalError)


def test_a_mysql_url_asks_the_server_to_count_matched_rows() -> None:
    db = open_database("mysql://root@127.0.0.1:3306/bot?client_flag=1")

    flags = db.connect_params["client_flag"]

    assert flags == 1 | MYSQL_CLIENT_FOUND_ROWS


def test_a_store_sets_the_matched_rows_flag_on_a_mysql_database_opened_elsewhere() -> None:
    db = peewee.MySQLDatabase("bot", host="127.0.0.1", port=1, user="root")

    with pytest.raises(StorageFailure):
        PeeweeStore(db)  # nothing listens on port 1; the flag is set before connecting

    assert db.connect_params["client_flag"] & MYSQL_CLIENT_FOUND_ROWS


# -- migrations ---------------------------------------------------------------------------------


def test_an_empty_database_is_at_schema_version_zero(sql_backend: Backend) -> None:
    db = sql_backend.open_database()

    assert schema_version(db) == 0


def test_migrate_applies_each_migration_once_and_records_it(sql_backend: Backend) -> None:
    db = sql_backend.open_database()

    first = migrate(db)
    again = migrate(db)

    rows = db.execute_sql("SELECT version, name FROM schema_version").fetchall()
    assert first == again == len(MIGRATIONS)
    assert [row[0] for row in rows] == list(range(1, len(MIGRATIONS) + 1))
    assert tuple(rows[0]) == (1, "migration_1_core_tables")
    assert {"panels", "operations", "steps", "manual_cleanup", "audit"} <= set(db.get_tables())
    db.close()


def test_a_new_store_migrates_its_database(sql_backend: Backend) -> None:
    store = sql_backend.open_store()

    assert isinstance(store, PeeweeStore)
    assert schema_version(store.database) == len(MIGRATIONS)


def test_a_later_migration_is_applied_on_top_of_an_existing_schema(sql_backend: Backend) -> None:
    db = sql_backend.open_database()
    migrate(db)

    try:
        version = migrate(db, [*MIGRATIONS, add_extra_table])

        assert version == schema_version(db) == len(MIGRATIONS) + 1
        assert EXTRA_TABLE in db.get_tables()
    finally:
        db.close()
        drop_extra_table(sql_backend)


def test_a_failing_migration_leaves_the_schema_as_it_was(sql_backend: Backend) -> None:
    if sql_backend.kind == "mariadb":
        pytest.skip("MySQL and MariaDB commit DDL implicitly: a migration cannot be rolled back")
    db = sql_backend.open_database()
    migrate(db)

    try:
        with pytest.raises(StorageFailure):
            migrate(db, [*MIGRATIONS, break_after_creating_a_table])

        assert schema_version(db) == len(MIGRATIONS)
        assert EXTRA_TABLE not in db.get_tables()
    finally:
        db.close()
        drop_extra_table(sql_backend)


def test_a_database_newer_than_the_code_is_refused(sql_backend: Backend) -> None:
    db = sql_backend.open_database()
    migrate(db, [*MIGRATIONS, add_extra_table])

    try:
        with pytest.raises(StorageFailure, match="newer version"):
            migrate(db)
    finally:
        db.close()
        drop_extra_table(sql_backend)


# -- the time encoding --------------------------------------------------------------------------


@given(st.datetimes(timezones=st.just(timezone.utc)))
def test_every_aware_time_survives_encoding_exactly(moment: datetime) -> None:
    decoded = decode_time(encode_time(moment))

    assert decoded == moment
    assert decoded.tzinfo is timezone.utc


def test_encoded_times_sort_like_the_times() -> None:
    earlier = datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    later = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc)

    assert encode_time(earlier) < encode_time(later)


def test_a_naive_time_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_time(datetime(2026, 1, 1))
