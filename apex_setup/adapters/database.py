"""Opening the bot's database and keeping its schema current.

The schema belongs to apex-setup, not to peewee: ``migrate()`` builds it from an ordered list of
migrations and records each one it applies in ``schema_version``.

Invariants:
- Schema version N is ``MIGRATIONS[N - 1]``. Migrations are only ever appended: editing or
  reordering one that has shipped would leave existing databases with a schema the code does not
  describe. Each migration declares its own frozen table definitions, so later changes to the
  store's models cannot change what an old migration creates.
- ``migrate()`` applies every missing migration in one transaction under a lock, so two bot
  processes starting together apply each migration once. (MySQL and MariaDB commit DDL
  implicitly: there a migration interrupted halfway is finished by the next run, which is why
  migrations create tables with ``safe=True``.)
- A database that is newer than the code (its version is past the end of ``MIGRATIONS``) is
  refused rather than written to.
- Every database error leaves this module as ``StorageFailure`` with a fixed, user-safe message;
  the original error is its ``__cause__`` and is logged with the error's reference id.
- Times are stored as integer microseconds since the Unix epoch, UTC (see ``encode_time``).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

import peewee
from playhouse import db_url

from apex_setup.core.errors import StorageFailure, new_reference

__all__ = [
    "DATABASE_ERRORS",
    "MIGRATIONS",
    "MYSQL_CLIENT_FOUND_ROWS",
    "SQLITE_PRAGMAS",
    "UNAVAILABLE_MESSAGE",
    "Migration",
    "bind_model",
    "decode_time",
    "encode_time",
    "migrate",
    "open_database",
    "schema_version",
    "storage_errors",
]

_log = logging.getLogger(__name__)

#: What a user sees whenever the database fails; the cause goes to the log only.
UNAVAILABLE_MESSAGE = "The bot's database is not available right now."

#: Applied to every SQLite connection: WAL lets readers run beside one writer (two bot processes
#: on one file), and a busy writer is waited for instead of failing at once.
SQLITE_PRAGMAS: dict[str, str | int] = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 5000,
    "synchronous": "normal",
}

#: Errors that mean "the database failed". peewee wraps DB-API errors in its own classes; the
#: sqlite3 ones can still escape from a few driver calls peewee does not wrap.
DATABASE_ERRORS: tuple[type[Exception], ...] = (peewee.PeeweeException, sqlite3.Error)

_SQLITE_SCHEMES = frozenset({"sqlite", "sqlite+pool"})
_MYSQL_SCHEMES = frozenset({"mysql", "mysql+pool"})
#: The MySQL protocol's CLIENT_FOUND_ROWS capability: UPDATE then reports the rows it matched,
#: not only the rows whose values changed, so a compare-and-swap that rewrites equal values is
#: seen as a success instead of a lost race.
MYSQL_CLIENT_FOUND_ROWS = 2
# Any constant shared by every apex-setup process; it names the migration lock.
_MIGRATION_LOCK_KEY = 0x61706578
_MIGRATION_LOCK_NAME = "apex_setup.migrate"
_MYSQL_LOCK_TIMEOUT_SECONDS = 30

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def encode_time(value: datetime) -> int:
    """A timezone-aware datetime as integer microseconds since the Unix epoch.

    Integers are exact and compare in time order on every backend; SQLite has no datetime type,
    MariaDB's DATETIME drops microseconds unless declared DATETIME(6), and drivers disagree on
    what they do with offsets. The arithmetic uses timedelta, never floats, so no microsecond is
    lost.

    Raises:
        ValueError: ``value`` is naive.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the store only accepts timezone-aware datetimes")
    return (value - _EPOCH) // _MICROSECOND


def decode_time(value: int) -> datetime:
    """The inverse of ``encode_time``; always UTC."""
    return _EPOCH + value * _MICROSECOND


# ---------------------------------------------------------------------------------------------
# Opening a database


