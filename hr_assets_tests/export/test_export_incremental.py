"""An export kept up to date: only the files of changed participant-days are written again, and an export
killed while writing leaves the previous one whole."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

from hr_assets.domain.export_runner import ExportRequest, run_export
from hr_assets.warehouse.db import Warehouse
from hr_assets_tests.export.helpers import duck, reload_day, table_glob

CHANGED_USER = "zurich-one"
CHANGED_DAY = date(2024, 4, 1)
KILL_WAIT_SECONDS = 120


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("part-0.*")}


def test_a_reloaded_day_rewrites_only_its_participant_month_and_daily_files(export_db: str, tmp_path: Path) -> None:
    root = tmp_path / "study"
    first = run_export(Warehouse(export_db), ExportRequest(str(root)))
    before = _mtimes(root)
    assert len(first.written) == len(before) and first.unchanged == 0

    reload_day(export_db, CHANGED_USER, CHANGED_DAY)
    second = run_export(Warehouse(export_db), ExportRequest(str(root)))

    changed = {
        f"readings/user_id={CHANGED_USER}/month=2024-04/part-0.parquet",
        f"minute/user_id={CHANGED_USER}/month=2024-04/part-0.parquet",
        f"hour/user_id={CHANGED_USER}/month=2024-04/part-0.parquet",
        f"day/user_id={CHANGED_USER}/part-0.parquet",
        f"wear/user_id={CHANGED_USER}/part-0.parquet",  # the day's wear record is its (new) load record
    }
    assert {f.path for f in second.written} == changed
    assert second.unchanged == len(before) - len(changed)
    after = _mtimes(root)
    assert {path for path in before if after[path] != before[path]} == changed
    manifest = json.loads((root / "manifest.json").read_text())
    for path in changed:
        assert manifest["files"][path]["sha256"] == hashlib.sha256((root / path).read_bytes()).hexdigest()

    third = run_export(Warehouse(export_db), ExportRequest(str(root)))
    assert third.written == [] and _mtimes(root) == after


def test_a_new_day_rewrites_its_month_and_the_per_participant_files_not_the_other_months(
    export_db: str, tmp_path: Path
) -> None:
    root = tmp_path / "study"
    run_export(Warehouse(export_db), ExportRequest(str(root)))
    reload_day(export_db, CHANGED_USER, CHANGED_DAY + timedelta(days=1))  # the nightly load of the next day
    summary = run_export(Warehouse(export_db), ExportRequest(str(root)))
    assert sorted(f.path for f in summary.written) == [
        f"day/user_id={CHANGED_USER}/part-0.parquet",
        f"hour/user_id={CHANGED_USER}/month=2024-04/part-0.parquet",
        f"minute/user_id={CHANGED_USER}/month=2024-04/part-0.parquet",
        "participants/part-0.parquet",  # the participant's last day moved
        f"readings/user_id={CHANGED_USER}/month=2024-04/part-0.parquet",
        f"wear/user_id={CHANGED_USER}/part-0.parquet",  # the new day's wear record
    ]


def test_at_a_quarter_hour_offset_the_previous_months_hour_file_follows_the_next_days_reload(
    export_db: str, tmp_path: Path
) -> None:
    root = tmp_path / "study"
    run_export(Warehouse(export_db), ExportRequest(str(root)))
    # Kathmandu's 2024-04-01 starts at 18:15 UTC: the hour bucket from 18:00 begins on local 2024-03-31.
    reload_day(export_db, "kathmandu-two", CHANGED_DAY)
    written = {f.path for f in run_export(Warehouse(export_db), ExportRequest(str(root))).written}
    assert "hour/user_id=kathmandu-two/month=2024-03/part-0.parquet" in written
    assert "minute/user_id=kathmandu-two/month=2024-03/part-0.parquet" not in written
    assert "readings/user_id=kathmandu-two/month=2024-03/part-0.parquet" not in written


def test_other_parameters_rewrite_the_export_and_remove_files_it_no_longer_has(export_db: str, tmp_path: Path) -> None:
    root = tmp_path / "study"
    run_export(Warehouse(export_db), ExportRequest(str(root)))
    narrower = run_export(Warehouse(export_db), ExportRequest(str(root), user_ids=(CHANGED_USER,), tables=("day",)))
    assert [f.path for f in narrower.written] == [f"day/user_id={CHANGED_USER}/part-0.parquet"]
    assert sorted(str(p.relative_to(root)) for p in root.rglob("part-0.*")) == [
        f"day/user_id={CHANGED_USER}/part-0.parquet"
    ]
    assert len(narrower.removed) > 20


def _correct_one_day(url: str) -> None:
    """A corrected re-load of CHANGED_DAY as the loader records it: every bpm one higher, a new load record."""
    with psycopg.connect(url, options="-c timezone=UTC") as conn:
        conn.execute(
            "UPDATE activities_heart_intraday SET bpm = bpm + 1 WHERE user_id = %(u)s "
            "AND time >= '2024-03-31 22:00+00' AND time < '2024-04-01 22:00+00'",
            {"u": CHANGED_USER},
        )
        conn.execute(
            "UPDATE partition_loads SET loaded_at = now(), sum_bpm = sum_bpm + rows_loaded "
            "WHERE user_id = %(u)s AND date = %(d)s AND payload = 'intraday'",
            {"u": CHANGED_USER, "d": CHANGED_DAY},
        )


# Writes row groups of 1,000 rows and stops for a minute after the first: the test kills it there.
_SLOW_EXPORT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import hr_assets.domain.export_runner as runner
    from hr_assets.domain import export as domain
    from hr_assets.warehouse.db import Warehouse

    url, destination, flag = sys.argv[1:4]
    runner.ROW_GROUP_ROWS = 1000
    write = domain.TableWriter.write

    def slow_write(self, batch):
        write(self, batch)
        Path(flag).touch()
        time.sleep(60)

    domain.TableWriter.write = slow_write
    runner.run_export(Warehouse(url), runner.ExportRequest(destination))
    """
)


