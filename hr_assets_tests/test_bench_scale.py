"""bench/scale.py end to end on a small study: every stage runs and its figures describe what happened."""

from __future__ import annotations

import json
import subprocess
import sys

from hr_assets import localdb
from hr_assets.settings import PROJECT_ROOT


def test_the_scale_benchmark_measures_every_stage_of_a_small_study(pg_server: localdb.LocalServer) -> None:
    users = 3
    done = subprocess.run(
        [
            sys.executable,
            "bench/scale.py",
            "--users",
            str(users),
            "--history-user-days",
            "3",
            "--database-url",
            pg_server.url(),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["users"] == users
    # Registered two years back: every user's history (6 runs or more) is due, and each tick asks
    # for a year of it: one run, a run more for each stretch the loaded days cut off.
    for tick in ("users_sensor first tick", "users_sensor second tick"):
        assert 1 <= figures[tick]["history runs requested"] <= 3, tick
    assert figures["nightly"]["partitions landed"] == 2 * users
    assert figures["nightly"]["failed runs"] == 0
    assert figures["freshness job"]["success"] is True
    stats = figures["ui"]["partition stats"]
    # Two years of every user recorded for both loaded assets (a day more where a zone's date turned
    # meanwhile); the loads before fell inside them, and the UI counts each partition once.
    recorded = figures["history recorded for the UI"]["materialisations"]
    assert 2 * 730 * users <= recorded <= 2 * 731 * users
    assert stats["numMaterialized"] == recorded // 2
    assert stats["numPartitions"] % users == 0
    assert figures["ui"]["webserver rss_mb, peak_mb"][1] > 0
    # The daemon loads the newcomer's 3 days of history through the queue, and only theirs.
    daemon = figures["daemon"]
    assert daemon["days landed"] == 3
    assert daemon["history runs"] == 1
    assert daemon["failed runs"] == 0
    assert daemon["users_sensor ticks meanwhile (count, median s, max s)"][0] >= 1
    assert daemon["peak memory (MB)"]["daemon and code servers"] > 0
    assert daemon["peak memory (MB)"]["run worker"] > 0
