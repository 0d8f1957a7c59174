"""Alerts on failed runs (HR_ALERT_WEBHOOK_URL)."""

from typing import Any

import dagster as dg

from hr_assets.local.alerts import AlertResource


def run_failure_message(run: dg.DagsterRun, error: str | None) -> tuple[str, dict[str, Any]]:
    partition = run.tags.get("dagster/partition") or "..".join(
        filter(
            None,
            [run.tags.get("dagster/asset_partition_range_start"), run.tags.get("dagster/asset_partition_range_end")],
        )
    )
    text = f"hr-pipeline: run {run.run_id[:8]} of {run.job_name} failed" + (f" ({partition})" if partition else "")
    return text, {"job": run.job_name, "run_id": run.run_id, "partition": partition or None, "error": error}


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts failed runs to HR_ALERT_WEBHOOK_URL (off when unset).",
)
def hr_run_failure_sensor(context: dg.RunFailureSensorContext, alerts: AlertResource) -> None:
    error = context.failure_event.message if context.failure_event else None
    text, details = run_failure_message(context.dagster_run, error)
    alerts.send("run_failed", text, **details)
