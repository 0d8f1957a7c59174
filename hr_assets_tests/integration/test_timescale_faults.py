"""Faults in TimescaleDB mode, each on a TimescaleDB server the test starts and breaks (``timescale_server.py``).

Loads go into hypertable chunks that the columnstore converts, and the aggregates are continuous aggregates
refreshed in batches on autocommit connections: the failure behaviour production meets. Each test breaks
something at a chosen moment (the server killed, a connection terminated, two refreshes at once, a conversion
or retention running beside a load or a refresh, the disk full) and ends with the same checks
(:func:`assert_consistent`): the raw readings' checksum equals an uninterrupted run's, every continuous
aggregate equals a ``GROUP BY`` of the raw rows, and every load record equals the readings it describes.

The moment is chosen by holding a lock the work needs and waiting, in ``pg_stat_activity``, until it is
blocked on it: no sleeps, no timing assumptions.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from hr_assets.domain.transform import local_day_window, parse_intraday
from hr_assets.warehouse.aggregates import LEVELS, refresh
from hr_assets.warehouse.db import Mode, Warehouse, connect
from hr_assets.warehouse.loads import load_intraday
from hr_assets.warehouse.maintenance import apply_retention, retention_horizon
from hr_assets.warehouse.migrations import migrate
from hr_assets_tests.integration.test_aggregates import USERS, _random_day
from hr_assets_tests.integration.test_faults import GROUP_BY, Operator, _key
from hr_assets_tests.integration.test_faults import _wait as wait_for
from hr_assets_tests.integration.timescale_server import TimescaleServer, own_timescale_server
from hr_assets_tests.integration.warehouse_checks import AGGREGATE, EPOCH, PARTITION_CHECKSUM, assert_consistent
from hr_assets_tests.payloads import intraday

pytestmark = [pytest.mark.timescale, pytest.mark.faults]

RAW = "activities_heart_intraday"
# Consecutive days (a refresh over them is one call of several batches) and two more months apart.
FIRST_DAY = date(2025, 6, 1)
RUN_DAYS = [FIRST_DAY + timedelta(days=n) for n in range(3)]
DAYS = [date(2025, 3, 9), *RUN_DAYS, date(2025, 10, 26)]
Partition = tuple[str, date]
PARTITIONS: list[Partition] = [(user, day) for user in USERS for day in DAYS]
BACKENDS_WAITING = """
SELECT pid FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND datname = current_database()
  AND regexp_replace(query, '^(\\s*--[^\\n]*\\n)*\\s*', '') ILIKE %(start)s
"""


# --- servers, data and moments -------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TimescaleServer]:
    with own_timescale_server(tmp_path / "timescaledb") as started:
        yield started


def _warehouse(server: TimescaleServer, name: str, *, jobs: bool = False) -> str:
    """A database migrated in TimescaleDB mode; the columnstore policy paused unless ``jobs``."""
    url = server.create_database(name)
    assert migrate(url, "timescaledb")[0] is Mode.TIMESCALEDB
    with connect(url, autocommit=True) as conn:
        for user, zone in USERS.items():
            conn.execute(
                "INSERT INTO users (id, display_name, timezone, start_date) VALUES (%s, %s, %s, '2025-01-01')",
                (user, user, zone),
            )
        if not jobs:
            conn.execute(
                "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
                " WHERE hypertable_name = %s",
                (RAW,),
            )
    return url


def _readings(seed: int, partition: Partition) -> Any:
    """The parsed day of ``partition`` in version ``seed`` (1: the first load, 2: the corrected re-load)."""
    user, day = partition
    rng = random_for(seed, partition)
    return parse_intraday(intraday(_random_day(rng)), user_id=user, day=day, timezone=USERS[user])


def random_for(seed: int, partition: Partition) -> random.Random:
    return random.Random(f"{seed}|{partition[0]}|{partition[1].isoformat()}")


def _load(url: str, seed: int, partitions: list[Partition] = PARTITIONS) -> None:
    """Each partition's version ``seed`` through the real loader, a transaction (and a connection) each."""
    for partition in partitions:
        with connect(url) as writer:
            load_intraday(writer, _readings(seed, partition), user_id=partition[0], day=partition[1], source="test")


def _windows(partitions: list[Partition] = PARTITIONS) -> list[tuple[str, datetime, datetime]]:
    return [(user, *local_day_window(day, USERS[user])) for user, day in partitions]


