"""Connections to the warehouse, its mode (TimescaleDB or PostgreSQL), and the SQL files.

This package is the only place in the project that talks to the warehouse database, and this
module is where driver errors become the project's own: :class:`WarehouseUnavailable` for what
may succeed later (the server went away, a timeout, a lost race), :class:`WarehouseError` for the
rest. Code above the package sees only those.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg
import psycopg.errors
import psycopg_pool
from psycopg import sql

from hr_assets.settings import SQL_DIR, get_settings
from hr_assets.warehouse.migration_files import latest_version
from hr_assets.warehouse.urls import redact, unreadable

log = logging.getLogger(__name__)

QUERY_DIR = SQL_DIR / "queries"


# The connection type the warehouse hands out: code above the package names it from here, never
# from the driver.
Connection = psycopg.Connection


class Mode(enum.StrEnum):
    TIMESCALEDB = "timescaledb"
    POSTGRES = "postgres"


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection whose session time zone is UTC, so that SQL date/time functions mean UTC.

    A failure to connect is raised without the URL's password (libpq repeats a URL it cannot parse).
    """
    try:
        return psycopg.connect(url, autocommit=autocommit, options="-c timezone=UTC")
    except psycopg.Error as exc:
        failure = exc
    message = redact(str(failure), url)
    if message == str(failure):
        raise failure
    raise type(failure)(message)  # raised here, outside the except: the original is not its context


def readable_url(url: str) -> str:
    """``url``, once the driver can read it; else :class:`WarehouseError` saying why, the password masked (a pool
    would otherwise log libpq's message, which quotes the part it could not read, at every attempt)."""
    problem = unreadable(url)
    if problem is not None:
        raise WarehouseError(
            f"the database URL cannot be read ({problem}): percent-encode the special characters of its parts, the "
            "password's above all (%20 for a space, %25 for %, %40 for @)"
        )
    return url


@contextmanager
def connection(url: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    with connect(url, autocommit=autocommit) as conn:
        yield conn


def create_database(server_url: str, name: str) -> None:
    """Create database ``name`` on the server at ``server_url`` (as a role allowed to) unless it exists."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a concurrent process made it
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@cache
def query(name: str) -> sql.SQL:
    """The statement in ``sql/queries/<name>.sql`` (named ``%(param)s`` placeholders)."""
    return sql.SQL((QUERY_DIR / f"{name}.sql").read_text())


class ModeError(RuntimeError):
    """The warehouse cannot be built in the mode asked for (HR_WAREHOUSE_MODE); the message says what to do."""


def detect_mode(conn: psycopg.Connection, wanted: str | None = None) -> Mode:
    """The warehouse's mode: the one it was first migrated in, else what ``wanted`` and the server allow.

    ``wanted`` is HR_WAREHOUSE_MODE (default from the settings): ``auto`` takes TimescaleDB where the
    server has it preloaded and PostgreSQL where it is not installed; a TimescaleDB that is installed
    but not preloaded is an error rather than a silent PostgreSQL mode, because a database keeps the
    mode it was first migrated in. ``timescaledb`` requires it; ``postgres`` never uses it.
    """
    wanted = wanted or get_settings().warehouse_mode
    recorded = _recorded_mode(conn)
    if recorded is not None:
        if wanted != "auto" and wanted != recorded.value:
            raise ModeError(
                f"HR_WAREHOUSE_MODE={wanted}, but this database was first migrated in {recorded.value} mode and "
                f"keeps it: unset HR_WAREHOUSE_MODE, or point HR_DATABASE_URL at a new database"
            )
        return recorded
    if wanted == "postgres":
        log.info("HR_WAREHOUSE_MODE=postgres: PostgreSQL mode")
        return Mode.POSTGRES
    installed = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if installed is None:
        if wanted == "timescaledb":
            raise ModeError(
                "HR_WAREHOUSE_MODE=timescaledb, but this server has no TimescaleDB extension installed: install "
                "it (https://docs.timescale.com/self-hosted/latest/install/), or set HR_WAREHOUSE_MODE=postgres"
            )
        log.info("TimescaleDB is not installed on this server: PostgreSQL mode")
        return Mode.POSTGRES
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        # Created by an administrator beforehand (docker/initdb does, a managed service does): the
        # owner role migrating it need not be a superuser, and may not read shared_preload_libraries.
        log.info("TimescaleDB extension present: TimescaleDB mode")
        return Mode.TIMESCALEDB
    preloaded = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    if preloaded is None or "timescaledb" not in str(preloaded[0]):
        # Creating the extension now would end the session; say what to change instead.
        raise ModeError(
            "TimescaleDB is installed on this server but not preloaded: add "
            "shared_preload_libraries = 'timescaledb' to postgresql.conf and restart the server, or set "
            "HR_WAREHOUSE_MODE=postgres to build the warehouse without it (a database keeps that mode)"
        )
    with conn.transaction():
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    log.info("TimescaleDB available: TimescaleDB mode")
    return Mode.TIMESCALEDB


def _recorded_mode(conn: psycopg.Connection) -> Mode | None:
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    found = conn.execute("SELECT mode FROM schema_migrations ORDER BY version LIMIT 1").fetchone()
    return Mode(found[0]) if found else None


# SQLSTATE classes and codes worth retrying: the connection went away (08), the server is
# shutting down or out of resources (57P01-57P03, 53), or the transaction lost a race (40001 serialization
# failure, 40P01 deadlock, 55P03 a lock not available: TimescaleDB refuses a continuous-aggregate refresh
# while another refreshes an overlapping window; the refreshes take turns (aggregates.refresh), and this is
# the second line for any other session's). Everything else (bad data, constraint violations, SQL errors)
# is final.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P01", "57P02", "57P03", "40001", "40P01", "55P03")


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same work later could succeed."""
    if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None:
        return True  # connection refused or lost before the server said anything
    state = getattr(exc, "sqlstate", None)
    return isinstance(exc, psycopg.Error) and state is not None and state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)


