"""What the definitions of several domains share: the warehouse pool, retries, run tags, daily schedules."""

from __future__ import annotations

import dagster as dg

# Private modules on purpose: dagster 1.13 exports neither the class define_asset_job returns
# (UnresolvedAssetJobDefinition) nor the system tags that make a run cover a partition range and give it a
# priority (dagster/asset_partition_range_start|end, dagster/priority) among the `dagster` package's exports;
# importing them keeps the tag strings Dagster's own rather than copies that could drift.
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, PRIORITY_TAG

from hr_assets.domain.planning import PartitionRange
from hr_assets.settings import get_settings

# Every step that writes to the warehouse holds a slot of this pool (`hr setup` sets its limit).
WAREHOUSE_POOL = "warehouse"
# Transient database errors (connection lost, serialization failure, deadlock) are retried with
# exponential backoff; data errors raise a Failure that is never retried.
TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=3,
    delay=get_settings().retry_delay_seconds,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)
# Why a run was launched (nightly, history, backfill); dagster.yaml's queue limits read it.
PURPOSE_TAG = "hr/purpose"
# The user whose history a run loads: one such run at a time per user (dagster.yaml).
HISTORY_USER_TAG = "hr/history-user"
# Queued nightly runs start before queued history runs.
NIGHTLY_PRIORITY = 10


def range_tags(partitions: PartitionRange) -> dict[str, str]:
    """The tags that make a run of the heart-rate job cover ``partitions``."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: partitions.start.key,
        ASSET_PARTITION_RANGE_END_TAG: partitions.end.key,
    }


def range_run_request(partitions: PartitionRange, purpose: str, run_key: str, **tags: str) -> dg.RunRequest:
    return dg.RunRequest(run_key=run_key, tags={**range_tags(partitions), PURPOSE_TAG: purpose, **tags})


def nightly_tags() -> dict[str, str]:
    return {PRIORITY_TAG: str(NIGHTLY_PRIORITY)}


def daily_schedule(name: str, cron: str, job: UnresolvedAssetJobDefinition, description: str) -> dg.ScheduleDefinition:
    """A schedule that launches ``job`` at ``cron`` in HR_SCHEDULE_TIMEZONE, running by default."""
    return dg.ScheduleDefinition(
        name=name,
        cron_schedule=cron,
        execution_timezone=get_settings().schedule_timezone,
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
