"""The code location: assembles what the other modules define."""

from __future__ import annotations

import dagster as dg

from hr_assets.assets import heart_rate_assets
from hr_assets.jobs import hr_partition_job
from hr_assets.resources import WarehouseResource

defs = dg.Definitions(
    assets=heart_rate_assets,
    jobs=[hr_partition_job],
    resources={"warehouse": WarehouseResource()},
)
