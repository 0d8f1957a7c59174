"""The process supervisor of ``hr serve`` (hr_assets.local.processes) on real child processes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from hr_assets.local.processes import start_group, supervise


def _python(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_child_that_fails_stops_the_others_and_gives_its_status() -> None:
    sleeper = _python("import time; time.sleep(600)")
    failing = _python("raise SystemExit(3)")
    assert supervise([sleeper, failing]) == 3
    # The sleeper was stopped by the supervisor's SIGINT (Python exits with a KeyboardInterrupt: status 1
    # or -SIGINT), not left running.
    assert sleeper.returncode is not None


def test_children_that_end_well_give_zero() -> None:
    assert supervise([_python("pass"), _python("import time; time.sleep(0.2)")]) == 0


def test_a_child_ignoring_sigint_is_killed_after_the_grace_period() -> None:
    stubborn = _python("import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)")
    ended = _python("pass")
    supervise([stubborn, ended], shutdown_seconds=0.5)
    assert stubborn.returncode == -signal.SIGKILL


# Counts the SIGINTs it gets until a moment after the first, writes the count to argv[1]; with argv[2], it
# first starts that command as a child of its own and waits for it at the end (as `dg dev` does).
COUNTING = """
import signal, subprocess, sys, time
seen = []
signal.signal(signal.SIGINT, lambda *_: seen.append(1))
child = subprocess.Popen([sys.executable, "-c", sys.argv[2], sys.argv[3]]) if len(sys.argv) > 3 else None
deadline = time.time() + 30
while not seen and time.time() < deadline:
    time.sleep(0.05)
time.sleep(0.5)  # a second interrupt would arrive now
open(sys.argv[1], "w").write(str(len(seen)))
if child:
    child.wait()
"""


def test_a_child_leading_its_own_group_is_interrupted_once_with_its_own_children(tmp_path: Path) -> None:
    leader = start_group(
        [sys.executable, "-c", COUNTING, str(tmp_path / "leader"), COUNTING, str(tmp_path / "grandchild")]
    )
    ended = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    assert supervise([leader, ended], shutdown_seconds=20) == 0
    assert (tmp_path / "leader").read_text() == "1"
    assert (tmp_path / "grandchild").read_text() == "1"