class WarehouseError(RuntimeError):
    """A database operation failed; raised from the driver's error at this boundary only."""


class SchemaError(WarehouseError):
    """The warehouse's schema is missing or older than this code: migrations must run first."""


class WarehouseUnavailable(WarehouseError):
    """The database cannot be reached or did not answer in time: worth trying again later."""


class WarehouseTimeout(WarehouseError):
    """A statement ran into its statement timeout: final for a load (the same work would time out
    again), while the query API answers it as unavailable."""


@contextmanager
def translated_errors() -> Iterator[None]:
    """Driver and pool errors as :class:`WarehouseError`; transient ones as :class:`WarehouseUnavailable`.

    The driver's message is kept on the exception (for the server's log); callers that answer
    clients say something generic instead.
    """
    try:
        yield
    except psycopg_pool.PoolTimeout as exc:
        raise WarehouseUnavailable(f"no database connection available: {exc}") from exc
    except psycopg.errors.QueryCanceled as exc:
        raise WarehouseTimeout(f"{type(exc).__name__}: {exc}") from exc
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        # A database not (or not yet fully) migrated: `hr setup` (or a migration still running) fixes it.
        # One sentence for the person at the command line; the driver's words stay on __cause__ for logs.
        raise SchemaError("the warehouse has no schema yet, or an older one than this code: run `hr setup`") from exc
    except psycopg.Error as exc:
        if is_transient(exc):
            raise WarehouseUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise WarehouseError(f"{type(exc).__name__}: {exc}") from exc


# A pooled connection idle for longer than this is checked (one round trip) before it is handed out.
RECHECK_IDLE_SECONDS = 1.0


