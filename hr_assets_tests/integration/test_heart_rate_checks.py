"""The heart-rate asset checks of a real run: warnings on a sparse day, a blocking schema error."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import dagster as dg
import psycopg
import psycopg.errors
import pytest

from hr_assets.defs.heart_rate.assets import heart_rate_assets
from hr_assets.defs.heart_rate.checks import (
    CONSISTENCY_CHECK,
    COVERAGE_CHECK,
    PLAUSIBILITY_CHECK,
    QUARANTINE_CHECK,
    SCHEMA_CHECK,
)
from hr_assets.sources import SourceRegistry
from hr_assets_tests.integration.orchestration import (
    AGGREGATE_KEYS,
    INTRADAY_KEY,
    LOW_BPM_MINUTES,
    SPARSE_MINUTES,
    SUMMARY_KEY,
    ZERO_BPM_TIMES,
    Receiver,
    _crafted,
    _evaluations,
    _instance,
    _materialized_nodes,
    _register,
    _resources,
    _sparse_day,
    _values,
)
from hr_assets_tests.payloads import every, summary

# --- asset checks of a real run ---------------------------------------------------------------

CHECK_DAY = date(2025, 6, 1)
CHECK_KEY = f"{CHECK_DAY.isoformat()}|crafted1"


def _sparse_summary(day: date) -> bytes:
    # Zone minutes that agree with 20 minutes of readings; resting heart rate inside 20..79.
    zones = [{"name": "Out of Range", "min": 30, "max": 94, "minutes": SPARSE_MINUTES}]
    return summary(day, resting=55, zones=zones)


def _materialize_crafted(
    db_url: str, receiver: Receiver, instance: dg.DagsterInstance, sources: SourceRegistry, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    """Every heart-rate asset for CHECK_KEY of the registered user 'crafted1'."""
    return dg.materialize(
        heart_rate_assets,
        instance=instance,
        partition_key=CHECK_KEY,
        resources=_resources(db_url, receiver.url, sources),
        raise_on_error=raise_on_error,
    )


def test_warning_checks_on_a_sparse_day_with_implausible_and_impossible_readings(
    db_url: str, conn: psycopg.Connection, receiver: Receiver
) -> None:
    sources = _crafted(_sparse_day, _sparse_summary)
    _register(conn, "crafted1", "Europe/Berlin", source="crafted")
    result = _materialize_crafted(db_url, receiver, _instance("crafted1"), sources)

    # Warnings do not block: the run succeeds and the aggregates are refreshed.
    assert result.success
    assert _materialized_nodes(result) == {key.to_user_string() for key in [INTRADAY_KEY, SUMMARY_KEY, *AGGREGATE_KEYS]}
    evaluations = _evaluations(result)
    assert all(e.partition == CHECK_KEY for e in evaluations.values())
    outcome = {key: (e.passed, e.severity) for key, e in evaluations.items()}
    warn, error = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR
    intraday_name, summary_name = INTRADAY_KEY.to_user_string(), SUMMARY_KEY.to_user_string()
    assert outcome == {
        (intraday_name, SCHEMA_CHECK): (True, error),
        (intraday_name, PLAUSIBILITY_CHECK): (False, warn),
        (intraday_name, COVERAGE_CHECK): (False, warn),
        (intraday_name, QUARANTINE_CHECK): (False, warn),
        (summary_name, SCHEMA_CHECK): (True, error),
        (summary_name, CONSISTENCY_CHECK): (True, warn),
        (summary_name, QUARANTINE_CHECK): (True, warn),
    }
    assert _values(evaluations[intraday_name, PLAUSIBILITY_CHECK])["implausible_bpm"] == len(LOW_BPM_MINUTES)
    coverage = _values(evaluations[intraday_name, COVERAGE_CHECK])
    assert coverage["covered_seconds"] == SPARSE_MINUTES * 60 and coverage["day_seconds"] == 24 * 3600
    assert coverage["coverage"] == pytest.approx(SPARSE_MINUTES / (24 * 60), abs=1e-4)
    assert _values(evaluations[intraday_name, QUARANTINE_CHECK])["quarantined"] == len(ZERO_BPM_TIMES)
    assert _values(evaluations[intraday_name, SCHEMA_CHECK])["rows"] == SPARSE_MINUTES
    consistency = _values(evaluations[summary_name, CONSISTENCY_CHECK])
    assert consistency["minutes_with_readings"] == SPARSE_MINUTES and consistency["min_bpm"] == 20

    # The quarantined records are on file, and warnings alert nobody.
    assert conn.execute("SELECT count(*) FROM quarantine WHERE user_id = 'crafted1'").fetchone() == (2,)
    assert receiver.received == []


def _overconfident_day(user_id: str, day: date) -> list[dict[str, Any]]:
    # A full day a reading a minute; Fitbit's confidence runs 0..3, and 9 is not rejected by the parser.
    return [{**reading, "confidence": 9 if n % 100 == 0 else 2} for n, reading in enumerate(every(60))]


def test_blocking_schema_error_alerts_and_keeps_the_aggregates_from_running(
    db_url: str, conn: psycopg.Connection, receiver: Receiver
) -> None:
    sources = _crafted(_overconfident_day)
    _register(conn, "crafted1", "Europe/Berlin", source="crafted")
    instance = _instance("crafted1")
    result = _materialize_crafted(db_url, receiver, instance, sources, raise_on_error=False)

    schema = _evaluations(result)[INTRADAY_KEY.to_user_string(), SCHEMA_CHECK]
    assert (schema.passed, schema.severity, schema.partition) == (False, dg.AssetCheckSeverity.ERROR, CHECK_KEY)
    assert _values(schema)["failures"] == len(range(0, 24 * 60, 100))
    failed_cases = json.loads(_values(schema)["failure_cases"])
    assert {(c["column"], c["failure_case"]) for c in failed_cases} == {("confidence", "9")}
    # A blocking check that fails with ERROR fails its step (the readings are written and
    # materialised, then refused), so the run fails too.
    assert not result.success
    assert [e.step_key for e in result.all_events if e.is_step_failure] == [INTRADAY_KEY.to_user_string()]
    # Blocked: nothing downstream of the raw readings ran in this run, not even the summary.
    assert _materialized_nodes(result) == {INTRADAY_KEY.to_user_string()}
    for key in AGGREGATE_KEYS:
        assert not instance.get_materialized_partitions(key)
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday_1m").fetchone() == (0,)

    [alert] = receiver.received
    assert alert.content_type == "application/json"
    assert alert.body["event"] == "check_failed" and alert.body["severity"] == "error"
    assert alert.body["check"] == SCHEMA_CHECK and alert.body["asset"] == INTRADAY_KEY.to_user_string()
    assert alert.body["run_id"] == result.run_id and alert.body["source"] == "hr-pipeline"
    assert "schema" in alert.body["text"] and "activities_heart_intraday" in alert.body["text"]
