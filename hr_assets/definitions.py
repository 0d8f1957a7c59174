"""The code location: assembles what the other modules define."""

import dagster as dg

from hr_assets.alerts import AlertResource
from hr_assets.assets import heart_rate_assets, warehouse_maintenance
from hr_assets.checks import latest_day_loaded_check
from hr_assets.jobs import hr_freshness_job, hr_maintenance_job, hr_partition_job
from hr_assets.resources import WarehouseResource
from hr_assets.schedules import hr_freshness_schedule, hr_maintenance_schedule, hr_nightly_schedule
from hr_assets.sensors import hr_automation_sensor, hr_run_failure_sensor, users_sensor

defs = dg.Definitions(
    assets=[*heart_rate_assets, warehouse_maintenance],
    asset_checks=[latest_day_loaded_check],
    jobs=[hr_partition_job, hr_freshness_job, hr_maintenance_job],
    schedules=[hr_nightly_schedule, hr_freshness_schedule, hr_maintenance_schedule],
    sensors=[users_sensor, hr_automation_sensor, hr_run_failure_sensor],
    # Every step is bound by the database, not the CPU: one process per run, steps in order,
    # instead of a Python process per step (which costs seconds each). Also for the CLI.
    executor=dg.in_process_executor,
    resources={
        "warehouse": WarehouseResource(),
        "alerts": AlertResource(),
    },
)
