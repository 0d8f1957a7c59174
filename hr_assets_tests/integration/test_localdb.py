"""The embedded server started by root in a clone that only root may enter (``mktemp -d``, /root).

PostgreSQL refuses to run as root. These tests copy the repository into a 0700 folder, as
``git clone`` into ``mktemp -d`` makes it, install it there with ``make install`` and run the
README's commands, checking that they work and that no folder outside the clone changes mode.
Where user namespaces are disabled, the commands must either run the server as its system
account (folders it can reach) or stop at once saying what to do; that case is made for real
in a user namespace whose own limit of user namespaces is 0, as on a kernel that disables them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from hr_assets.local import localdb
from hr_assets.settings import PROJECT_ROOT
from hr_assets_tests.integration.test_readme_quickstart import DAGSTER_STACKS

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: these tests check how the embedded server runs when root starts it"
)
COMMAND_TIMEOUT_S = 600
# What the operator is told to do when the server can run neither as its account nor in a namespace.
WHAT_TO_DO = "run make as a user other than root"


def _namespaces_here() -> str | None:
    """Why user namespaces cannot be used here, or None when they can."""
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not installed"
    probe = subprocess.run(["unshare", "--user", "--map-user=65534", "true"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"unshare failed: {probe.stderr.strip()}"


def _folder_modes(path: Path) -> dict[Path, int]:
    """The mode of every folder from / down to ``path``."""
    return {folder: folder.stat().st_mode for folder in [*reversed(path.parents), path]}


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new shell: none of this test run's settings."""
    ours = ("HR_", "DAGSTER_", "PYTEST_", "VIRTUAL_ENV")
    return {key: value for key, value in os.environ.items() if not key.startswith(ours)} | extra


def _without_user_namespaces(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float = COMMAND_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as root on a machine whose user namespaces are disabled.

    It runs in a user namespace that maps every id to itself (root stays root, the system account
    stays itself) and whose ``user.max_user_namespaces`` is 0, so that no user namespace can be made
    inside it: the sysctl by which distributions disable them. The machine's own setting is untouched.
    """
    # The child waits until its ids are mapped (by root outside: only it may map them all), then
    # execs again so that it holds root's capabilities in the namespace, sets the limit and runs argv.
    inner = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" "$@"'
    outer = f'while [ -z "$(cat /proc/self/uid_map)" ]; do sleep 0.01; done; exec sh -c \'{inner}\' "$@"'
    child = subprocess.Popen(
        ["unshare", "--user", "sh", "-c", outer, "sh", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        ours = os.readlink("/proc/self/ns/user")
        while os.readlink(f"/proc/{child.pid}/ns/user") == ours:
            time.sleep(0.01)
        for ids in ("uid_map", "gid_map"):
            Path(f"/proc/{child.pid}/{ids}").write_text("0 0 4294967295\n")
        output, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end(child)
        raise
    return subprocess.CompletedProcess(argv, child.returncode, output)


def _end(child: subprocess.Popen[str], first: signal.Signals = signal.SIGKILL) -> None:
    """End the process group we started for ``child`` (SIGKILL after 60 s of ``first``)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, first)
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


@dataclass(frozen=True)
class Clone:
    home: Path  # the 0700 folder, as `mktemp -d` makes it
    repo: Path

    def run(self, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=self.repo,
            env=_clean_env(**env),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )

    def hr(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.repo / ".venv/bin/hr"), *args], **env)


@pytest.fixture(scope="module")
def clone() -> Iterator[Clone]:
    """The repository's files copied into a new 0700 folder and installed there with ``make install``."""
    if shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to list the repository's files")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    )
    home = Path(tempfile.mkdtemp(prefix="hr-clone-"))
    repo = home / "hr-pipeline"
    for name in listed.stdout.decode().split("\0"):
        source = PROJECT_ROOT / name
        if name and source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    made = Clone(home, repo)
    try:
        installed = made.run(["make", "install"])
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield made
    finally:
        for hr_home in [repo / ".hr", *repo.glob(".hr-*")]:
            if (repo / ".venv/bin/hr").exists():
                made.hr("db", "stop", HR_HOME=str(hr_home))
        shutil.rmtree(home)


@pytest.fixture
def private(clone: Clone) -> Iterator[Clone]:
    """The clone in its 0700 folder; asserts afterwards that no folder outside the clone changed mode."""
    clone.home.chmod(0o700)
    before = _folder_modes(clone.home)
    yield clone
    assert _folder_modes(clone.home) == before


def test_a_server_under_a_folder_closed_to_others_changes_no_folder_outside_its_own() -> None:
    problem = _namespaces_here()
    if problem:
        pytest.skip(f"user namespaces are not available here ({problem})")
    home = Path(tempfile.mkdtemp(prefix="hr-private-"))
    before = _folder_modes(home)
    root = home / "postgres"
    try:
        server = localdb.ensure_running(root)
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT current_setting('data_directory')").fetchone() == (str(root / "data"),)
        assert localdb.running_server(root) == server
        # Root's files, run in a namespace: nothing was handed to another account.
        assert {path.stat().st_uid for path in [root / "data", *(root / "data").iterdir()]} == {0}
        assert localdb.stop(root)
    finally:
        localdb.stop(root)
        after = _folder_modes(home)
        shutil.rmtree(home)
    assert after == before


