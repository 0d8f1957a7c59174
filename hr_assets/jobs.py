"""Jobs: what schedules, sensors and backfills launch."""

import dagster as dg

from hr_assets.assets import GROUP, MAINTENANCE_GROUP
from hr_assets.checks import INTRADAY, LATEST_DAY_LOADED_CHECK

# Raw payloads and every aggregate of a set of partitions, in one run (in one process: the
# executor is set for every job in definitions.py).
hr_partition_job = dg.define_asset_job(
    "hr_partition_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Load intraday and summary heart rate for user x day partitions and refresh the aggregates.",
)

# The partition-aware freshness check: is every active user's latest complete day loaded?
hr_freshness_job = dg.define_asset_job(
    "hr_freshness_job",
    selection=dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey(INTRADAY), LATEST_DAY_LOADED_CHECK)),
    description="Check that every active user's most recent complete local day has landed.",
)

hr_maintenance_job = dg.define_asset_job(
    "hr_maintenance_job",
    selection=dg.AssetSelection.groups(MAINTENANCE_GROUP),
    description="Retention of raw readings and storage figures.",
)
