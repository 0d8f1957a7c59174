"""bench/study.py end to end with a few requests per case, on the full 300 x 730 data set.

A test that the benchmark runs and reports every case and its targets, not of speed: whether the targets
are met depends on the machine, and the benchmark's exit status says so (1 with NOT MET).
"""

from __future__ import annotations

import subprocess
import sys

from hr_assets.local import localdb
from hr_assets.settings import PROJECT_ROOT

CASES = ("grid 300 x 90 (JSON)", "grid 300 x 90 (CSV)", "grid 300 x 730 (JSON)", "participants")


def test_the_study_benchmark_measures_every_case_and_reports_its_targets(pg_server: localdb.LocalServer) -> None:
    done = subprocess.run(
        [sys.executable, "bench/study.py", "--requests", "2", "--database-url", pg_server.url()],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "208,250 wear records" in done.stdout, done.stdout + done.stderr[-3000:]
    for case in CASES:
        assert f"\n{case:<24}   2 | " in done.stdout, case
    assert "targets: grid 300 x 90 p95 < 150 ms, 300 x 730 p95 < 1000 ms" in done.stdout
    met = "\nall met\n" in done.stdout
    assert met or "NOT MET" in done.stdout
    assert done.returncode == (0 if met else 1), done.stderr[-3000:]
