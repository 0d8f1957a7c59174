"""The nightly load: every active user's latest complete local days, in a few ranged runs."""

import dagster as dg

from hr_assets.defs.common import nightly_tags, range_run_request
from hr_assets.defs.heart_rate.jobs import hr_partition_job
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.domain.planning import NIGHTLY_DAYS, nightly_ranges
from hr_assets.resources import WarehouseResource
from hr_assets.settings import get_settings
from hr_assets.warehouse.users import list_users

NIGHTLY_CRON = "0 2 * * *"


@dg.schedule(
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=get_settings().schedule_timezone,
    job=hr_partition_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Every night, each active user's last {NIGHTLY_DAYS} complete local days (the latest and a "
    "re-fetch of the day before), as a few runs each covering a range of users and days.",
)
def hr_nightly_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource) -> list[dg.RunRequest]:
    with warehouse.connection() as conn:
        users = list_users(conn)
    order = context.instance.get_dynamic_partitions(USERS_PARTITION_NAME)
    tick = context.scheduled_execution_time
    # Run keys name the tick: evaluating it twice launches nothing new; the next night is new.
    return [
        range_run_request(partitions, "nightly", f"nightly:{tick.isoformat()}:{partitions}", **nightly_tags())
        for partitions in nightly_ranges(users, tick, order)
    ]