def open_database(
    url: str | None = None, *, default_path: str = "apex_setup.db"
) -> peewee.Database:
    """A peewee database for ``url``, not yet connected.

    A SQLite file's directory is created when missing; the file itself on first use.

    Args:
        url: a peewee database URL (``sqlite:///path``, ``postgresql://user@host/name``,
            ``mysql://user@host/name``); None for a SQLite file at ``default_path``.
        default_path: the SQLite file used when ``url`` is None.

    Raises:
        StorageFailure: the URL is malformed, names an unsupported scheme or no database. An
            unreachable server is only noticed on first use, which raises StorageFailure too.
    """
    if url is None:
        _log.debug("opening the SQLite database at %s", default_path)
        _make_parent_directory(default_path)
        return peewee.SqliteDatabase(default_path, pragmas=SQLITE_PRAGMAS)

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        _ = parts.port  # urlsplit checks the port lazily, on access
    except ValueError as exc:
        raise StorageFailure("The database URL has an invalid port number.") from exc
    if scheme not in db_url.schemes:
        raise StorageFailure(
            f"The database URL's scheme '{scheme}' is not supported; "
            "use sqlite:///, postgresql:// or mysql://."
        )
    if not parts.path.lstrip("/"):
        raise StorageFailure(
            "The database URL names no database: a file takes three slashes "
            "(sqlite:///apex_setup.db), a server its host and database "
            "(postgresql://user@host/apex_setup)."
        )

    # A URL carries a password percent-encoded when it has reserved characters ("p%40ss").
    # peewee decodes them only when asked, and older releases cannot be asked: decode here.
    options = db_url.parse(url)
    for key in ("user", "password", "passwd"):
        if isinstance(options.get(key), str):
            options[key] = unquote(options[key])
    if "passwd" in options:  # peewee's spelling for MySQLdb; PyMySQL wants "password"
        options["password"] = options.pop("passwd")
    if scheme in _SQLITE_SCHEMES:
        options["pragmas"] = SQLITE_PRAGMAS
        _make_parent_directory(str(options["database"]))
    elif scheme in _MYSQL_SCHEMES:
        flags = options.get("client_flag", 0)
        if not isinstance(flags, int) or isinstance(flags, bool):
            raise StorageFailure("The database URL's client_flag must be a number.")
        options["client_flag"] = flags | MYSQL_CLIENT_FOUND_ROWS
    try:
        database: peewee.Database = db_url.schemes[scheme](**options)
    except (ValueError, TypeError, peewee.PeeweeException) as exc:
        # Their text may quote the URL, password included: keep it out of the error.
        raise StorageFailure("The database URL could not be understood.") from exc
    _log.debug("opened a %s database", scheme)
    return database


