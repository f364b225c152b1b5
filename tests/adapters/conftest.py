"""Backends for the store contract: the in-memory fake, SQLite files, and optionally servers.

PostgreSQL runs when APEX_SETUP_TEST_DATABASE_URL names a database, MariaDB/MySQL when
APEX_SETUP_TEST_MYSQL_URL does. The project's tables in those databases are dropped before and
after every test, so point the variables at throwaway databases and do not run two sessions
against one database at the same time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import peewee
import pytest

from apex_setup.adapters.database import migrate, open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.fakes.memory_store import MemoryStore

Store = MemoryStore | PeeweeStore

POSTGRES_VARIABLE = "APEX_SETUP_TEST_DATABASE_URL"
MYSQL_VARIABLE = "APEX_SETUP_TEST_MYSQL_URL"
SKIP_REASONS = {
    "postgresql": f"set {POSTGRES_VARIABLE} to run storage tests on PostgreSQL",
    "mariadb": f"set {MYSQL_VARIABLE} to run storage tests on MariaDB/MySQL",
}


@functools.cache
def project_tables() -> tuple[str, ...]:
    """Every table the migrations create, found by migrating a scratch in-memory database."""
    scratch = peewee.SqliteDatabase(":memory:")
    migrate(scratch)
    tables = tuple(scratch.get_tables())
    scratch.close()
    return tables


def drop_project_tables(db: peewee.Database) -> None:
    for table in project_tables():
        db.execute_sql(f"DROP TABLE IF EXISTS {table}")
    db.close()


@dataclass
class Backend:
    """One database to test against; opens as many stores on it as a test wants."""

    kind: str
    url: str | None = None
    opened: list[Store] = field(default_factory=list)

    @property
    def is_sql(self) -> bool:
        return self.url is not None

    def open_database(self) -> peewee.Database:
        assert self.url is not None, "the memory backend has no database"
        return open_database(self.url)

    def open_store(self) -> Store:
        store: Store = MemoryStore() if self.url is None else PeeweeStore(self.open_database())
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            store.close()


def _backend(kind: str, tmp_path: Path) -> Iterator[Backend]:
    if kind == "memory":
        yield Backend(kind)
        return
    if kind == "sqlite":
        backend = Backend(kind, f"sqlite:///{tmp_path / 'apex_setup.db'}")
        yield backend
        backend.close()
        return

    variable = POSTGRES_VARIABLE if kind == "postgresql" else MYSQL_VARIABLE
    url = os.environ.get(variable)
    if not url:
        pytest.skip(SKIP_REASONS[kind])
    admin = open_database(url)
    drop_project_tables(admin)
    backend = Backend(kind, url)
    try:
        yield backend
    finally:
        backend.close()
        drop_project_tables(admin)


ALL_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb"),
]
SQL_KINDS = ALL_KINDS[1:]


@pytest.fixture(params=ALL_KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, tmp_path)


@pytest.fixture(params=SQL_KINDS)
def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, tmp_path)


@pytest.fixture
def store(backend: Backend) -> Store:
    """A fresh store on every backend: the contract every implementation must keep."""
    return backend.open_store()


@pytest.fixture
def sql_store(sql_backend: Backend) -> PeeweeStore:
    store = sql_backend.open_store()
    assert isinstance(store, PeeweeStore)
    return store