def _refresh(url: str, partitions: list[Partition] = PARTITIONS, not_before: datetime | None = None) -> None:
    for level in ("1m", "1h", "1d"):
        refresh(Warehouse(url), LEVELS[level], _windows(partitions), not_before)


def _reference(server: TimescaleServer, *seeds: int) -> str:
    """An uninterrupted run: every partition loaded in each version of ``seeds`` in turn, then refreshed."""
    url = _warehouse(server, "hr_reference")
    for seed in seeds:
        _load(url, seed)
    _refresh(url)
    return url


def _partition_checksum(url: str, partition: Partition) -> Any:
    start, end = local_day_window(partition[1], USERS[partition[0]])
    with connect(url, autocommit=True) as conn:
        return conn.execute(PARTITION_CHECKSUM, {"user_id": partition[0], "start": start, "end": end}).fetchone()


def _waiting(url: str, statement_start: str) -> list[int]:
    """Backends of ``url``'s database waiting for a lock in a statement that starts so."""
    with connect(url, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(BACKENDS_WAITING, {"start": f"{statement_start}%"}).fetchall()]


@dataclass
class Background:
    """Work on a thread of its own; what it raised, if anything, kept for the test to inspect."""

    work: Callable[[], object]
    raised: list[BaseException] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> Background:
        def run() -> None:
            try:
                self.work()
            except BaseException as exc:  # reported by join()
                self.raised.append(exc)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def join(self) -> BaseException | None:
        assert self.thread is not None
        self.thread.join(timeout=600)
        assert not self.thread.is_alive(), "the background work did not finish"
        return self.raised[0] if self.raised else None


@contextlib.contextmanager
def _held_record(url: str, partition: Partition) -> Iterator[psycopg.Connection]:
    """The partition's load record locked: its re-load writes every reading, then waits at the record."""
    holder = psycopg.connect(url)
    try:
        found = holder.execute(
            "SELECT 1 FROM partition_loads WHERE user_id = %s AND date = %s AND payload = 'intraday' FOR UPDATE",
            partition,
        ).fetchall()
        assert found == [(1,)], partition
        yield holder
    finally:
        with contextlib.suppress(psycopg.Error):
            holder.rollback()
        holder.close()


def _materialization(url: str, level: str) -> str:
    """The hypertable that holds the ``level`` continuous aggregate's buckets, qualified."""
    with connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT format('%%I.%%I', materialization_hypertable_schema, materialization_hypertable_name)"
            " FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
            (LEVELS[level].relation,),
        ).fetchone()
    assert row is not None
    return str(row[0])


def _chunks(url: str, *, converted: bool | None = None) -> list[str]:
    with connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT format('%%I.%%I', chunk_schema, chunk_name), is_compressed FROM timescaledb_information.chunks"
            " WHERE hypertable_name = %s ORDER BY range_start",
            (RAW,),
        ).fetchall()
    return [name for name, is_converted in rows if converted is None or is_converted == converted]


def _convert(url: str, chunks: list[str]) -> None:
    with connect(url, autocommit=True) as conn:
        for chunk in chunks:
            conn.execute("CALL convert_to_columnstore(%s::regclass)", (chunk,))


def _chunk_of(url: str, partition: Partition) -> str:
    start, _ = local_day_window(partition[1], USERS[partition[0]])
    with connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT format('%%I.%%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = %s AND range_start <= %s AND range_end > %s",
            (RAW, start, start),
        ).fetchone()
    assert row is not None, partition
    return str(row[0])


# --- the faults ----------------------------------------------------------------------------------


def test_the_server_killed_during_a_range_runs_aggregate_refresh_then_the_rerun_matches(
    server: TimescaleServer, tmp_path: Path, empty_db_url: str
) -> None:
    operator = Operator(tmp_path / "hr", empty_db_url, [])
    first, last = _key("user1", RUN_DAYS[0]), _key("user2", RUN_DAYS[-1])
    reference = server.create_database("hr_reference")
    operator.setup(reference)
    assert operator.finish(operator.materialize(reference, first, last)).returncode == 0
    url = server.create_database("hr")
    operator.setup(url)
    materialized = _materialization(url, "1m")
    with contextlib.closing(psycopg.connect(url)) as holder:  # closed, not committed: the server is gone
        # The 1-minute buckets' table held: the run loads every partition, then its refresh waits here.
        holder.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.SQL(materialized)))
        run = operator.materialize(url, first, last)
        wait_for(lambda: _waiting(url, "CALL refresh_continuous_aggregate"), "the run's refresh to wait")
        server.crash()
    failed = operator.finish(run)
    assert failed.returncode != 0
    assert "RUN_FAILURE" in failed.stdout, failed.stdout[-3000:]
    assert "Connection refused" in failed.stdout or "server closed the connection" in failed.stdout

    server.start()
    rerun = operator.finish(operator.materialize(url, first, last))
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert_consistent(url, reference)