def test_an_export_killed_mid_file_leaves_the_previous_export_whole(export_db: str, tmp_path: Path) -> None:
    root = tmp_path / "study"
    run_export(Warehouse(export_db), ExportRequest(str(root)))
    manifest = json.loads((root / "manifest.json").read_text())
    _correct_one_day(export_db)

    flag = tmp_path / "writing"
    process = subprocess.Popen([sys.executable, "-c", _SLOW_EXPORT, export_db, str(root), str(flag)])
    try:
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while not flag.exists():
            assert process.poll() is None, "the export ended before it was killed"
            assert time.monotonic() < deadline, "the export never began writing"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL

    # The half-written file is in a staging folder the readers' globs do not reach.
    assert [p.name for p in root.iterdir() if p.name.startswith(".staging-")]
    assert json.loads((root / "manifest.json").read_text()) == manifest
    for path, entry in manifest["files"].items():
        assert hashlib.sha256((root / path).read_bytes()).hexdigest() == entry["sha256"], path
    old_sum = duck(
        "SELECT sum(bpm) FROM read_parquet(?, hive_partitioning = true) WHERE user_id = ? AND local_date = ?",
        table_glob(root, "readings"),
        CHANGED_USER,
        CHANGED_DAY,
    )

    finished = run_export(Warehouse(export_db), ExportRequest(str(root)))
    assert not finished.failures
    assert not [p for p in root.iterdir() if p.name.startswith(".staging-")]
    new_sum, rows = duck(
        "SELECT sum(bpm), count(*) FROM read_parquet(?, hive_partitioning = true) WHERE user_id = ? AND local_date = ?",
        table_glob(root, "readings"),
        CHANGED_USER,
        CHANGED_DAY,
    )[0]
    assert new_sum == old_sum[0][0] + rows
