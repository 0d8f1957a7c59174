"""Alerts on failed runs (HR_ALERT_WEBHOOK_URL)."""

from typing import Any

import dagster as dg

from hr_assets.local.alerts import AlertResource, action_hints


def run_failure_message(run: dg.DagsterRun, error: str | None) -> tuple[str, dict[str, Any]]:
    partition = run.tags.get("dagster/partition") or "..".join(
        filter(
            None,
            [run.tags.get("dagster/asset_partition_range_start"), run.tags.get("dagster/asset_partition_range_end")],
        )
    )
    text = f"hr-pipeline: run {run.run_id[:8]} of {run.job_name} failed" + (f" ({partition})" if partition else "")
    return text, {"job": run.job_name, "run_id": run.run_id, "partition": partition or None, "error": error}


def _step_errors(context: dg.RunFailureSensorContext) -> list[str]:
    messages = []
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        if data is not None and data.error is not None:
            messages.append(data.error.message)
    return messages


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts failed runs to HR_ALERT_WEBHOOK_URL (off when unset).",
)
def hr_run_failure_sensor(context: dg.RunFailureSensorContext, alerts: AlertResource) -> None:
    error = context.failure_event.message if context.failure_event else None
    # The run's message names the failed steps only; what to do (reconnect, re-invite) is in the steps' errors.
    hints = [hint for message in _step_errors(context) for hint in action_hints(message)]
    if hints:
        error = " ".join([error or "the run failed:", *dict.fromkeys(hints)])
    text, details = run_failure_message(context.dagster_run, error)
    alerts.send("run_failed", text, **details)
