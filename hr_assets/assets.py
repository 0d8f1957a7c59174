"""The heart-rate assets. Thin: each reads its partitions and calls a plain function.

Every asset is partitioned by user x local day and runs a backfill of any range in one
process (``BackfillPolicy.single_run``), reading the range from ``context.partition_keys``.
"""

import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any, cast

import dagster as dg
import psycopg

from hr_assets.alerts import AlertResource
from hr_assets.checks import (
    INTRADAY,
    INTRADAY_CHECKS,
    SUMMARY,
    SUMMARY_CHECKS,
    alert_on_failures,
    check_results,
    intraday_inspector,
    summary_inspector,
)
from hr_assets.ingest import IngestReport, Inspector, changed_windows, ingest
from hr_assets.partitions import user_day_partitions, user_days
from hr_assets.resources import WarehouseResource
from hr_assets.settings import get_settings
from hr_assets.sources import PayloadKind
from hr_assets.warehouse.aggregates import LEVELS, AggregateLevel, refresh
from hr_assets.warehouse.db import Mode, connection, is_transient
from hr_assets.warehouse.loads import analyze_after_bulk_load
from hr_assets.warehouse.maintenance import apply_retention, retention_horizon, storage
from hr_assets.warehouse.status import intraday_day_stats
from hr_assets.warehouse.users import User, users_by_id

# single_run backfills are what make a CLI range one process; the flag is marked beta.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")

GROUP = "heart_rate"
WAREHOUSE_POOL = "warehouse"
# Failures listed in a run's error message; the rest are counted.
MAX_LISTED_FAILURES = 20
# Transient database errors (connection lost, serialization failure, deadlock) are retried
# with exponential backoff (HR_RETRY_DELAY_SECONDS, 10 s by default); data errors raise a
# Failure that is never retried.
TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=3,
    delay=get_settings().retry_delay_seconds,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)
# The nightly run lands by about 02:30 in the schedule's zone; stale if not updated by 06:00.
FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=24), timezone=get_settings().schedule_timezone
)
# Aggregates follow every raw partition that lands, including backfilled history:
# eager() alone only looks at the latest time window.
AGGREGATE_AUTOMATION = dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())

_partitioned: dict[str, Any] = {
    "partitions_def": user_day_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "group_name": GROUP,
    "pool": WAREHOUSE_POOL,
    "retry_policy": TRANSIENT_RETRY,
    "freshness_policy": FRESHNESS,
}


@contextmanager
def _data_errors_are_final() -> Iterator[None]:
    """Let transient database errors through to the retry policy; anything else fails for good."""
    try:
        yield
    except dg.Failure:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc


def _run_partitions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> tuple[list[tuple[str, date]], Mapping[str, User]]:
    partitions = user_days(list(context.partition_keys))
    with connection(warehouse.url) as conn:
        users = users_by_id(conn, sorted({user_id for user_id, _ in partitions}))
    return partitions, users


def _load(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    payload: PayloadKind,
    inspect: Inspector,
    partitions: list[tuple[str, date]],
    users: Mapping[str, User],
) -> IngestReport:
    with _data_errors_are_final():
        context.log.info(f"loading {payload} for {len(partitions)} partition(s), {warehouse.mode.value} mode")
        report = ingest(warehouse.url, users, partitions, payload, inspect=inspect)
    _raise_on_failures(report)
    return report


def _load_metadata(
    report: IngestReport, warehouse: WarehouseResource, partitions: list[tuple[str, date]]
) -> dict[str, Any]:
    days = [day for _, day in partitions]
    return {
        **report.totals(),
        # A re-load's corrected values: the rows whose values it replaced.
        "rows_replaced": report.total("rows_updated"),
        "partitions": len(partitions),
        "time_range": f"{min(days)}..{max(days)}" if days else "",
        "users": ", ".join(sorted({user for user, _ in partitions})),
        "mode": warehouse.mode.value,
        "duration_s": round(report.seconds, 3),
        "rows_per_s": round(report.total("rows_written") / report.seconds) if report.seconds else 0,
    }


def _raise_on_failures(report: IngestReport) -> None:
    failures = report.failures
    if not failures:
        return
    listed = "\n".join(f"- {f.day}|{f.user_id}: {f.error}" for f in failures[:MAX_LISTED_FAILURES])
    more = len(failures) - MAX_LISTED_FAILURES
    raise dg.Failure(
        description=(
            f"{len(failures)} of {len(report.outcomes)} {report.payload} partition(s) could not be loaded "
            f"(the others were loaded; refused payloads are in the quarantine table):\n{listed}"
            + (f"\n... and {more} more" if more > 0 else "")
        ),
        metadata={**report.totals(), "failed_partitions": len(failures)},
        allow_retries=False,
    )


