"""The freshness job: the latest_day_loaded check of the users registry, alone."""

import dagster as dg

from hr_assets.defs.users.assets import USER_REGISTRY
from hr_assets.defs.users.checks import LATEST_DAY_LOADED_CHECK

hr_freshness_job = dg.define_asset_job(
    "hr_freshness_job",
    selection=dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey(USER_REGISTRY), LATEST_DAY_LOADED_CHECK)),
    description="Check that every active user's most recent complete local day has landed.",
)