def _make_parent_directory(path: str) -> None:
    """SQLite creates a missing file but not a missing directory; create that too."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageFailure("The directory for the database file could not be created.") from exc


# ---------------------------------------------------------------------------------------------
# Error translation


@contextlib.contextmanager
def storage_errors(db: peewee.Database, action: str) -> Iterator[None]:
    """Turn database errors raised inside the block into ``StorageFailure``.

    The user-visible message is always ``UNAVAILABLE_MESSAGE``; the original error is chained
    and logged with the failure's reference. Afterwards the calling thread's connection is
    dropped (unless a transaction is still open on it), so the next call reconnects instead of
    reusing a connection the server may have closed.
    """
    try:
        yield
    except DATABASE_ERRORS as exc:
        reference = new_reference()
        _log.warning("database error during %s (reference %s)", action, reference, exc_info=True)
        _discard_connection(db)
        raise StorageFailure(UNAVAILABLE_MESSAGE, reference=reference) from exc


def _discard_connection(db: peewee.Database) -> None:
    if db.in_transaction():
        return
    try:
        db.close()
    except DATABASE_ERRORS:
        _log.debug("closing a failed connection failed too; forgetting it", exc_info=True)
        db.dispose()


# ---------------------------------------------------------------------------------------------
# Models without a global binding

_M = TypeVar("_M", bound=peewee.Model)


def bind_model(template: type[_M], db: peewee.Database) -> type[_M]:
    """A subclass of ``template`` bound to ``db``.

    peewee binds a model class to one database for the whole process. Binding a fresh subclass
    instead leaves ``template`` unbound, so any number of stores, on any number of databases,
    can use the same table definitions at once.
    """
    meta = type("Meta", (), {"database": db, "table_name": template._meta.table_name})
    namespace = {"Meta": meta, "__module__": template.__module__}
    return cast("type[_M]", type(template.__name__, (template,), namespace))


# ---------------------------------------------------------------------------------------------
# Migrations

#: One schema change. It runs inside migrate()'s transaction and only creates or alters.
Migration = Callable[[peewee.Database], None]


def _migration_1_core_tables(db: peewee.Database) -> None:
    """Panels, the journal (operations and steps), manual cleanup and the audit log."""
    # MySQL's default collation compares case-insensitively; keys must match exactly, as they
    # do on SQLite and PostgreSQL.
    exact = "utf8mb4_bin" if isinstance(db, peewee.MySQLDatabase) else None

    class _Table(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Panels(_Table):
        id = peewee.AutoField()
        guild_id = peewee.BigIntegerField()
        panel_type = peewee.CharField(max_length=64, collation=exact)
        channel_id = peewee.BigIntegerField()
        message_id = peewee.BigIntegerField()
        created_by = peewee.BigIntegerField()
        operation_id = peewee.CharField(max_length=64, collation=exact)
        version = peewee.IntegerField()
        created_at = peewee.BigIntegerField()
        updated_at = peewee.BigIntegerField()

        class Meta:
            table_name = "panels"
            indexes = ((("guild_id", "panel_type"), True),)

    class Operations(_Table):
        id = peewee.CharField(max_length=64, primary_key=True, collation=exact)
        kind = peewee.CharField(max_length=32)
        guild_id = peewee.BigIntegerField()
        user_id = peewee.BigIntegerField()
        panel_type = peewee.CharField(max_length=64, null=True, collation=exact)
        state = peewee.CharField(max_length=32, index=True)
        created_at = peewee.BigIntegerField()
        updated_at = peewee.BigIntegerField()

        class Meta:
            table_name = "operations"

    class Steps(_Table):
        id = peewee.AutoField()
        operation_id = peewee.CharField(max_length=64, collation=exact)
        idx = peewee.IntegerField()
        state = peewee.CharField(max_length=32)
        follow_up = peewee.BooleanField()
        info = peewee.TextField()

        class Meta:
            table_name = "steps"
            indexes = ((("operation_id", "idx"), True),)

    class ManualCleanup(_Table):
        id = peewee.AutoField()
        operation_id = peewee.CharField(max_length=64, collation=exact)
        guild_id = peewee.BigIntegerField()
        channel_id = peewee.BigIntegerField(null=True)
        message_id = peewee.BigIntegerField(null=True)
        description = peewee.TextField()
        reason = peewee.TextField()
        created_at = peewee.BigIntegerField()
        resolved_at = peewee.BigIntegerField(null=True)

        class Meta:
            table_name = "manual_cleanup"
            indexes = ((("guild_id", "resolved_at"), False),)

    class Audit(_Table):
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
            indexes = ((("guild_id", "id"), False),)

    db.create_tables([Panels, Operations, Steps, ManualCleanup, Audit], safe=True)


def _migration_2_guild_settings(db: peewee.Database) -> None:
    """Per-guild settings: the channel audit entries are posted to."""

    class GuildSettings(peewee.Model):
        guild_id = peewee.BigIntegerField(primary_key=True)
        audit_channel_id = peewee.BigIntegerField(null=True)
        updated_at = peewee.BigIntegerField()

        class Meta:
            database = db
            table_name = "guild_settings"

    db.create_tables([GuildSettings], safe=True)


def _migration_3_wizard_sessions(db: peewee.Database) -> None:
    """Setup wizard sessions and the per-guild setup lease."""
    exact = "utf8mb4_bin" if isinstance(db, peewee.MySQLDatabase) else None

    class WizardSessions(peewee.Model):
        id = peewee.CharField(max_length=64, primary_key=True, collation=exact)
        guild_id = peewee.BigIntegerField()
        user_id = peewee.BigIntegerField()
        phase = peewee.CharField(max_length=32)
        version = peewee.IntegerField()
        started_at = peewee.BigIntegerField()
        last_activity = peewee.BigIntegerField()
        # NULL once the session is terminal: the expiry sweep's index holds live ones only.
        expires_at = peewee.BigIntegerField(null=True, index=True)
        # The journal operation of the step in flight, if any.
        operation_id = peewee.CharField(max_length=64, null=True, collation=exact)
        data = peewee.TextField()

        class Meta:
            database = db
            table_name = "wizard_sessions"
            indexes = ((("guild_id", "started_at"), False),)

    class SetupLeases(peewee.Model):
        guild_id = peewee.BigIntegerField(primary_key=True)
        owner = peewee.CharField(max_length=64, collation=exact)
        holder_user_id = peewee.BigIntegerField()
        acquired_at = peewee.BigIntegerField()
        heartbeat_at = peewee.BigIntegerField()
        expires_at = peewee.BigIntegerField()

        class Meta:
            database = db
            table_name = "setup_leases"

    db.create_tables([WizardSessions, SetupLeases], safe=True)


#: The schema's history, oldest first: version N is ``MIGRATIONS[N - 1]``. To change the schema,
#: write ``_migration_<N>_<what>(db)`` and append it here.
MIGRATIONS: tuple[Migration, ...] = (
    _migration_1_core_tables,
    _migration_2_guild_settings,
    _migration_3_wizard_sessions,
)


class _SchemaVersion(peewee.Model):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.CharField(max_length=100)
    applied_at = peewee.BigIntegerField()

    class Meta:
        table_name = "schema_version"


def schema_version(db: peewee.Database) -> int:
    """The highest migration applied to ``db``; 0 for an empty database.

    Raises:
        StorageFailure: the database cannot be read.
    """
    with storage_errors(db, "reading the schema version"):
        if not db.table_exists("schema_version"):
            return 0
        return _read_version(bind_model(_SchemaVersion, db))


def migrate(db: peewee.Database, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the migrations ``db`` lacks, in order, in one transaction; idempotent.

    Returns:
        The schema version afterwards, ``len(migrations)``.

    Raises:
        StorageFailure: the database failed, or its schema is newer than ``migrations``.
    """
    versions = bind_model(_SchemaVersion, db)
    with storage_errors(db, "migrating the schema"), _migration_lock(db):
        # Step 1: where are we?
        versions.create_table(safe=True)
        current = _read_version(versions)
        if current > len(migrations):
            _log.error(
                "the database is at schema version %d but this code knows only %d",
                current,
                len(migrations),
            )
            raise StorageFailure("The bot's database was written by a newer version of apex-setup.")

        # Step 2: apply what is missing, recording each one.
        for version in range(current + 1, len(migrations) + 1):
            step = migrations[version - 1]
            step(db)
            versions.insert(
                version=version,
                name=step.__name__.lstrip("_")[:100],
                applied_at=encode_time(datetime.now(timezone.utc)),
            ).execute()
            _log.info("applied schema migration %d (%s)", version, step.__name__)
        return len(migrations)


