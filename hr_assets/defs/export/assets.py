"""The analysis-ready export (``hr export``) as an asset: the study's files, rewritten where loads changed."""

import dagster as dg
from pydantic import Field

from hr_assets.defs.common import TRANSIENT_RETRY, WAREHOUSE_POOL
from hr_assets.domain.export import DEFAULT_MAX_SHIFT_DAYS, DEFAULT_TABLES, ExportError
from hr_assets.domain.export_runner import ExportRequest, default_mapping_path, pseudonymizer_from_settings, run_export
from hr_assets.resources import WarehouseResource
from hr_assets.settings import get_settings
from hr_assets.warehouse.db import WarehouseError

EXPORT_GROUP = "export"
EXPORT_FOLDER = "export"


class ExportConfig(dg.Config):
    """Where and what; by default HR_EXPORT_DESTINATION (else HR_HOME/export), every default table, as stored."""

    destination: str | None = None
    tables: list[str] = Field(default_factory=lambda: list(DEFAULT_TABLES))
    format: str = "parquet"
    deidentify: bool = False
    max_shift_days: int = DEFAULT_MAX_SHIFT_DAYS
    keep_weekday: bool = False


@dg.asset(
    group_name=EXPORT_GROUP,
    pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY,
    kinds={"parquet", "postgres"},
    deps=["activities_heart_intraday_1h", "activities_heart_summary"],
)
def analysis_export(
    context: dg.AssetExecutionContext, config: ExportConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """The study as Parquet (or CSV) with a data dictionary and manifest; only files whose loads changed are written.

    Fails, naming each participant and file, when any participant could not be written (the others are).
    """
    settings = get_settings()
    destination = config.destination or settings.export_destination or str(settings.home / EXPORT_FOLDER)
    try:
        pseudonymizer = (
            pseudonymizer_from_settings(max_shift_days=config.max_shift_days, keep_weekday=config.keep_weekday)
            if config.deidentify
            else None
        )
        request = ExportRequest(
            destination,
            tables=tuple(config.tables),
            format="csv" if config.format == "csv" else "parquet",
            pseudonymizer=pseudonymizer,
            mapping_path=default_mapping_path(destination) if config.deidentify else None,
        )
        summary = run_export(warehouse.warehouse, request, progress=context.log.info)
    except (ExportError, WarehouseError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    if summary.failures:
        raise dg.Failure(description="; ".join(str(f) for f in summary.failures), allow_retries=False)
    context.log.info(summary.describe())
    return dg.MaterializeResult(
        metadata={
            "participants": summary.participants,
            "files_written": len(summary.written),
            "files_unchanged": summary.unchanged,
            "files_removed": len(summary.removed),
            "rows_written": summary.rows_written,
            "deidentified": config.deidentify,
        }
    )
