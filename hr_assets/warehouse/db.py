"""Connections to the warehouse, its mode (TimescaleDB or PostgreSQL), and the SQL files.

This package is the only place in the project that talks to the warehouse database.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import psycopg
from psycopg import sql

from hr_assets.settings import SQL_DIR
from hr_assets.warehouse.urls import redact

log = logging.getLogger(__name__)

QUERY_DIR = SQL_DIR / "queries"


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


@contextmanager
def connection(url: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    with connect(url, autocommit=autocommit) as conn:
        yield conn


@cache
def query(name: str) -> sql.SQL:
    """The statement in ``sql/queries/<name>.sql`` (named ``%(param)s`` placeholders)."""
    return sql.SQL((QUERY_DIR / f"{name}.sql").read_text())


def detect_mode(conn: psycopg.Connection) -> Mode:
    """TimescaleDB mode when the extension is (or can be) installed in this database.

    A database keeps the mode it was first migrated in (recorded in ``schema_migrations``),
    so installing TimescaleDB later does not leave plain tables posing as hypertables.
    """
    recorded = _recorded_mode(conn)
    if recorded is not None:
        return recorded
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        log.info("TimescaleDB not available (%s): PostgreSQL mode", str(exc).strip().splitlines()[0])
        return Mode.POSTGRES
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
# failure, 40P01 deadlock). Everything else (bad data, constraint violations, SQL errors) is final.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P01", "57P02", "57P03", "40001", "40P01")


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same work later could succeed."""
    if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None:
        return True  # connection refused or lost before the server said anything
    state = getattr(exc, "sqlstate", None)
    return isinstance(exc, psycopg.Error) and state is not None and state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
