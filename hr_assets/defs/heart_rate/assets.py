"""The heart-rate assets. Thin: each reads its partitions and calls a plain function.

Every asset is partitioned by user x local day and runs a backfill of any range in one
process (``BackfillPolicy.single_run``), reading the range from ``context.partition_keys``.
The aggregates ride in the same runs as the readings they summarise: every launcher (the
nightly schedule, the users sensor, ``hr backfill``) runs the whole group.
"""

import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

import dagster as dg

from hr_assets.defs.common import TRANSIENT_RETRY, WAREHOUSE_POOL
from hr_assets.defs.heart_rate.checks import (
    INTRADAY,
    INTRADAY_CHECKS,
    SUMMARY,
    SUMMARY_CHECKS,
    alert_on_failures,
    check_results,
    intraday_inspector,
    summary_inspector,
)
from hr_assets.defs.heart_rate.partitions import user_day_partitions
from hr_assets.domain.ingest import IngestReport, Inspector, changed_windows, ingest
from hr_assets.domain.user_day import UserDay, parse_keys
from hr_assets.local.alerts import AlertResource
from hr_assets.resources import WarehouseResource
from hr_assets.settings import get_settings
from hr_assets.sources import PayloadKind, SourceRegistry, TransientSourceError
from hr_assets.warehouse.aggregates import LEVELS, AggregateLevel, refresh
from hr_assets.warehouse.db import Mode, WarehouseError, WarehouseUnavailable
from hr_assets.warehouse.loads import analyze_after_bulk_load
from hr_assets.warehouse.maintenance import retention_horizon
from hr_assets.warehouse.status import intraday_day_stats
from hr_assets.warehouse.users import User, users_by_id

# single_run backfills are what make a CLI range one process; the flag is marked beta.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")

GROUP = "heart_rate"
# Failures listed in a run's error message; the rest are counted.
MAX_LISTED_FAILURES = 20
# The nightly run lands by about 02:30 in the schedule's zone; stale if not updated by 06:00.
FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=24), timezone=get_settings().schedule_timezone
)

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
    """Let transient database and source errors through to the retry policy; anything else fails for good."""
    try:
        yield
    except (dg.Failure, WarehouseUnavailable, TransientSourceError):
        raise
    except Exception as exc:
        raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc


def _run_partitions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> tuple[list[UserDay], Mapping[str, User]]:
    partitions = parse_keys(context.partition_keys)
    if not partitions:
        raise dg.Failure(
            description="the run's partition range is empty: in a range DATE|A...DATE|B, user A must come before "
            "user B in the users dimension (the order the Dagster UI lists them in)",
            allow_retries=False,
        )
    with warehouse.connection() as conn:
        users = users_by_id(conn, sorted({p.user_id for p in partitions}))
    return partitions, users


def _load(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sources: SourceRegistry,
    payload: PayloadKind,
    inspect: Inspector,
    partitions: list[UserDay],
    users: Mapping[str, User],
) -> IngestReport:
    with _data_errors_are_final():
        context.log.info(f"loading {payload} for {len(partitions)} partition(s), {warehouse.mode.value} mode")
        report = ingest(warehouse.warehouse, sources, users, partitions, payload, inspect=inspect)
    _raise_on_failures(report)
    return report


def _load_metadata(report: IngestReport, warehouse: WarehouseResource, partitions: list[UserDay]) -> dict[str, Any]:
    days = [p.day for p in partitions]
    return {
        **report.totals(),
        # A re-load's corrected values: the rows whose values it replaced.
        "rows_replaced": report.total("rows_updated"),
        "partitions": len(partitions),
        "time_range": f"{min(days)}..{max(days)}" if days else "",
        "users": ", ".join(sorted({p.user_id for p in partitions})),
        "mode": warehouse.mode.value,
        "duration_s": round(report.seconds, 3),
        "rows_per_s": round(report.total("rows_written") / report.seconds) if report.seconds else 0,
    }


def _raise_on_failures(report: IngestReport) -> None:
    failures = report.failures
    if not failures:
        return
    listed = "\n".join(f"- {f.partition.key}: {f.error}" for f in failures[:MAX_LISTED_FAILURES])
    more = len(failures) - MAX_LISTED_FAILURES
    notes = ["the others were loaded"] if report.loaded else []
    if any(f.quarantined_whole for f in failures):
        notes.append("refused payloads are in the quarantine table")
    raise dg.Failure(
        description=(
            f"{len(failures)} of {len(report.outcomes)} {report.payload} partition(s) could not be loaded"
            + (f" ({'; '.join(notes)})" if notes else "")
            + f":\n{listed}"
            + (f"\n... and {more} more" if more > 0 else "")
        ),
        metadata={**report.totals(), "failed_partitions": len(failures)},
        allow_retries=False,
    )


@dg.asset(**_partitioned, kinds={"postgres", "polars"}, check_specs=INTRADAY_CHECKS)
def activities_heart_intraday(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sources: dg.ResourceParam[SourceRegistry],
    alerts: AlertResource,
) -> dg.MaterializeResult:
    """Intraday heart rate (one reading every few seconds) of each user's local day, in UTC."""
    with _data_errors_are_final():
        partitions, users = _run_partitions(context, warehouse)
    report = _load(context, warehouse, sources, "intraday", intraday_inspector(), partitions, users)
    analyzed = False
    if warehouse.mode is Mode.POSTGRES:
        # Best effort: the readings are committed; without fresh statistics only the rollups are slower.
        try:
            with warehouse.connection() as conn:
                analyzed = analyze_after_bulk_load(conn, report.total("rows_inserted"))
        except WarehouseError as exc:
            context.log.warning(f"ANALYZE after the load skipped: {exc}")
    results = check_results(INTRADAY, [s.name for s in INTRADAY_CHECKS], report.outcomes)
    alert_on_failures(alerts, results, context.run.run_id)
    metadata = {**_load_metadata(report, warehouse, partitions), "table_analyzed": analyzed}
    return dg.MaterializeResult(metadata=metadata, check_results=results)


@dg.asset(**_partitioned, kinds={"postgres", "polars"}, check_specs=SUMMARY_CHECKS, deps=[activities_heart_intraday])
def activities_heart_summary(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    sources: dg.ResourceParam[SourceRegistry],
    alerts: AlertResource,
) -> dg.MaterializeResult:
    """Daily summary: resting heart rate and minutes in each heart-rate zone.

    Loaded after the day's intraday readings, which its consistency check compares it with.
    """
    with _data_errors_are_final():
        partitions, users = _run_partitions(context, warehouse)
        with warehouse.connection() as conn:
            intraday_stats = intraday_day_stats(conn, partitions)
    report = _load(context, warehouse, sources, "summary", summary_inspector(intraday_stats), partitions, users)
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
        results = refresh(warehouse.warehouse, level, changed_windows(users, partitions), horizon)
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
            "partitions' windows in the same run as the readings. A continuous aggregate in TimescaleDB "
            "mode, a table in PostgreSQL mode."
        ),
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
