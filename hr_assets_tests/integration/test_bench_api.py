"""bench/api.py end to end with a few requests: by default every kind it defines is measured, with API keys on.

A test of completeness, not of speed: the figures are only checked to be there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hr_assets.local import localdb
from hr_assets.settings import PROJECT_ROOT

# The kinds bench/api.py defines, and those whose window is longer than two days' 1 day 20 hours.
KINDS = 12
LONGER_THAN_TWO_DAYS = {
    "last week, auto",
    "last 30 days, auto",
    "2 users, last week, auto",
    "2 users, last 30 days, 1d",
}


def _bench(pg_server: localdb.LocalServer, tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    figures = tmp_path / "figures.json"
    command = [sys.executable, "bench/api.py", "--requests", "2", "--database-url", pg_server.url(), "--json"]
    done = subprocess.run(
        [*command, str(figures), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(figures.read_text())


def test_the_api_benchmark_measures_every_kind_by_default_with_keys(
    pg_server: localdb.LocalServer, tmp_path: Path
) -> None:
    stdout, figures = _bench(pg_server, tmp_path)
    assert figures["auth"] == "keys"
    assert "HR_API_AUTH=keys" in stdout
    assert figures["skipped"] == []
    assert len(figures["kinds"]) == KINDS
    assert f"{KINDS} of {KINDS} measured" in stdout
    assert set(figures["results"]) == set(figures["kinds"])
    for name, by_concurrency in figures["results"].items():
        assert set(by_concurrency) == {"1", "8"}, name
        for measured in by_concurrency.values():
            assert measured["api_per_second"] > 0 and measured["sql_per_second"] > 0, name
        # Every kind is a row of both tables.
        assert stdout.count(f"\n{name} ") == 2, name


def test_a_short_range_names_the_kinds_it_skips_and_why(pg_server: localdb.LocalServer, tmp_path: Path) -> None:
    stdout, figures = _bench(pg_server, tmp_path, "--days", "2", "--auth", "off")
    assert figures["auth"] == "off"
    assert "HR_API_AUTH=off" in stdout
    skipped = {line.split(":")[0] for line in figures["skipped"]}
    assert skipped == LONGER_THAN_TWO_DAYS
    assert all("window is longer than the loaded 1 day, 20:00:00 (--days 2)" in line for line in figures["skipped"])
    assert set(figures["results"]) == set(figures["kinds"]) - LONGER_THAN_TWO_DAYS
    for name in LONGER_THAN_TWO_DAYS:
        assert f"skipped {name}: " in stdout
