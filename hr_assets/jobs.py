"""Jobs: what schedules, sensors and backfills launch."""

import dagster as dg

from hr_assets.assets import GROUP, MAINTENANCE_GROUP
from hr_assets.checks import INTRADAY, LATEST_DAY_LOADED_CHECK

# Raw payloads and every aggregate of a set of partitions, in one run. The steps are
# database-bound and small, so one process runs them in order instead of one process each.
hr_partition_job = dg.define_asset_job(
    "hr_partition_job",
    selection=dg.AssetSelection.groups(GROUP),
    executor_def=dg.in_process_executor,
    description="Load intraday and summary heart rate for user x day partitions and refresh the aggregates.",
)

# The partition-aware freshness check: is every active user's latest complete day loaded?
hr_freshness_job = dg.define_asset_job(
    "hr_freshness_job",
    selection=dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey(INTRADAY), LATEST_DAY_LOADED_CHECK)),
    executor_def=dg.in_process_executor,
    description="Check that every active user's most recent complete local day has landed.",
)

hr_maintenance_job = dg.define_asset_job(
    "hr_maintenance_job",
    selection=dg.AssetSelection.groups(MAINTENANCE_GROUP),
    executor_def=dg.in_process_executor,
    description="Retention of raw readings and storage figures.",
)
