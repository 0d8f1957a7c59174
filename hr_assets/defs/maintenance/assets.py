"""Warehouse maintenance: retention of raw readings and storage figures."""

import dagster as dg

from hr_assets.defs.common import TRANSIENT_RETRY, WAREHOUSE_POOL
from hr_assets.resources import WarehouseResource
from hr_assets.settings import get_settings
from hr_assets.warehouse.db import WarehouseError
from hr_assets.warehouse.maintenance import apply_retention, storage

MAINTENANCE_GROUP = "maintenance"


@dg.asset(
    group_name=MAINTENANCE_GROUP, pool=WAREHOUSE_POOL, retry_policy=TRANSIENT_RETRY, kinds={"postgres", "timescaledb"}
)
def warehouse_maintenance(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Retention of raw readings (HR_RETENTION_DAYS; aggregates are kept) and storage figures.

    Metadata: size on disk of the raw readings and each aggregate, and in TimescaleDB mode the
    columnstore's size before and after compression and their ratio.
    """
    retention_days = get_settings().retention_days
    try:
        dropped = None if retention_days is None else apply_retention(warehouse.warehouse, retention_days)
        relations = storage(warehouse.warehouse)
    except WarehouseError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
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