def test_the_server_killed_while_a_corrected_reload_writes_columnstore_chunks(server: TimescaleServer) -> None:
    url = _warehouse(server, "hr")
    _load(url, seed=1)
    _refresh(url)
    _convert(url, _chunks(url))
    first_version = {p: _partition_checksum(url, p) for p in PARTITIONS}
    in_flight = PARTITIONS[len(PARTITIONS) // 2]
    with _held_record(url, in_flight):
        reload = Background(lambda: _load(url, seed=2)).start()
        wait_for(lambda: _waiting(url, "INSERT INTO partition_loads"), "the re-load to reach the record")
        assert _chunk_of(url, in_flight) in _chunks(url, converted=True), "the re-load writes a columnstore chunk"
        server.crash()
        assert isinstance(reload.join(), psycopg.OperationalError)
    server.start()

    reference = _reference(server, 1, 2)
    done = PARTITIONS.index(in_flight)
    for n, partition in enumerate(PARTITIONS):
        # Each partition is wholly the corrected version (loaded before the crash) or wholly the first.
        expected = _partition_checksum(reference, partition) if n < done else first_version[partition]
        assert _partition_checksum(url, partition) == expected, partition
    _load(url, seed=2)  # the re-run
    _refresh(url)
    assert_consistent(url, reference)


def _loaded_with_target(server: TimescaleServer) -> tuple[str, Partition, str]:
    """A warehouse with every partition loaded and refreshed; a partition to re-load, and its chunk."""
    url = _warehouse(server, "hr")
    _load(url, seed=1)
    _refresh(url)
    target = PARTITIONS[1]
    return url, target, _chunk_of(url, target)


def _assert_converted_and_consistent(server: TimescaleServer, url: str, chunk: str) -> None:
    assert chunk in _chunks(url, converted=True)
    _load(url, seed=2)  # the rest of the corrected re-load
    _refresh(url)
    assert_consistent(url, _reference(server, 1, 2))


def _policy_job(url: str) -> int:
    with connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs WHERE hypertable_name = %s AND proc_name = %s",
            (RAW, "policy_compression"),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _run_job(url: str, job_id: int) -> None:
    with connect(url, autocommit=True) as conn:
        conn.execute("CALL run_job(%s)", (job_id,))


def test_the_columnstore_policy_running_on_chunks_a_reload_is_writing(server: TimescaleServer) -> None:
    url, target, chunk = _loaded_with_target(server)
    job_id = _policy_job(url)
    with _held_record(url, target):
        reload = Background(lambda: _load(url, seed=2, partitions=[target])).start()
        wait_for(lambda: _waiting(url, "INSERT INTO partition_loads"), "the re-load to reach the record")
        # The policy's job, run now, reaches the chunk the re-load has written and not committed, and waits.
        job = Background(lambda: _run_job(url, job_id)).start()
        wait_for(lambda: _waiting(url, "CALL _timescaledb_functions.policy_compression"), "the policy to wait")
        assert chunk not in _chunks(url, converted=True)
    assert reload.join() is None and job.join() is None
    assert _chunks(url, converted=False) == []  # the job converted every chunk, the re-loaded one too
    _assert_converted_and_consistent(server, url, chunk)


def test_a_reload_writing_chunks_a_conversion_is_converting(server: TimescaleServer) -> None:
    url, target, chunk = _loaded_with_target(server)
    with psycopg.connect(url) as converting:
        # A manual conversion, done and not committed: it holds the chunk.
        converting.execute("SELECT compress_chunk(%s::regclass)", (chunk,))
        reload = Background(lambda: _load(url, seed=2, partitions=[target])).start()
        wait_for(lambda: _waiting(url, "") != [], "the re-load to wait for the conversion")
        converting.commit()
    assert reload.join() is None
    _assert_converted_and_consistent(server, url, chunk)


def test_a_refresh_whose_connection_is_terminated_between_batches_is_retried(server: TimescaleServer) -> None:
    url = _warehouse(server, "hr")
    run = [p for p in PARTITIONS if p[1] in RUN_DAYS]
    materialized = _materialization(url, "1m")
    with connect(url, autocommit=True) as conn:
        # A chunk of buckets per day, so that one day's batch can be held while the others go through.
        conn.execute("SELECT set_chunk_time_interval(%s::regclass, interval '1 day')", (materialized,))
    _load(url, seed=1, partitions=run)
    _refresh(url, run)
    _load(url, seed=2, partitions=run)
    middle = RUN_DAYS[1]
    with connect(url, autocommit=True) as conn:
        held = conn.execute(
            "SELECT format('%%I.%%I', c.chunk_schema, c.chunk_name) FROM timescaledb_information.chunks c"
            " WHERE format('%%I.%%I', c.hypertable_schema, c.hypertable_name) = %s AND c.range_start = %s",
            (materialized, datetime.combine(middle, datetime.min.time(), UTC)),
        ).fetchone()
    assert held is not None
    window = [(user, *local_day_window(day, USERS[user])) for user, day in run]
    with psycopg.connect(url) as holder:
        holder.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.SQL(str(held[0]))))
        refreshing = Background(lambda: refresh(Warehouse(url), LEVELS["1m"], window)).start()
        wait_for(lambda: _waiting(url, "CALL refresh_continuous_aggregate"), "the refresh to reach the held day")
        # Batches before the held day are committed: some 1-minute buckets already show the re-load.
        assert _committed_buckets(url, [d for d in RUN_DAYS if d != middle]) > 0
        [pid] = _waiting(url, "CALL refresh_continuous_aggregate")
        with connect(url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        assert isinstance(refreshing.join(), Exception)
    _refresh(url, run)  # the run's retry
    assert_consistent(url, _reference_of(server, run))


def test_two_runs_refreshing_overlapping_windows_at_once_both_complete(server: TimescaleServer) -> None:
    # A history run and a forced nightly refreshing the same days: TimescaleDB refuses a second refresh of an
    # overlapping window while the first is under way (55P03), so the second must wait its turn, not fail.
    url = _warehouse(server, "hr")
    run = [p for p in PARTITIONS if p[1] in RUN_DAYS]
    _load(url, seed=1, partitions=run)
    _refresh(url, run)
    _load(url, seed=2, partitions=run)
    materialized = _materialization(url, "1m")
    with psycopg.connect(url) as holder:
        holder.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.SQL(materialized)))
        first = Background(lambda: _refresh(url, run)).start()
        wait_for(lambda: _waiting(url, "CALL refresh_continuous_aggregate"), "the first refresh to wait")
        second = Background(lambda: _refresh(url, run[1:])).start()
        wait_for(lambda: second.raised or _waiting(url, "SELECT pg_advisory_lock"), "the second refresh to queue")
    assert first.join() is None
    assert second.join() is None
    assert_consistent(url, _reference_of(server, run))


