"""Checks of the heart-rate assets: the specs they declare, and their results from ``quality`` outcomes.

Checks are partitioned like the assets, so a run of one partition (the nightly schedule,
the new-user history, a materialisation from the UI) shows its result on that partition.
A run over a range reports one result per check, failing if any partition fails, with
the failing partitions listed in the metadata.
"""

import warnings
from collections.abc import Iterable, Mapping

import dagster as dg

from hr_assets.defs.heart_rate.partitions import user_day_partitions
from hr_assets.domain import quality
from hr_assets.domain.ingest import Inspector, PartitionOutcome
from hr_assets.domain.quality import CheckOutcome, DayStats
from hr_assets.domain.transform import ParsedIntraday, ParsedSummary
from hr_assets.domain.user_day import UserDay
from hr_assets.local.alerts import AlertResource
from hr_assets.settings import get_settings
from hr_assets.warehouse.loads import covered_seconds

INTRADAY = "activities_heart_intraday"
SUMMARY = "activities_heart_summary"

SCHEMA_CHECK = "schema"
PLAUSIBILITY_CHECK = "plausibility"
COVERAGE_CHECK = "coverage"
QUARANTINE_CHECK = "quarantine"
CONSISTENCY_CHECK = "consistency"
# Partitions listed by name in a range run's failing check.
MAX_LISTED_PARTITIONS = 20


# Partitioned check specs are what show a result on each partition in the UI; Dagster marks
# them as preview.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def.*AssetCheckSpec.*")


def _spec(asset: str, name: str, description: str, *, blocking: bool = False) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name, asset=asset, description=description, blocking=blocking, partitions_def=user_day_partitions
    )


INTRADAY_CHECKS = [
    _spec(
        INTRADAY,
        SCHEMA_CHECK,
        "The parsed frame matches quality.IntradayFrame (pandera). Blocks the aggregates.",
        blocking=True,
    ),
    _spec(
        INTRADAY,
        PLAUSIBILITY_CHECK,
        f"bpm within {quality.PLAUSIBLE_MIN_BPM}-{quality.PLAUSIBLE_MAX_BPM} (warn); no repeated timestamp and "
        "every reading inside the partition's local day (error).",
    ),
    _spec(INTRADAY, COVERAGE_CHECK, "Share of the local day with readings; warns below HR_COVERAGE_WARN_THRESHOLD."),
    _spec(INTRADAY, QUARANTINE_CHECK, "Records refused by the parser; warns when there are any."),
]
SUMMARY_CHECKS = [
    _spec(SUMMARY, SCHEMA_CHECK, "The parsed summary matches quality.SummaryFrame (pandera).", blocking=True),
    _spec(
        SUMMARY,
        CONSISTENCY_CHECK,
        "Zone minutes against minutes with readings; resting heart rate within the day's range.",
    ),
    _spec(SUMMARY, QUARANTINE_CHECK, "Parts of the summary refused by the parser; warns when there are any."),
]


def intraday_inspector() -> Inspector:
    threshold = get_settings().coverage_warn_threshold

    def inspect(parsed: ParsedIntraday | ParsedSummary) -> dict[str, CheckOutcome]:
        assert isinstance(parsed, ParsedIntraday)
        return {
            SCHEMA_CHECK: quality.intraday_schema(parsed),
            PLAUSIBILITY_CHECK: quality.intraday_plausibility(parsed),
            COVERAGE_CHECK: quality.coverage(covered_seconds(parsed.readings), parsed.day_seconds, threshold),
            QUARANTINE_CHECK: quality.quarantine(parsed.quarantined),
        }

    return inspect


def summary_inspector(intraday_stats: Mapping[UserDay, DayStats]) -> Inspector:
    """Summary checks; the consistency check compares with what each day's intraday load wrote.

    ``intraday_stats``: :func:`~hr_assets.warehouse.status.intraday_day_stats` of the run's
    partitions, read once before the run's summaries are parsed.
    """

    def inspect(parsed: ParsedIntraday | ParsedSummary) -> dict[str, CheckOutcome]:
        assert isinstance(parsed, ParsedSummary)
        stats = intraday_stats.get(UserDay(parsed.user_id, parsed.day))
        return {
            SCHEMA_CHECK: quality.summary_schema(parsed),
            CONSISTENCY_CHECK: quality.summary_consistency(parsed, stats),
            QUARANTINE_CHECK: quality.quarantine(parsed.quarantined),
        }

    return inspect


def _severity(outcome: CheckOutcome) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if outcome.severity == "error" else dg.AssetCheckSeverity.WARN


def combine(asset: str, name: str, outcomes: list[tuple[str, CheckOutcome]]) -> dg.AssetCheckResult:
    """One check result from the outcomes of each partition (key, outcome) of a run."""
    failed = [(key, o) for key, o in outcomes if not o.passed]
    if len(outcomes) == 1:
        _, only = outcomes[0]
        return dg.AssetCheckResult(
            asset_key=asset,
            check_name=name,
            passed=only.passed,
            severity=_severity(only),
            description=only.description,
            metadata=only.metadata,
        )
    if not failed:
        return dg.AssetCheckResult(
            asset_key=asset,
            check_name=name,
            passed=True,
            description=f"{len(outcomes)} partitions passed",
            metadata={"partitions": len(outcomes)},
        )
    worst = max(failed, key=lambda item: item[1].severity == "error")[1]
    listed = {key: o.description for key, o in failed[:MAX_LISTED_PARTITIONS]}
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=False,
        severity=_severity(worst),
        description=f"{len(failed)} of {len(outcomes)} partitions failed",
        metadata={
            "partitions": len(outcomes),
            "failed_partitions": len(failed),
            "failures": dg.MetadataValue.json(listed),
            **{f"first_{k}": v for k, v in worst.metadata.items()},
        },
    )


def check_results(asset: str, names: Iterable[str], outcomes: list[PartitionOutcome]) -> list[dg.AssetCheckResult]:
    results = []
    for name in names:
        per_partition = [(o.partition.key, o.checks[name]) for o in outcomes if name in o.checks]
        if per_partition:
            results.append(combine(asset, name, per_partition))
    return results


def alert_on_failures(alerts: AlertResource, results: list[dg.AssetCheckResult], run_id: str) -> None:
    """Quality failures of ERROR severity go to the alert webhook."""
    for result in results:
        if not result.passed and result.severity == dg.AssetCheckSeverity.ERROR:
            asset = result.asset_key.to_user_string() if result.asset_key else ""
            alerts.send(
                "check_failed",
                f"hr-pipeline: check {result.check_name} of {asset} failed: {result.description}",
                check=result.check_name,
                asset=asset,
                run_id=run_id,
            )
