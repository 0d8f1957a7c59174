"""Which database errors the warehouse retries (warehouse.db.is_transient): lost races and
shutdowns, not data errors.
"""

from __future__ import annotations

import psycopg
import psycopg.errors
import pytest

from hr_assets.warehouse.db import is_transient
from hr_assets_tests.integration.orchestration import (
    _closed_port,
    _register,
)

# --- retries ----------------------------------------------------------------------------------


def test_a_refused_connection_is_transient() -> None:
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(f"postgresql://hr@127.0.0.1:{_closed_port()}/hr", connect_timeout=5)
    assert is_transient(refused.value)


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.SerializationFailure(),
        psycopg.errors.DeadlockDetected(),
        psycopg.errors.AdminShutdown(),
        psycopg.errors.LockNotAvailable(),  # "could not refresh continuous aggregate ... due to a concurrent refresh"
    ],
    ids=lambda e: type(e).__name__,
)
def test_lost_races_and_shutdowns_are_transient(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [psycopg.errors.DataError(), psycopg.errors.UniqueViolation(), psycopg.errors.QueryCanceled(), ValueError("x")],
    ids=lambda e: type(e).__name__,
)
def test_data_errors_are_not_transient(error: Exception) -> None:
    assert not is_transient(error)


def test_errors_from_a_real_server_are_classified(conn: psycopg.Connection, db_url: str) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation) as duplicate:
        _register(conn, "twice", "UTC")
        conn.execute(
            "INSERT INTO users (id, display_name, timezone, source, seed, start_date) "
            "SELECT id, display_name, timezone, source, seed, start_date FROM users WHERE id = 'twice'"
        )
    assert not is_transient(duplicate.value)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation) as bad_data:
        conn.execute("SELECT 'sixty'::smallint")
    assert not is_transient(bad_data.value)
    # The server ending a session (as a restart or a failover does) is worth a retry.
    with psycopg.connect(db_url, autocommit=True) as victim:
        pid = victim.info.backend_pid
        conn.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(psycopg.OperationalError) as terminated:
            victim.execute("SELECT 1")
    assert is_transient(terminated.value)
