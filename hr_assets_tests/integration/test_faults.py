"""Faults during real runs: each test starts its own embedded PostgreSQL server for the warehouse,
runs the operator's command (``hr dagster asset materialize``) against it, and breaks something
at a chosen moment: the server stops, a connection is dropped, two runs collide, a statement
times out. Dagster's own storage is a database on the tests' shared server, which stays up.

The moment is chosen by holding a lock the run needs and waiting, in ``pg_locks`` or
``pg_stat_activity``, until the run is blocked on it: no sleeps, no timing assumptions. Every
test also searches what the runs wrote (console output, Dagster's event log and files) for the
warehouse password.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from hr_assets.local import localdb
from hr_assets.warehouse.aggregates import LEVELS
from hr_assets.warehouse.db import query
from hr_assets_tests.conftest import MATERIALIZE_HEART_RATE, advisory_waiters

pytestmark = pytest.mark.faults

FIRST_DAY = date(2025, 6, 1)
DAYS = 3
USERS = ("user1", "user2")  # registered by `hr setup`, in this order
# A wait for the database to reach a state (a lock waited on, a server gone): generous, as the
# machine may be busy; a test that gets there sooner goes on at once.
WAIT_S = 120
# Steps retried after a transient error wait this long (then double it): the tests wait for real.
RETRY_DELAY_S = "0.5"

RAW_CHECKSUM = """
SELECT count(*), md5(coalesce(string_agg(user_id || '|' || time::text || '|' || bpm, ',' ORDER BY user_id, time), ''))
FROM activities_heart_intraday
"""
PARTITION_CHECKSUM = """
SELECT count(*), md5(coalesce(string_agg(time::text || '|' || bpm, ',' ORDER BY time), ''))
FROM activities_heart_intraday h JOIN users u ON u.id = h.user_id
WHERE h.user_id = %(user_id)s AND (h.time AT TIME ZONE u.timezone)::date = %(day)s
"""
GROUP_BY = """
SELECT user_id, date_trunc(%(unit)s, time) AS bucket, min(bpm), max(bpm), count(*), sum(bpm)
FROM activities_heart_intraday GROUP BY 1, 2 ORDER BY 1, 2
"""
AGGREGATE = "SELECT user_id, bucket, min_bpm, max_bpm, sample_count, sum_bpm FROM {} ORDER BY 1, 2"


def _partitions() -> list[tuple[str, date]]:
    """The run's partitions in the order it loads them: by user, then day."""
    return [(user, FIRST_DAY + timedelta(days=n)) for user in USERS for n in range(DAYS)]


