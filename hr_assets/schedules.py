"""Schedules: the nightly load and the freshness check after it."""

from datetime import datetime

import dagster as dg

# What define_asset_job returns; dagster does not export the class itself.
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from hr_assets.jobs import hr_freshness_job, hr_maintenance_job, hr_partition_job
from hr_assets.partitions import USERS_PARTITION_NAME, complete_days
from hr_assets.resources import WarehouseResource
from hr_assets.settings import get_settings
from hr_assets.warehouse.db import connection
from hr_assets.warehouse.users import User, list_users

NIGHTLY_CRON = "0 2 * * *"
FRESHNESS_CRON = "0 6 * * *"
MAINTENANCE_CRON = "0 3 * * *"
# The most recent complete day, and the day before it again: devices sync late.
NIGHTLY_DAYS = 2
PURPOSE_TAG = "hr/purpose"


def nightly_run_requests(users: list[User], tick: datetime, known_users: set[str]) -> list[dg.RunRequest]:
    """One run per (user, day) for the last complete local days of every active user at ``tick``.

    Run keys name the tick, so evaluating the same tick twice launches nothing new, while the
    next night's re-fetch of a day is a new run.
    """
    requests = []
    for user in users:
        if user.id not in known_users:  # registered after the users sensor's last tick; next night
            continue
        for day in complete_days(user.timezone, NIGHTLY_DAYS, now=tick):
            if day < user.start_date:
                continue
            key = f"{day.isoformat()}|{user.id}"
            requests.append(
                dg.RunRequest(
                    run_key=f"nightly:{tick.isoformat()}:{key}",
                    partition_key=key,
                    tags={PURPOSE_TAG: "nightly"},
                )
            )
    return requests


@dg.schedule(
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=get_settings().schedule_timezone,
    job=hr_partition_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night, each active user's most recent complete local day plus a re-fetch of the day before.",
)
def hr_nightly_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource) -> list[dg.RunRequest]:
    with connection(warehouse.url) as conn:
        users = list_users(conn)
    known = set(context.instance.get_dynamic_partitions(USERS_PARTITION_NAME))
    tick = context.scheduled_execution_time
    return nightly_run_requests(users, tick, known)


def _daily(name: str, cron: str, job: UnresolvedAssetJobDefinition, description: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=name,
        cron_schedule=cron,
        execution_timezone=get_settings().schedule_timezone,
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )


hr_freshness_schedule = _daily(
    "hr_freshness_schedule",
    FRESHNESS_CRON,
    hr_freshness_job,
    "After the nightly load: is every active user's latest day loaded and complete?",
)
hr_maintenance_schedule = _daily(
    "hr_maintenance_schedule",
    MAINTENANCE_CRON,
    hr_maintenance_job,
    "Daily retention (HR_RETENTION_DAYS) and storage figures, after the nightly load.",
)
