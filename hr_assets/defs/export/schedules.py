"""The daily export, after the nightly load and the maintenance."""

from hr_assets.defs.common import daily_schedule
from hr_assets.defs.export.jobs import hr_export_job

# An hour after the maintenance schedule (03:00), which follows the nightly load.
EXPORT_CRON = "0 4 * * *"

hr_export_schedule = daily_schedule(
    "hr_export_schedule",
    EXPORT_CRON,
    hr_export_job,
    "The analysis-ready export (HR_EXPORT_DESTINATION), rewriting only the files whose loads changed.",
)
