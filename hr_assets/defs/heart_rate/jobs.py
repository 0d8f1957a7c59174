"""The heart-rate job: readings, summary and aggregates of a range of partitions, in one run."""

import dagster as dg

from hr_assets.defs.heart_rate.assets import GROUP

# In one process: the executor is set for every job in definitions.py.
hr_partition_job = dg.define_asset_job(
    "hr_partition_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Load intraday and summary heart rate for user x day partitions and refresh the aggregates.",
)
