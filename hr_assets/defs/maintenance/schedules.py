"""Daily maintenance, after the nightly load."""

from hr_assets.defs.common import daily_schedule
from hr_assets.defs.maintenance.jobs import hr_maintenance_job

MAINTENANCE_CRON = "0 3 * * *"

hr_maintenance_schedule = daily_schedule(
    "hr_maintenance_schedule",
    MAINTENANCE_CRON,
    hr_maintenance_job,
    "Daily retention (HR_RETENTION_DAYS) and storage figures, after the nightly load.",
)
