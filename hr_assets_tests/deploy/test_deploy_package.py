"""The wheel the image installs: it carries the SQL, and an install outside the checkout uses it.

The image runs `uv sync --no-editable`, which builds this wheel and installs it into site-packages,
far from the repository's top-level ``sql/``. These tests build the same wheel, look inside it,
install it into a folder of its own and migrate a real database from there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from hr_assets.warehouse.db import Mode
from hr_assets.warehouse.migrations import discover
from hr_assets_tests.deploy.deploy_helpers import ROOT, VENV_BIN, clean_env, run


def _uv() -> str:
    found = ROOT / ".hr" / "tools" / "bin" / "uv"
    if found.exists():
        return str(found)
    on_path = shutil.which("uv")
    if on_path is None:
        pytest.skip("uv is missing: `make install` installs it under .hr/tools")
    return on_path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # hatchling is a locked dev dependency, so the build needs no download.
    python = str(VENV_BIN / "python")
    run([_uv(), "build", "--wheel", "--no-build-isolation", "--python", python, "--out-dir", str(out)], clean_env())
    [built] = out.glob("hr_pipeline-*.whl")
    return built


def _repository_sql() -> set[str]:
    return {str(path.relative_to(ROOT)) for path in (ROOT / "sql").rglob("*.sql")}


def test_wheel_carries_every_sql_file_inside_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        packaged = {name.removeprefix("hr_assets/") for name in names if name.startswith("hr_assets/sql/")}
        for name in _repository_sql():
            assert archive.read(f"hr_assets/{name}") == (ROOT / name).read_bytes()
    assert _repository_sql() and packaged == _repository_sql()
    assert not any(name.startswith("sql/") for name in names), "the SQL belongs inside the package"


def test_wheel_carries_the_enrolment_pages_templates_and_stylesheet(wheel: Path) -> None:
    pages = {
        str(p.relative_to(ROOT))
        for folder in ("templates", "static")
        for p in (ROOT / "hr_api/enrol" / folder).iterdir()
    }
    with zipfile.ZipFile(wheel) as archive:
        assert pages and pages <= set(archive.namelist())


def test_installed_package_outside_the_checkout_finds_its_sql_and_migrates(
    wheel: Path, tmp_path: Path, empty_db_url: str
) -> None:
    target = tmp_path / "site"
    run(
        [
            _uv(),
            "pip",
            "install",
            "--no-deps",
            "--target",
            str(target),
            "--python",
            str(VENV_BIN / "python"),
            str(wheel),
        ],
        clean_env(),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import json, hr_assets, hr_assets.settings as s\n"
        "from hr_assets.warehouse.migrations import migrate\n"
        f"mode, applied = migrate({empty_db_url!r})\n"
        "from hr_assets.definitions import defs\n"
        "assets = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())\n"
        "print(json.dumps({'package': hr_assets.__file__, 'sql': str(s.SQL_DIR), 'applied': applied, "
        "'assets': assets}))\n"
    )
    # The installed copy comes first on the path; the working directory is not the checkout.
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-c", probe],
        env=clean_env(PYTHONPATH=str(target)),
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["package"]).is_relative_to(target)
    assert found["sql"] == str(target / "hr_assets" / "sql")
    assert found["applied"] == [f"{m.version:04d}_{m.name}" for m in discover(Mode.POSTGRES)]
    # The definitions under defs/ load without the checkout's pyproject.toml too.
    assert "activities_heart_intraday" in found["assets"] and "user_registry" in found["assets"]