@dataclass
class FaultServer:
    """An embedded server of this test's own, which the test may stop and start."""

    root: Path
    server: localdb.LocalServer

    def url(self, database: str) -> str:
        return localdb.ensure_database(self.server, database)

    def crash(self) -> None:
        """Stop at once, as a power cut or an OOM kill would: SIGQUIT to the postmaster (immediate shutdown)."""
        pid = int((self.root / "data/postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGQUIT)
        _wait(lambda: not _alive(pid), "the server to stop")

    def start(self) -> None:
        self.server = localdb.ensure_running(self.root)  # recovers from the crash; the port may change


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_S} s for {what}")
        time.sleep(0.05)


@pytest.fixture
def fault_server(tmp_path: Path) -> Iterator[FaultServer]:
    root = tmp_path / "fault-postgres"
    controlled = FaultServer(root, localdb.ensure_running(root))
    try:
        yield controlled
    finally:
        localdb.stop(root)


@dataclass
class Operator:
    """Runs ``hr`` as an operator would, against one warehouse database and one Dagster instance."""

    home: Path
    storage_url: str
    outputs: list[str]

    def hr(self, warehouse_url: str, *args: str) -> subprocess.Popen[str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("HR_", "DAGSTER_"))}
        env |= {
            "HR_DATABASE_URL": warehouse_url,
            "HR_DAGSTER_STORAGE_URL": self.storage_url,
            "HR_HOME": str(self.home),
            "HR_RETRY_DELAY_SECONDS": RETRY_DELAY_S,
        }
        hr = str(Path(sys.executable).parent / "hr")
        return subprocess.Popen(
            [hr, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )

    def finish(self, process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
        try:
            output, _ = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        self.outputs.append(output)
        return subprocess.CompletedProcess(process.args, process.returncode, output)

    def setup(self, warehouse_url: str) -> None:
        """``hr setup``, then the default users' start date moved back to FIRST_DAY as an operator would
        (``hr users update``): the partition space starts at the earliest start date (docs/study.md), and
        ``hr setup`` starts them a month before today."""
        done = self.finish(self.hr(warehouse_url, "setup"))
        assert done.returncode == 0, done.stdout[-3000:]
        for user in USERS:
            moved = self.finish(self.hr(warehouse_url, "users", "update", user, "--start-date", FIRST_DAY.isoformat()))
            assert moved.returncode == 0, moved.stdout[-3000:]

    def materialize(self, warehouse_url: str, first: str, last: str) -> subprocess.Popen[str]:
        return self.hr(warehouse_url, *MATERIALIZE_HEART_RATE, "--partition-range", f"{first}...{last}")


def _key(user: str, day: date) -> str:
    return f"{day.isoformat()}|{user}"


RANGE = (_key(USERS[0], FIRST_DAY), _key(USERS[-1], FIRST_DAY + timedelta(days=DAYS - 1)))


@pytest.fixture
def operator(tmp_path: Path, empty_db_url: str, fault_server: FaultServer) -> Iterator[Operator]:
    """The operator's commands; afterwards, the warehouse password is nowhere in what the runs left."""
    made = Operator(tmp_path / "hr", empty_db_url, [])
    yield made
    password = fault_server.server.password
    for output in made.outputs:
        assert password not in output
    with psycopg.connect(empty_db_url, autocommit=True) as storage:
        for table, column in storage.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'json', 'jsonb')"
        ).fetchall():
            found = storage.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}::text LIKE %s").format(
                    sql.Identifier(table), sql.Identifier(column)
                ),
                (f"%{password}%",),
            ).fetchone()
            assert found == (0,), f"the warehouse password is in Dagster's {table}.{column}"
        assert storage.execute("SELECT count(*) FROM event_logs").fetchone() != (0,)  # there was something to search
    for path in made.home.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path


def _checksums(url: str) -> tuple[Any, dict[tuple[str, date], Any]]:
    with psycopg.connect(url) as conn:
        whole = conn.execute(RAW_CHECKSUM).fetchone()
        parts = {
            (user, day): conn.execute(PARTITION_CHECKSUM, {"user_id": user, "day": day}).fetchone()
            for user, day in _partitions()
        }
    return whole, parts


def _assert_aggregates_equal_a_group_by(url: str) -> None:
    with psycopg.connect(url) as conn:
        for level, unit in (("1m", "minute"), ("1h", "hour"), ("1d", "day")):
            expected = conn.execute(GROUP_BY, {"unit": unit}).fetchall()
            actual = conn.execute(sql.SQL(AGGREGATE).format(sql.Identifier(LEVELS[level].relation))).fetchall()
            assert len(expected) > 0 and actual == expected, level


def _reference(operator: Operator, fault_server: FaultServer) -> tuple[Any, dict[tuple[str, date], Any]]:
    """An uninterrupted run of the range, in a database of its own."""
    url = fault_server.url("hr_reference")
    operator.setup(url)
    done = operator.finish(operator.materialize(url, *RANGE))
    assert done.returncode == 0, done.stdout[-3000:]
    return _checksums(url)


