"""The README's first steps, run as written, in order, on a clean HR_HOME: the order cannot rot unseen.

The block between ``<!-- quickstart -->`` and ``<!-- /quickstart -->`` is run as one bash script (its
shell variables carry from line to line, as in a terminal). Two things are the test's own: ``make
install`` is not run again (``make test`` has just run it), and after the line that starts the
servers in the background the script waits until the API answers, as a reader would; at the end the
servers get the Ctrl-C a reader would give them.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from hr_assets.settings import PROJECT_ROOT

QUICKSTART = re.compile(r"<!-- quickstart -->\n```sh\n(?P<block>.*?)```\n<!-- /quickstart -->", re.S)
README_PORT = "8000"
# Seconds the servers may take to answer after `hr serve &` on a loaded 2-core machine.
START_SECONDS = 240
# The tests that run a whole Dagster stack (daemon, code server, webserver) take turns on one xdist worker:
# two at once on two cores slowed this one past its timeout in CI.
DAGSTER_STACKS = "dagster-stacks"


def quickstart_lines() -> list[str]:
    """The quick start's command lines, without their trailing comments."""
    match = QUICKSTART.search((PROJECT_ROOT / "README.md").read_text())
    assert match, "README.md has no <!-- quickstart --> block"
    return [re.sub(r"\s{2,}#.*$", "", line).rstrip() for line in match["block"].splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _script(lines: list[str], port: int, dagster_port: int) -> str:
    out = ["set -euo pipefail", "set -m  # job control: the servers get a process group of their own, as in a terminal"]
    for line in lines:
        if line == "make install":
            out.append("test -x .venv/bin/hr  # make install: done by make test")
            continue
        line = line.replace(f"127.0.0.1:{README_PORT}", f"127.0.0.1:{port}")
        if line.endswith("&"):
            # The Dagster UI on a free port (the README's 3000 may be taken here), and both answering before
            # the next line, as a reader waits for them.
            out += [
                line.replace("hr serve &", f"hr serve --port {dagster_port} &"),
                "serve=$!",
                *(
                    f"for _ in $(seq {START_SECONDS}); do curl -sf {url} >/dev/null && break; sleep 1; done"
                    for url in (f"http://127.0.0.1:{port}/health", f"http://127.0.0.1:{dagster_port}/server_info")
                ),
            ]
            continue
        out.append(line)
        if line.startswith("curl "):
            out.append("echo")  # the JSON answer on a line of its own
    out += ["kill -INT -- -$serve", "status=0; wait $serve || status=$?", 'echo "serve exited with $status"']
    return "\n".join(out) + "\n"


def test_the_readme_quickstart_block_is_what_this_test_runs() -> None:
    lines = quickstart_lines()
    assert lines[0] == "make install"
    assert [line.split()[1] for line in lines if line.startswith(".venv/bin/hr")][:2] == ["setup", "users"]
    assert sum(line.endswith("&") for line in lines) == 1 and lines[-1].startswith("curl ")


@pytest.mark.xdist_group(DAGSTER_STACKS)
@pytest.mark.timeout(1200)  # the script's own limit is 900 s
def test_the_readme_first_steps_work_in_order_on_a_clean_home(tmp_path: Path) -> None:
    port, dagster_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HR_", "DAGSTER_"))}
    env |= {"HR_HOME": str(tmp_path / "hr"), "HR_API_PORT": str(port)}
    done = subprocess.run(
        ["bash", "-c", _script(quickstart_lines(), port, dagster_port)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    # `hr users list` has a header row and lists the demo users and alice.
    assert re.search(r"^id\s+timezone\s+source", done.stdout, re.M), done.stdout
    assert {"user1", "user2", "alice"} <= set(re.findall(r"^(\w+)\s+\S+/\S+", done.stdout, re.M))
    # The API answered the key's summary with alice's loaded days.
    answer = next(json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))
    assert answer["user_id"] == "alice" and len(answer["data"]) >= 1, answer
    # Ctrl-C ends the servers cleanly: no click "Aborted!", exit status 0.
    assert "serve exited with 0" in done.stdout, output[-4000:]
    assert "Aborted!" not in output
