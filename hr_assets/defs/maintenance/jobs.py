"""The maintenance job."""

import dagster as dg

from hr_assets.defs.maintenance.assets import MAINTENANCE_GROUP

hr_maintenance_job = dg.define_asset_job(
    "hr_maintenance_job",
    selection=dg.AssetSelection.groups(MAINTENANCE_GROUP),
    description="Retention of raw readings and storage figures.",
)
