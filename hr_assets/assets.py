"""The heart-rate assets. Thin: each reads its partitions and calls a plain function.

Every asset is partitioned by user x local day and runs a backfill of any range in one
process (``BackfillPolicy.single_run``), reading the range from ``context.partition_keys``.
"""

import time
import warnings
from collections.abc import Mapping
from datetime import date
from typing import Any, cast

import dagster as dg

from hr_assets.ingest import IngestReport, PayloadKind, changed_windows, ingest
from hr_assets.partitions import user_day_partitions, user_days
from hr_assets.resources import WarehouseResource
from hr_assets.warehouse.aggregates import LEVELS, AggregateLevel, refresh
from hr_assets.warehouse.db import connection
from hr_assets.warehouse.users import User, users_by_id

# single_run backfills are what make a CLI range one process; the flag is marked beta.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")

GROUP = "heart_rate"
WAREHOUSE_POOL = "warehouse"
# Failures listed in a run's error message; the rest are counted.
MAX_LISTED_FAILURES = 20

_partitioned: dict[str, Any] = {
    "partitions_def": user_day_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "group_name": GROUP,
    "pool": WAREHOUSE_POOL,
}


def _run_partitions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> tuple[list[tuple[str, date]], Mapping[str, User]]:
    partitions = user_days(list(context.partition_keys))
    with connection(warehouse.url) as conn:
        users = users_by_id(conn, sorted({user_id for user_id, _ in partitions}))
    return partitions, users


def _load(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, payload: PayloadKind
) -> dg.MaterializeResult[None]:
    partitions, users = _run_partitions(context, warehouse)
    context.log.info(f"loading {payload} for {len(partitions)} partition(s), {warehouse.mode.value} mode")
    report = ingest(warehouse.url, users, partitions, payload)
    _raise_on_failures(report)
    return dg.MaterializeResult(metadata=_load_metadata(report, warehouse, partitions))


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
    )


@dg.asset(**_partitioned, kinds={"postgres", "polars"})
def activities_heart_intraday(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult[None]:
    """Intraday heart rate (one reading every few seconds) of each user's local day, in UTC."""
    return _load(context, warehouse, "intraday")


@dg.asset(**_partitioned, kinds={"postgres", "polars"})
def activities_heart_summary(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult[None]:
    """Daily summary: resting heart rate and minutes in each heart-rate zone."""
    return _load(context, warehouse, "summary")


def _refresh(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, level: AggregateLevel
) -> dg.MaterializeResult[None]:
    started = time.perf_counter()
    partitions, users = _run_partitions(context, warehouse)
    results = refresh(warehouse.url, warehouse.mode, level, changed_windows(users, partitions))
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
        **_partitioned,
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult[None]:
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