@pytest.mark.xdist_group(DAGSTER_STACKS)  # one whole Dagster stack at a time
def test_make_run_and_make_test_work_in_a_private_clone(private: Clone) -> None:
    problem = _namespaces_here()
    if problem:
        pytest.skip(f"user namespaces are not available here ({problem})")
    # make run: install, setup, a backfill of 7 days through Dagster, then the UI until Ctrl-C.
    run = subprocess.Popen(
        ["make", "run"],
        cwd=private.repo,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert run.stdout is not None
        for line in run.stdout:
            lines.append(line)
            ui = re.search(r"Dagster UI: (http://127\.0\.0\.1:\d+)", line)
            if ui:
                break
        assert ui, "".join(lines)
        answer = _wait_for(ui.group(1) + "/server_info")
        assert b"dagster_webserver_version" in answer
    finally:
        _end(run, signal.SIGINT)  # Ctrl-C, as the README says
    output = "".join(lines)
    assert re.search(r"loading 14 partition\(s\) in \d run\(s\) through Dagster", output), output
    assert "landed 14 of 14 partition(s)" in output, output

    # make test, here one test file, its temporary folders inside the 0700 clone too.
    tested = private.run(
        ["make", "test", "FUZZ_RUN="],  # the one file below, not the API's fuzz suite after it
        PYTEST_ADDOPTS=f"--basetemp={private.repo / '.pytest'} -q -p no:cacheprovider "
        "hr_assets_tests/integration/test_migrations.py",
    )
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert re.search(r"\b\d+ passed\b", tested.stdout) and "failed" not in tested.stdout, tested.stdout[-3000:]

    stopped = private.run(["make", "stop"])
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    # The server ran in a user namespace: its data is root's, not another account's.
    data = private.repo / ".hr/postgres/data"
    assert data.stat().st_uid == 0 and data.stat().st_mode & 0o777 == 0o700


def _wait_for(url: str, timeout: float = 120) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def namespaces_disabled() -> None:
    problem = _namespaces_here()
    if problem:
        pytest.skip(f"cannot make a machine without user namespaces from one without them ({problem})")


def test_without_user_namespaces_a_private_clone_stops_at_once_saying_what_to_do(
    private: Clone, namespaces_disabled: None
) -> None:
    hr_home = private.repo / ".hr-without-namespaces"
    env = _clean_env(HR_HOME=str(hr_home))

    # Should it not stop, it would serve the UI until the timeout.
    run = _without_user_namespaces(["make", "run"], private.repo, env, timeout=300)

    assert run.returncode != 0
    assert WHAT_TO_DO in run.stdout and f"chmod o+x {private.home}" in run.stdout, run.stdout[-3000:]
    assert "cannot enter " + str(private.home) + " (mode 0700)" in run.stdout
    assert "materialising" not in run.stdout and "Traceback" not in run.stdout  # it stopped at setup
    assert not (hr_home / "postgres/data").exists()

    test_env = env | {"PYTEST_ADDOPTS": f"--basetemp={private.repo / '.pytest-without-namespaces'} -p no:cacheprovider"}
    tested = _without_user_namespaces(["make", "test"], private.repo, test_env)

    assert tested.returncode != 0
    # One message for the whole run, not an error per test.
    assert tested.stdout.count(WHAT_TO_DO) == 1, tested.stdout[-3000:]
    assert "the tests' PostgreSQL server cannot start" in tested.stdout
    assert not re.search(r"\b\d+ errors?\b", tested.stdout)


def test_without_user_namespaces_a_reachable_clone_runs_the_server_as_its_account(
    clone: Clone, namespaces_disabled: None
) -> None:
    clone.home.chmod(0o755)  # the folder above the clone now lets other accounts in
    before = _folder_modes(clone.home)
    hr_home = clone.repo / ".hr-account"
    env = _clean_env(HR_HOME=str(hr_home))
    hr = str(clone.repo / ".venv/bin/hr")

    started = _without_user_namespaces([hr, "db", "start"], clone.repo, env)
    assert started.returncode == 0, started.stdout
    try:
        assert "postgres mode" in started.stdout
        data = hr_home / "postgres/data"
        assert data.owner() == localdb.SYSTEM_USER_WHEN_ROOT
        status = _without_user_namespaces([hr, "db", "status"], clone.repo, env)
        assert status.stdout.startswith("running on 127.0.0.1:")
    finally:
        stopped = _without_user_namespaces([hr, "db", "stop"], clone.repo, env)
    assert stopped.stdout.strip() == "stopped"
    assert _folder_modes(clone.home) == before
