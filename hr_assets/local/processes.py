"""Child processes run side by side (``hr serve``: Dagster and the API), stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import time

# How long the children get to stop after Ctrl-C (or one of them ending) before they are killed.
SHUTDOWN_SECONDS = 20
# How often the supervisor looks whether a child has ended.
POLL_SECONDS = 0.5


def supervise(children: list[subprocess.Popen[bytes]], shutdown_seconds: float = SHUTDOWN_SECONDS) -> int:
    """Wait until one child ends or Ctrl-C; then stop the others (SIGINT, then SIGKILL after ``shutdown_seconds``).

    Returns the exit status of the first child that failed on its own, before anything was stopped; 0 when
    they ended well or were stopped by Ctrl-C (how a child answers being stopped is not a failure).
    """
    ended_alone: list[int] = []
    try:
        while all(child.poll() is None for child in children):
            time.sleep(POLL_SECONDS)
        ended_alone = [child.returncode for child in children if child.returncode is not None]
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                _interrupt(child)
        for child in children:
            try:
                child.wait(timeout=shutdown_seconds)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    failed = [status for status in ended_alone if status != 0]
    return failed[0] if failed else 0


def start_group(command: list[str], **options: object) -> subprocess.Popen[bytes]:
    """Start ``command`` as the leader of a session of its own: a Ctrl-C at the terminal reaches only the
    supervisor, which then interrupts the child's whole group once (:func:`supervise`). A Ctrl-C reaching
    the children too made them see two interrupts, the second in the middle of their shutdown."""
    return subprocess.Popen(command, start_new_session=True, **options)  # type: ignore[call-overload,no-any-return]


def _interrupt(child: subprocess.Popen[bytes]) -> None:
    """SIGINT to the child, and to its own children where it leads a process group (as a terminal's Ctrl-C)."""
    try:
        group = os.getpgid(child.pid)
    except ProcessLookupError:
        return
    if group == child.pid:
        os.killpg(group, signal.SIGINT)
    else:
        child.send_signal(signal.SIGINT)
