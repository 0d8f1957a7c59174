"""Sensors: users without a deploy, aggregates that follow the raw data, alerts on failure."""

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import dagster as dg

from hr_assets.alerts import AlertResource
from hr_assets.assets import GROUP, activities_heart_intraday
from hr_assets.jobs import hr_partition_job
from hr_assets.partitions import USERS_PARTITION_NAME, complete_days, partition_changes
from hr_assets.resources import WarehouseResource
from hr_assets.schedules import PURPOSE_TAG
from hr_assets.sources.google_oauth import not_connected
from hr_assets.warehouse.db import connection
from hr_assets.warehouse.users import User, list_users

# A new user's history is requested a month at a time per sensor tick, one run per day,
# tagged so the run queue (dagster.yaml) gives each user one history run at a time and all
# history runs together at most two slots: years of one user's export cannot starve others.
HISTORY_DAYS_PER_TICK = 31
HISTORY_USER_TAG = "hr/history-user"
USERS_SENSOR_INTERVAL_S = 60


HistoryCursor = dict[str, dict[str, str]]


def plan_history(
    users: Iterable[User], materialized: set[str], cursor: HistoryCursor, now: datetime
) -> tuple[list[dg.RunRequest], HistoryCursor]:
    """Run requests for the next days of each user's history that are not loaded yet.

    A user's history runs from its start date to the latest complete local day at the moment
    the sensor first sees the user (``until``); later days are the nightly schedule's. The
    cursor keeps, per user, ``until``, the start date it worked from (``start``) and the last day
    already requested (``done``), so a failed day is not asked for again every tick (retry it
    from the UI), while a start date moved earlier starts the history again from there.
    Returns the new cursor.
    """
    requests: list[dg.RunRequest] = []
    new_cursor = {user: dict(state) for user, state in cursor.items()}
    for user in users:
        state = new_cursor.setdefault(
            user.id,
            {
                "until": complete_days(user.timezone, 1, now)[0].isoformat(),
                "done": (user.start_date - timedelta(days=1)).isoformat(),
            },
        )
        if state.get("start", state["done"]) > user.start_date.isoformat():
            # The operator moved the start date earlier: the history before it is new work.
            state["done"] = (user.start_date - timedelta(days=1)).isoformat()
        state["start"] = user.start_date.isoformat()
        until = date.fromisoformat(state["until"])
        day, picked = max(date.fromisoformat(state["done"]) + timedelta(days=1), user.start_date), 0
        while day <= until and picked < HISTORY_DAYS_PER_TICK:
            key = f"{day.isoformat()}|{user.id}"
            if key not in materialized:
                requests.append(
                    dg.RunRequest(
                        run_key=f"history:{key}",
                        partition_key=key,
                        tags={PURPOSE_TAG: "history", HISTORY_USER_TAG: user.id},
                    )
                )
                picked += 1
            state["done"] = day.isoformat()
            day += timedelta(days=1)
    return requests, new_cursor


@dg.sensor(
    job=hr_partition_job,
    minimum_interval_seconds=USERS_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps the 'users' partitions in step with the users table (retired users' data is kept) "
    "and loads each user's history from its start date.",
)
def users_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    with connection(warehouse.url) as conn:
        active = list_users(conn)
        # A google_health user's history waits for `hr users connect`: asked for before, every day would fail.
        unconnected = not_connected(conn, active)
    wanted = {u.id for u in active}
    added, removed = partition_changes(wanted, set(context.instance.get_dynamic_partitions(USERS_PARTITION_NAME)))
    partition_requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if added:
        partition_requests.append(dg.AddDynamicPartitionsRequest(USERS_PARTITION_NAME, added))
    if removed:
        partition_requests.append(dg.DeleteDynamicPartitionsRequest(USERS_PARTITION_NAME, removed))
    materialized = set(context.instance.get_materialized_partitions(activities_heart_intraday.key))
    cursor = json.loads(context.cursor) if context.cursor else {}
    cursor = {user: day for user, day in cursor.items() if user in wanted}
    ready = [user for user in active if user.id not in unconnected]
    requests, cursor = plan_history(ready, materialized, cursor, datetime.now().astimezone())
    if added or removed:
        context.log.info(f"users partitions: added {added or 'none'}, removed {removed or 'none'}")
    return dg.SensorResult(
        run_requests=requests, dynamic_partitions_requests=partition_requests, cursor=json.dumps(cursor, sort_keys=True)
    )


# The aggregate refresh assets follow every raw partition that lands (see AGGREGATE_AUTOMATION).
hr_automation_sensor = dg.AutomationConditionSensorDefinition(
    "hr_automation_sensor",
    target=dg.AssetSelection.groups(GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Refreshes the 1m/1h/1d aggregates of every raw partition that lands, history included.",
)


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