def _committed_buckets(url: str, days: list[date]) -> int:
    """1-minute buckets of ``days`` (UTC) that equal a GROUP BY of the raw rows now."""
    with connect(url, autocommit=True) as conn:
        expected = set(conn.execute(GROUP_BY, {"unit": "minute"}).fetchall())
        actual = conn.execute(sql.SQL(AGGREGATE).format(sql.Identifier(LEVELS["1m"].relation)), {"since": EPOCH})
        return sum(1 for row in actual if row in expected and row[1].date() in days)


def _reference_of(server: TimescaleServer, partitions: list[Partition]) -> str:
    url = _warehouse(server, "hr_reference")
    _load(url, 1, partitions)
    _load(url, 2, partitions)
    _refresh(url, partitions)
    return url


def test_retention_dropping_raw_chunks_while_a_refresh_covers_them_keeps_the_aggregates(
    server: TimescaleServer,
) -> None:
    url = _warehouse(server, "hr")
    _load(url, seed=1)
    _refresh(url)
    # A horizon between the June days and the October one; whole days, as HR_RETENTION_DAYS counts them.
    retention_days = (datetime.now(UTC) - datetime(2025, 9, 1, tzinfo=UTC)).days
    horizon = retention_horizon(retention_days)
    assert horizon is not None
    with connect(url, autocommit=True) as conn:
        before = {
            level: conn.execute(
                sql.SQL(AGGREGATE.replace(">=", "<")).format(sql.Identifier(LEVELS[level].relation)),
                {"since": horizon},
            ).fetchall()
            for level in LEVELS
        }
    kept = [p for p in PARTITIONS if p[1] > horizon.date()]
    _load(url, seed=2, partitions=kept)  # the days after the horizon corrected
    materialized = _materialization(url, "1m")
    dropped: list[int] = []
    with psycopg.connect(url) as holder:
        holder.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.SQL(materialized)))
        # The run's refresh over every day, its floor the horizon (as the refresh assets call it).
        refreshing = Background(lambda: _refresh(url, PARTITIONS, not_before=horizon)).start()
        wait_for(lambda: _waiting(url, "CALL refresh_continuous_aggregate"), "the refresh to wait")
        # The maintenance job's retention while the refresh is in the middle of its window.
        retention = Background(lambda: dropped.append(apply_retention(Warehouse(url), retention_days))).start()
        wait_for(lambda: dropped or _waiting(url, "SELECT count(*) AS dropped_chunks"), "the retention to run")
    assert refreshing.join() is None and retention.join() is None
    assert dropped[0] > 0
    with connect(url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM activities_heart_intraday WHERE time < %s", (horizon,)
        ).fetchone() == (0,)
        for level in LEVELS:
            after = conn.execute(
                sql.SQL(AGGREGATE.replace(">=", "<")).format(sql.Identifier(LEVELS[level].relation)),
                {"since": horizon},
            ).fetchall()
            assert after == before[level] and after, f"{level} lost buckets before the horizon"
    reference = _warehouse(server, "hr_reference")
    _load(reference, 1, kept)
    _load(reference, 2, kept)
    _refresh(reference, kept)
    assert_consistent(url, reference, since=_first_whole_day_after(horizon))