@dg.asset(**_partitioned, kinds={"postgres", "polars"}, check_specs=INTRADAY_CHECKS)
def activities_heart_intraday(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, alerts: AlertResource
) -> dg.MaterializeResult:
    """Intraday heart rate (one reading every few seconds) of each user's local day, in UTC."""
    with _data_errors_are_final():
        partitions, users = _run_partitions(context, warehouse)
    report = _load(context, warehouse, "intraday", intraday_inspector(), partitions, users)
    analyzed = False
    if warehouse.mode is Mode.POSTGRES:
        # Best effort: the readings are committed; without fresh statistics only the rollups are slower.
        try:
            with connection(warehouse.url) as conn:
                analyzed = analyze_after_bulk_load(conn, report.total("rows_inserted"))
        except psycopg.Error as exc:
            context.log.warning(f"ANALYZE after the load skipped: {type(exc).__name__}: {exc}")
    results = check_results(INTRADAY, [s.name for s in INTRADAY_CHECKS], report.outcomes)
    alert_on_failures(alerts, results, context.run.run_id)
    metadata = {**_load_metadata(report, warehouse, partitions), "table_analyzed": analyzed}
    return dg.MaterializeResult(metadata=metadata, check_results=results)


@dg.asset(**_partitioned, kinds={"postgres", "polars"}, check_specs=SUMMARY_CHECKS, deps=[activities_heart_intraday])
def activities_heart_summary(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, alerts: AlertResource
) -> dg.MaterializeResult:
    """Daily summary: resting heart rate and minutes in each heart-rate zone.

    Loaded after the day's intraday readings, which its consistency check compares it with.
    """
    with _data_errors_are_final():
        partitions, users = _run_partitions(context, warehouse)
        with connection(warehouse.url) as conn:
            intraday_stats = intraday_day_stats(conn, partitions)
    report = _load(context, warehouse, "summary", summary_inspector(intraday_stats), partitions, users)
    results = check_results(SUMMARY, [s.name for s in SUMMARY_CHECKS], report.outcomes)
    alert_on_failures(alerts, results, context.run.run_id)
    return dg.MaterializeResult(metadata=_load_metadata(report, warehouse, partitions), check_results=results)


def _refresh(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, level: AggregateLevel
) -> dg.MaterializeResult:
    started = time.perf_counter()
    with _data_errors_are_final():
        partitions, users = _run_partitions(context, warehouse)
        horizon = retention_horizon(get_settings().retention_days)
        results = refresh(warehouse.url, warehouse.mode, level, changed_windows(users, partitions), horizon)
    return dg.MaterializeResult(
        metadata={
            "buckets": sum(r.buckets for r in results),
            "windows": len(results),
            "window_start": str(min((r.window_start for r in results), default="")),
            "window_end": str(max((r.window_end for r in results), default="")),
            "mode": warehouse.mode.value,
            "duration_s": round(time.perf_counter() - started, 3),
        }
    )


def _aggregate_asset(level: AggregateLevel, upstream: dg.AssetsDefinition | str) -> dg.AssetsDefinition:
    @dg.asset(
        name=level.relation,
        deps=[upstream],
        kinds={"postgres", "timescaledb"},
        description=(
            f"{level.name} buckets (UTC) of min, max, average bpm and sample count, refreshed for the "
            "partitions' windows. A continuous aggregate in TimescaleDB mode, a table in PostgreSQL mode."
        ),
        automation_condition=AGGREGATE_AUTOMATION,
        **_partitioned,
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        return _refresh(context, warehouse, level)

    return cast(dg.AssetsDefinition, _asset)


activities_heart_intraday_1m = _aggregate_asset(LEVELS["1m"], activities_heart_intraday)
activities_heart_intraday_1h = _aggregate_asset(LEVELS["1h"], LEVELS["1m"].relation)
activities_heart_intraday_1d = _aggregate_asset(LEVELS["1d"], LEVELS["1h"].relation)

heart_rate_assets = [
    activities_heart_intraday,
    activities_heart_summary,
    activities_heart_intraday_1m,
    activities_heart_intraday_1h,
    activities_heart_intraday_1d,
]


MAINTENANCE_GROUP = "maintenance"


@dg.asset(
    group_name=MAINTENANCE_GROUP,
    deps=[activities_heart_intraday_1d],
    pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY,
    kinds={"postgres", "timescaledb"},
)
def warehouse_maintenance(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Retention of raw readings (HR_RETENTION_DAYS; aggregates are kept) and storage figures.

    Metadata: size on disk of the raw readings and each aggregate, and in TimescaleDB mode the
    columnstore's size before and after compression and their ratio.
    """
    with _data_errors_are_final():
        retention_days = get_settings().retention_days
        dropped = None if retention_days is None else apply_retention(warehouse.url, warehouse.mode, retention_days)
        relations = storage(warehouse.url, warehouse.mode)
    raw = relations[0]
    table = "\n".join(
        ["| relation | total | chunks | columnstore chunks | before | after | ratio |", "|---|---|---|---|---|---|---|"]
        + [
            f"| {r.relation} | {r.total_bytes:,} | {r.chunks} | {r.columnstore_chunks} | "
            f"{r.before_compression_bytes:,} | {r.after_compression_bytes:,} | {r.compression_ratio or ''} |"
            for r in relations
        ]
    )
    context.log.info(f"storage ({warehouse.mode.value} mode): raw readings {raw.total_bytes:,} bytes")
    return dg.MaterializeResult(
        metadata={
            "mode": warehouse.mode.value,
            "raw_total_bytes": raw.total_bytes,
            "raw_compressed_bytes": raw.after_compression_bytes,
            "raw_uncompressed_bytes": raw.before_compression_bytes,
            "raw_compression_ratio": float(raw.compression_ratio) if raw.compression_ratio else None,
            "storage": dg.MetadataValue.md(table),
            "retention_days": retention_days,
            "retention_dropped": dropped,
        }
    )