def _read_version(versions: type[_SchemaVersion]) -> int:
    highest = versions.select(peewee.fn.MAX(versions.version)).scalar()
    return int(highest or 0)


@contextlib.contextmanager
def _migration_lock(db: peewee.Database) -> Iterator[None]:
    """A transaction that only one process at a time can hold for migrating."""
    if isinstance(db, peewee.SqliteDatabase):
        # BEGIN IMMEDIATE takes the write lock up front; a second process waits busy_timeout.
        with db.atomic(lock_type="IMMEDIATE"):
            yield
    elif isinstance(db, peewee.PostgresqlDatabase):
        with db.atomic():
            _execute(db, "SELECT pg_advisory_xact_lock(%s)", _MIGRATION_LOCK_KEY)
            yield
    elif isinstance(db, peewee.MySQLDatabase):
        # DDL commits implicitly here, so the lock is the session's, not the transaction's.
        cursor = _execute(
            db, "SELECT GET_LOCK(%s, %s)", _MIGRATION_LOCK_NAME, _MYSQL_LOCK_TIMEOUT_SECONDS
        )
        if cursor.fetchone()[0] != 1:
            _log.error(
                "another process held the migration lock for %d s", _MYSQL_LOCK_TIMEOUT_SECONDS
            )
            raise StorageFailure(UNAVAILABLE_MESSAGE)
        try:
            with db.atomic():
                yield
        finally:
            _execute(db, "SELECT RELEASE_LOCK(%s)", _MIGRATION_LOCK_NAME)
    else:
        with db.atomic():
            yield


def _execute(db: peewee.Database, sql: str, *params: object) -> Any:
    """``db.execute_sql``, which the peewee stubs leave untyped; returns the DB-API cursor."""
    return db.execute_sql(sql, params)  # type: ignore[no-untyped-call]
