"""The freshness check, after the nightly load."""

from hr_assets.defs.common import daily_schedule
from hr_assets.defs.users.jobs import hr_freshness_job

FRESHNESS_CRON = "0 6 * * *"

hr_freshness_schedule = daily_schedule(
    "hr_freshness_schedule",
    FRESHNESS_CRON,
    hr_freshness_job,
    "After the nightly load: is every active user's latest day loaded and complete?",
)
