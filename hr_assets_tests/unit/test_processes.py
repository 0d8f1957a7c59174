"""The process supervisor of ``hr serve`` (hr_assets.local.processes) on real child processes."""

from __future__ import annotations

import signal
import subprocess
import sys

from hr_assets.local.processes import supervise


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
