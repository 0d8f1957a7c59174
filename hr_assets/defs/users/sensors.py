"""The users sensor: the users partitions follow the registry, and a new user's history is loaded."""

import json
from datetime import UTC, datetime

import dagster as dg

from hr_assets.defs.common import HISTORY_USER_TAG, range_run_request
from hr_assets.defs.heart_rate.jobs import hr_partition_job
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.domain.planning import history_due, history_ranges, partition_changes, ration_history
from hr_assets.resources import WarehouseResource
from hr_assets.warehouse.status import loaded_days
from hr_assets.warehouse.tokens import not_connected
from hr_assets.warehouse.users import list_users

USERS_SENSOR_INTERVAL_S = 10


@dg.sensor(
    job=hr_partition_job,
    minimum_interval_seconds=USERS_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps the 'users' partitions in step with the users table (retired users' data is kept) "
    "and loads each new user's history from its start date, in runs of up to a year, a year of history per tick.",
)
def users_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    """Reads the registry, the users partitions, and the load records of users whose history is due.

    A user's history runs are tagged so that the run queue (dagster.yaml) gives each user one at
    a time and all of them together two slots: years of one export cannot starve the nightly load.
    Days already loaded (by `hr backfill`, say) are not asked for again.
    """
    now = datetime.now(UTC)
    with warehouse.connection() as conn:
        active = list_users(conn)
        # A google_health user's history waits for `hr users connect`: asked for before, every day would fail.
        unconnected = not_connected(conn, active)
    present = context.instance.get_dynamic_partitions(USERS_PARTITION_NAME)
    added, removed = partition_changes(active, present, now)
    partition_requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if added:
        partition_requests.append(dg.AddDynamicPartitionsRequest(USERS_PARTITION_NAME, added))
    if removed:
        partition_requests.append(dg.DeleteDynamicPartitionsRequest(USERS_PARTITION_NAME, removed))
        context.log.info(f"users partitions removed: {', '.join(removed)}")
    ready = [user for user in active if user.id not in unconnected]
    before = json.loads(context.cursor) if context.cursor else {}
    due, after = history_due(ready, before, now)
    due, cursor = ration_history(due, before, after)
    requests: list[dg.RunRequest] = []
    if due:
        with warehouse.connection() as conn:
            first, last = min(w[0] for w in due.values()), max(w[1] for w in due.values())
            loaded = loaded_days(conn, sorted(due), first, last)
        for user in active:
            if user.id in due:
                for partitions in history_ranges(user, loaded[user.id], *due[user.id]):
                    key = f"history:{partitions}"
                    requests.append(range_run_request(partitions, "history", key, **{HISTORY_USER_TAG: user.id}))
    if added or requests:
        context.log.info(f"users partitions added: {', '.join(added) or 'none'}; history runs: {len(requests)}")
    return dg.SensorResult(
        run_requests=requests, dynamic_partitions_requests=partition_requests, cursor=json.dumps(cursor, sort_keys=True)
    )