def _first_whole_day_after(moment: datetime) -> datetime:
    return datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)


# --- the disk full -------------------------------------------------------------------------------

# The small filesystem holding the readings' tablespace; what is left free once it is filled, enough for a
# few partitions (about 150 kB of rows and index each) and not for all of them.
SMALL_FILESYSTEM = "16m"
LEFT_FREE_BYTES = 600_000


@contextlib.contextmanager
def _small_filesystem() -> Iterator[Path]:
    """A tmpfs of SMALL_FILESYSTEM for the block (in the system's temporary folder, which the server's account
    can enter), always unmounted and removed; skips where it cannot mount."""
    path = Path(tempfile.mkdtemp(prefix="hr-small-fs-"))
    path.chmod(0o711)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SMALL_FILESYSTEM},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        path.rmdir()
        pytest.skip(f"a small filesystem for the disk-full test cannot be mounted here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", str(path)], capture_output=True, check=False)
        path.rmdir()


def test_the_disk_filling_up_during_a_load_fails_it_clearly_and_keeps_the_warehouse_consistent(
    tmp_path: Path,
) -> None:
    with _small_filesystem() as small, own_timescale_server(tmp_path / "timescaledb") as server:
        location = small / "tablespace"
        location.mkdir()
        server.give(location)
        url = _warehouse(server, "hr")
        with connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE TABLESPACE hr_small LOCATION {}").format(sql.Literal(str(location))))
            conn.execute("SELECT attach_tablespace('hr_small', %s)", (RAW,))
            conn.execute("SELECT detach_tablespace('pg_default', %s, if_attached => true)", (RAW,))
        filler = small / "filler"
        free = subprocess.run(["df", "--output=avail", "-B1", str(small)], capture_output=True, text=True, check=True)
        filler.write_bytes(b"\0" * (int(free.stdout.split()[-1]) - LEFT_FREE_BYTES))
        failures: dict[Partition, str] = {}
        for partition in PARTITIONS:
            try:
                _load(url, 1, [partition])
            except psycopg.Error as exc:
                failures[partition] = str(exc)
        assert failures, "the disk never filled up"
        assert len(failures) < len(PARTITIONS), "no partition was loaded before the disk filled up"
        assert all("No space left on device" in why for why in failures.values()), failures
        with connect(url, autocommit=True) as conn:
            recorded = {tuple(r) for r in conn.execute("SELECT user_id, date FROM partition_loads").fetchall()}
        assert recorded == set(PARTITIONS) - set(failures)
        filler.unlink()  # space freed: the operator re-runs the failed partitions
        _load(url, 1, list(failures))
        _refresh(url)
        assert_consistent(url, _reference(server, 1))
