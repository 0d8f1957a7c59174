"""The export as a Dagster asset: materialised twice, the second run writes only what a re-load changed."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from hr_assets.definitions import defs
from hr_assets.defs.export.assets import analysis_export
from hr_assets.local.alerts import AlertResource
from hr_assets.resources import WarehouseResource
from hr_assets.settings import get_settings
from hr_assets.sources import SOURCES
from hr_assets_tests.export.helpers import reload_day


def _materialize(url: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    result = dg.materialize(
        [analysis_export],
        resources={"warehouse": WarehouseResource(database_url=url), "alerts": AlertResource(), "sources": SOURCES},
        run_config={"ops": {"analysis_export": {"config": config or {}}}},
    )
    [materialization] = result.asset_materializations_for_node("analysis_export")
    return {key: value.value for key, value in materialization.metadata.items()}


def test_the_asset_exports_to_the_configured_destination_then_only_what_changed(
    export_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HR_EXPORT_DESTINATION", str(tmp_path / "study"))
    monkeypatch.setenv("HR_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        first = _materialize(export_db)
        reload_day(export_db, "newyork-three", date(2024, 3, 30))
        second = _materialize(export_db)
        deidentified = _materialize(export_db, {"destination": str(tmp_path / "deid"), "deidentify": True})
    finally:
        get_settings.cache_clear()
    assert first["participants"] == 3 and first["files_unchanged"] == 0 and first["files_written"] > 20
    # The reloaded day's month of readings, minute and hour, and its participant's day and wear files.
    assert (second["files_written"], second["files_unchanged"]) == (5, first["files_written"] - 5)
    assert (tmp_path / "study" / "manifest.json").is_file()
    assert deidentified["deidentified"] is True
    assert not list((tmp_path / "deid").rglob("*newyork-three*"))
    assert (tmp_path / "home" / "export-pseudonym.key").stat().st_mode & 0o777 == 0o600


def test_the_export_job_and_schedule_are_in_the_code_location() -> None:
    assert defs.resolve_job_def("hr_export_job").name == "hr_export_job"
    assert defs.resolve_schedule_def("hr_export_schedule").cron_schedule == "0 4 * * *"