class ConnectionPool:
    """A pool of warehouse connections (UTC sessions, autocommit), errors translated at the boundary.

    Opened without waiting for the server: a process may start before its database, and the
    pool connects once the server answers. A connection that has been idle is checked before it
    is handed out, so one the server dropped (a restart) is replaced instead of failing a request;
    under load, connections go straight back to work.
    """

    def __init__(
        self,
        url: str,
        *,
        max_size: int,
        statement_timeout_ms: int | None = None,
        read_only: bool = False,
        wait_seconds: float = 5.0,
        name: str = "hr-warehouse",
    ) -> None:
        options = ["-c timezone=UTC"]
        if statement_timeout_ms is not None:
            options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
        if read_only:
            options.append("-c default_transaction_read_only=on")
        self._pool = psycopg_pool.ConnectionPool(
            readable_url(url),
            min_size=1,
            max_size=max_size,
            open=False,
            name=name,
            timeout=wait_seconds,
            # Give up a failing connection attempt soon: the next request then tries again at once,
            # instead of waiting out a back-off that doubles up to minutes after the server is back.
            reconnect_timeout=wait_seconds,
            check=self._check_if_idle,
            kwargs={"autocommit": True, "options": " ".join(options), "application_name": name},
        )
        self._returned: weakref.WeakKeyDictionary[psycopg.Connection, float] = weakref.WeakKeyDictionary()

    def _check_if_idle(self, conn: psycopg.Connection) -> None:
        # A connection handed back moments ago is alive; one that sat idle (the server may have
        # restarted meanwhile) is checked with a round trip before it is handed out.
        if time.monotonic() - self._returned.get(conn, 0.0) > RECHECK_IDLE_SECONDS:
            psycopg_pool.ConnectionPool.check_connection(conn)

    def open(self) -> None:
        self._pool.open(wait=False)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def connection(self, wait_seconds: float | None = None) -> Iterator[psycopg.Connection]:
        """A connection for the block; :class:`WarehouseUnavailable` if none comes within ``wait_seconds``."""
        with translated_errors(), self._pool.connection(timeout=wait_seconds) as conn:
            yield conn
            # Noted here, not in a pool reset callback: with one, every return goes through the
            # pool's worker thread, a thread hop per request (measured ~10% of a cheap request's CPU).
            self._returned[conn] = time.monotonic()

    def stats(self) -> dict[str, Any]:
        """psycopg_pool's figures: pool_size, pool_available, requests_waiting, pool_max, ..."""
        return {**self._pool.get_stats(), "pool_max": self._pool.max_size}


class Warehouse:
    """The warehouse database: connections with translated errors, its mode, a cheap schema check.

    Building one connects to nothing; the first connection or :meth:`check_schema` does.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._mode: Mode | None = None

    @contextmanager
    def connection(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A UTC session for the block (committed at its end unless autocommit); errors translated."""
        with translated_errors(), connect(self.url, autocommit=autocommit) as conn:
            yield conn

    def check_schema(self) -> Mode:
        """The mode, after one query confirming every migration this code knows has been applied.

        Raises :class:`SchemaError` saying what to run when the schema is missing or behind.
        """
        with self.connection(autocommit=True) as conn:
            state = schema_state(conn)
        needed = latest_version()
        if state is None:
            raise SchemaError(
                "the warehouse has no schema yet: run `hr setup` (in docker compose, the migrate service)"
            )
        version, mode = state
        if version > needed:
            raise SchemaError(newer_schema(version, needed))
        if version < needed:
            raise SchemaError(
                f"the warehouse schema is at migration {version:04d} and this code needs {needed:04d}: run `hr setup` "
                "(in docker compose, the migrate service) to apply the migrations"
            )
        self._mode = Mode(mode)
        return self._mode

    @property
    def mode(self) -> Mode:
        return self._mode if self._mode is not None else self.check_schema()


def newer_schema(version: int, known: int) -> str:
    """What to do about a warehouse migrated by a newer release than this code (``known``: its newest migration)."""
    return (
        f"the warehouse schema is at migration {version:04d}, newer than this code, which knows migrations up to "
        f"{known:04d}: a newer release of hr-pipeline migrated it; run that release or a later one (an older one "
        "cannot tell what the newer migrations changed)"
    )


def schema_state(conn: psycopg.Connection) -> tuple[int, str] | None:
    """(newest migration applied, mode), or None when the database was never migrated."""
    if conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone() != (True,):
        return None
    row = conn.execute(query("schema_version")).fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), str(row[1])
