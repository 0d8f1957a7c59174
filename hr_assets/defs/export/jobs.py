"""The export job."""

import dagster as dg

from hr_assets.defs.export.assets import EXPORT_GROUP

hr_export_job = dg.define_asset_job(
    "hr_export_job",
    selection=dg.AssetSelection.groups(EXPORT_GROUP),
    description="The analysis-ready export, brought up to date.",
)