def _backends_waiting(conn: psycopg.Connection, query_start: str) -> list[int]:
    """Backends of this server waiting for a lock while running a statement that starts so (after the
    comments a statement from sql/queries/ may begin with)."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND regexp_replace(query, '^(\\s*--[^\\n]*\\n)*\\s*', '') LIKE %s",
        (f"{query_start}%",),
    ).fetchall()
    return [pid for (pid,) in rows]


def test_the_server_stopping_mid_range_fails_the_run_leaves_no_half_partition_and_a_rerun_matches(
    fault_server: FaultServer, operator: Operator
) -> None:
    reference, reference_parts = _reference(operator, fault_server)
    url = fault_server.url("hr")
    operator.setup(url)
    in_flight = _partitions()[DAYS + 1]  # user2's second day: five partitions before it
    with contextlib.closing(psycopg.connect(url)) as holder:  # closed, not committed: the server is gone
        # The partition's load record, locked: its load writes every reading, then waits at the record.
        holder.execute(
            "INSERT INTO partition_loads (user_id, date, payload, rows_loaded, rows_quarantined, loaded_at) "
            "VALUES (%s, %s, 'intraday', 0, 0, now())",
            in_flight,
        )
        holder.commit()
        holder.execute("SELECT 1 FROM partition_loads WHERE (user_id, date) = (%s, %s) FOR UPDATE", in_flight)
        run = operator.materialize(url, *RANGE)
        with psycopg.connect(url, autocommit=True) as watcher:
            _wait(lambda: _backends_waiting(watcher, "INSERT INTO partition_loads"), "the load to reach the record")
            # It has written (its transaction has an id: the COPY of the day's readings), not committed.
            writing = watcher.execute(
                "SELECT backend_xid IS NOT NULL FROM pg_stat_activity WHERE query LIKE '%INSERT INTO partition_loads%' "
                "AND wait_event_type = 'Lock'"
            ).fetchall()
            assert writing == [(True,)]
        fault_server.crash()
    failed = operator.finish(run)

    assert failed.returncode != 0
    # What the operator reads: the step that failed and why, after the retries.
    step_failed = r'Execution of step "activities_heart_intraday" failed\.\s+Exceeded max_retries of 3:'
    assert re.search(step_failed, failed.stdout), failed.stdout[-5000:]
    assert 'connection to server at "127.0.0.1", port ' in failed.stdout and "Connection refused" in failed.stdout
    assert "RUN_FAILURE" in failed.stdout
    # The retries: the in-flight load lost its connection, then the server refused new ones.
    retries = _retries(operator.storage_url)
    assert [step for step, _ in retries] == ["activities_heart_intraday"] * 3
    assert "OperationalError: consuming input failed: server closed the connection unexpectedly" in retries[0][1]
    assert all("Connection refused" in why for _, why in retries[1:])

    fault_server.start()
    url = fault_server.url("hr")
    _, after_crash = _checksums(url)
    for partition, checksum in after_crash.items():
        # Each partition is all there, or not there at all.
        assert checksum in (reference_parts[partition], (0, "d41d8cd98f00b204e9800998ecf8427e")), partition
    assert after_crash[in_flight][0] == 0
    assert all(after_crash[p] == reference_parts[p] for p in _partitions()[: DAYS + 1])

    rerun = operator.finish(operator.materialize(url, *RANGE))
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert _checksums(url) == (reference, reference_parts)
    _assert_aggregates_equal_a_group_by(url)


def _retries(storage_url: str) -> list[tuple[str, str]]:
    """(step, event) of every step retry Dagster recorded, oldest first."""
    with psycopg.connect(storage_url) as storage:
        return storage.execute(
            "SELECT step_key, event FROM event_logs WHERE dagster_event_type = 'STEP_UP_FOR_RETRY' ORDER BY id"
        ).fetchall()


def test_a_connection_dropped_during_an_aggregate_refresh_is_retried_and_the_aggregates_are_right(
    fault_server: FaultServer, operator: Operator, empty_db_url: str
) -> None:
    url = fault_server.url("hr")
    operator.setup(url)
    relation = LEVELS["1m"].relation
    with psycopg.connect(url) as holder:
        holder.execute(query("rollup_lock"), {"relation": relation, "user_id": USERS[1]})
        run = operator.materialize(url, *RANGE)
        with psycopg.connect(url, autocommit=True) as watcher:
            _wait(lambda: advisory_waiters(watcher, relation, USERS[1]), "user2's 1-minute rollup to wait")
            [pid] = advisory_waiters(watcher, relation, USERS[1])
            # The refresh's connection goes away, as in a failover or an idle-connection reaper.
            assert watcher.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        holder.rollback()
    done = operator.finish(run)

    assert done.returncode == 0, done.stdout[-5000:]
    # Dagster's event log (the UI's run view) has the retry and why.
    [(step, why)] = _retries(empty_db_url)
    assert step == relation and "AdminShutdown: terminating connection due to administrator command" in why
    _assert_aggregates_equal_a_group_by(url)


def test_two_runs_of_the_same_partition_at_once_serialise_and_equal_one_run(
    fault_server: FaultServer, operator: Operator
) -> None:
    user, day = _partitions()[0]
    reference_url = fault_server.url("hr_reference")
    operator.setup(reference_url)
    assert operator.finish(operator.materialize(reference_url, _key(user, day), _key(user, day))).returncode == 0
    url = fault_server.url("hr")
    operator.setup(url)
    with psycopg.connect(url) as holder:
        holder.execute(query("intraday_lock_partition"), {"user_id": user, "day_number": day.toordinal()})
        runs = [operator.materialize(url, _key(user, day), _key(user, day)) for _ in range(2)]
        with psycopg.connect(url, autocommit=True) as watcher:
            # Both runs inside the load of the same partition, both waiting for its lock.
            _wait(lambda: len(advisory_waiters(watcher, user, day.toordinal())) == 2, "both loads to wait")
        holder.rollback()
    results = [operator.finish(run) for run in runs]

    assert [r.returncode for r in results] == [0, 0], [r.stdout[-3000:] for r in results]
    tables = ("activities_heart_intraday", "activities_heart_summary", "quarantine", "partition_loads")
    with psycopg.connect(url) as conn, psycopg.connect(reference_url) as reference:
        assert conn.execute(RAW_CHECKSUM).fetchone() == reference.execute(RAW_CHECKSUM).fetchone()
        for table in tables:
            count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            assert conn.execute(count).fetchone() == reference.execute(count).fetchone(), table
    _assert_aggregates_equal_a_group_by(url)


def test_a_statement_timeout_fails_the_partitions_it_stops_and_says_so(
    fault_server: FaultServer, operator: Operator
) -> None:
    url = fault_server.url("hr")
    operator.setup(url)
    with psycopg.connect(url, autocommit=True) as admin:
        # As on a managed server with a statement timeout, while a maintenance session
        # (VACUUM FULL, REINDEX, a migration) holds the table.
        admin.execute("ALTER DATABASE hr SET statement_timeout = '1s'")
    user = USERS[0]
    first, last = _key(user, FIRST_DAY), _key(user, FIRST_DAY + timedelta(days=1))
    with psycopg.connect(url) as maintenance:
        maintenance.execute("LOCK TABLE activities_heart_intraday IN SHARE MODE")
        done = operator.finish(operator.materialize(url, first, last))
        maintenance.rollback()

    assert done.returncode != 0
    for day in (FIRST_DAY, FIRST_DAY + timedelta(days=1)):
        line = f"- {day}|{user}: intraday {user} {day}: QueryCanceled: canceling statement due to statement timeout"
        assert line in done.stdout, done.stdout[-5000:]
    assert "2 of 2 intraday partition(s) could not be loaded" in done.stdout
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM activities_heart_intraday").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM partition_loads").fetchone() == (0,)
