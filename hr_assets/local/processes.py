"""Child processes run side by side (``hr serve``: Dagster and the API), stopped together."""

from __future__ import annotations

import signal
import subprocess
import time

# How long the children get to stop after Ctrl-C (or one of them ending) before they are killed.
SHUTDOWN_SECONDS = 20
# How often the supervisor looks whether a child has ended.
POLL_SECONDS = 0.5


def supervise(children: list[subprocess.Popen[bytes]], shutdown_seconds: float = SHUTDOWN_SECONDS) -> int:
    """Wait until one child ends or Ctrl-C; then stop the others (SIGINT, then SIGKILL after ``shutdown_seconds``).

    Returns the exit status of the first child that failed (neither 0 nor stopped by our SIGINT), else 0.
    """
    try:
        while all(child.poll() is None for child in children):
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=shutdown_seconds)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    failed = [child.returncode for child in children if child.returncode not in (0, -signal.SIGINT, None)]
    return failed[0] if failed else 0
