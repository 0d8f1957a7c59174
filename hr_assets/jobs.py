"""Jobs: what a schedule or a backfill launches."""

from __future__ import annotations

import dagster as dg

from hr_assets.assets import GROUP
from hr_assets.partitions import user_day_partitions

# Raw payloads and every aggregate of a set of partitions, in one run.
hr_partition_job = dg.define_asset_job(
    "hr_partition_job",
    selection=dg.AssetSelection.groups(GROUP),
    partitions_def=user_day_partitions,
    description="Load intraday and summary heart rate for user x day partitions and refresh the aggregates.",
)
