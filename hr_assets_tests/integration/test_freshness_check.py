"""latest_day_loaded (the freshness job): which users' latest local days are late."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import psycopg.errors

from hr_assets.definitions import defs
from hr_assets.defs.users.assets import USER_REGISTRY
from hr_assets.defs.users.checks import LATEST_DAY_LOADED_CHECK, late_partitions
from hr_assets.domain.user_day import UserDay
from hr_assets.resources import WarehouseResource
from hr_assets.warehouse.users import retire_user
from hr_assets_tests.integration.orchestration import (
    Receiver,
    _crafted,
    _ingest,
    _instance,
    _local_yesterday,
    _register,
    _resources,
    _sparse_day,
    _values,
)
from hr_assets_tests.payloads import every

# --- latest_day_loaded (the freshness job) ----------------------------------------------------


def _full_or_sparse_day(user_id: str, day: date) -> list[dict[str, Any]]:
    return _sparse_day(user_id, day) if user_id.startswith("sparse") else every(60)


def test_late_partitions_names_missing_and_incomplete_latest_days(db_url: str, conn: psycopg.Connection) -> None:
    sources = _crafted(_full_or_sparse_day)
    for user_id, zone in [
        ("tokyo", "Asia/Tokyo"),
        ("sparse-berlin", "Europe/Berlin"),
        ("angeles", "America/Los_Angeles"),
        ("retired", "UTC"),
    ]:
        _register(conn, user_id, zone, source="crafted")
    retire_user(conn, "retired")
    now = datetime(2025, 6, 10, 2, tzinfo=UTC)
    # Latest complete local days at that instant: Tokyo (11:00) and Berlin (04:00) the 9th,
    # Los Angeles (19:00 on the 9th) the 8th. Los Angeles has only its 7th loaded.
    loaded = [("tokyo", date(2025, 6, 9)), ("sparse-berlin", date(2025, 6, 9)), ("angeles", date(2025, 6, 7))]
    _ingest(db_url, [UserDay(*p) for p in loaded], sources)

    def keys(partitions: list[UserDay]) -> list[str]:
        return sorted(p.key for p in partitions)

    missing, incomplete, active = late_partitions(WarehouseResource(database_url=db_url), now, threshold=0.5)
    assert keys(missing) == ["2025-06-08|angeles"]
    assert keys(incomplete) == ["2025-06-09|sparse-berlin"]
    assert active == 3
    # With a threshold below Berlin's 20 minutes (1.4 %), only the missing day is late.
    missing, incomplete, _ = late_partitions(WarehouseResource(database_url=db_url), now, threshold=0.01)
    assert (keys(missing), incomplete) == (["2025-06-08|angeles"], [])
    # A day later, Tokyo's and Berlin's latest days are missing too.
    later, _, _ = late_partitions(WarehouseResource(database_url=db_url), now + timedelta(days=1), threshold=0.5)
    assert keys(later) == ["2025-06-09|angeles", "2025-06-10|sparse-berlin", "2025-06-10|tokyo"]


def test_freshness_job_fails_naming_the_late_user_then_passes_once_it_lands(
    db_url: str, conn: psycopg.Connection, receiver: Receiver, hr_home: Path
) -> None:
    sources = _crafted(_full_or_sparse_day)
    _register(conn, "tokyo", "Asia/Tokyo", source="crafted")
    _register(conn, "angeles", "America/Los_Angeles", source="crafted")
    _ingest(db_url, [UserDay("tokyo", _local_yesterday("Asia/Tokyo"))], sources)
    job = defs.resolve_job_def("hr_freshness_job")
    instance = _instance()

    late = job.execute_in_process(instance=instance, resources=_resources(db_url, receiver.url), raise_on_error=False)
    [check] = late.get_asset_check_evaluations()
    assert (check.asset_key, check.check_name) == (dg.AssetKey(USER_REGISTRY), LATEST_DAY_LOADED_CHECK)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    angeles_key = f"{_local_yesterday('America/Los_Angeles').isoformat()}|angeles"
    metadata = _values(check)
    assert metadata["late_users"] == "angeles"
    assert metadata["missing"] == [angeles_key] and metadata["incomplete"] == []
    assert metadata["active_users"] == 2
    # The study view's flags alongside: angeles (from 2025-01-01) has never had a reading.
    flagged = {k: v for k, v in metadata.items() if k.startswith("flagged_")}
    assert flagged == {"flagged_no_valid_day": "angeles", "flagged_no_data": "angeles", "flagged_needs_reconnect": ""}
    [alert] = receiver.received
    assert alert.body["event"] == "freshness" and alert.body["missing"] == [angeles_key]
    assert "angeles" in alert.body["text"]

    _ingest(db_url, [UserDay("angeles", _local_yesterday("America/Los_Angeles"))], sources)
    fresh = job.execute_in_process(instance=instance, resources=_resources(db_url, receiver.url))
    [check] = fresh.get_asset_check_evaluations()
    assert check.passed and _values(check)["late_users"] == ""
    assert _values(check)["flagged_no_valid_day"] == _values(check)["flagged_no_data"] == ""
    assert len(receiver.received) == 1  # no new alert


def test_a_user_not_started_yet_is_not_late(db_url: str, conn: psycopg.Connection) -> None:
    now = datetime(2025, 6, 10, 7, 0, tzinfo=UTC)
    _register(conn, "soon", "UTC", start=date(2025, 6, 20))
    _register(conn, "started", "UTC", start=date(2025, 6, 1))
    missing, incomplete, active = late_partitions(WarehouseResource(database_url=db_url), now, threshold=0.5)
    assert (missing, incomplete, active) == ([UserDay("started", date(2025, 6, 9))], [], 2)
