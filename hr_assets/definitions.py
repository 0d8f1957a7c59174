"""The code location: the definitions under ``defs/`` (found by ``load_from_defs_folder``) and what
every domain shares: the executor and the resources, chosen here in one place."""

from pathlib import Path

import dagster as dg

from hr_assets.alerts import AlertResource
from hr_assets.resources import WarehouseResource
from hr_assets.sources import SOURCES

defs = dg.Definitions.merge(
    dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
    dg.Definitions(
        # Every step is bound by the database, not the CPU: one process per run, steps in order,
        # instead of a Python process per step (which costs seconds each). Also for the CLI.
        executor=dg.in_process_executor,
        resources={"warehouse": WarehouseResource(), "alerts": AlertResource(), "sources": SOURCES},
    ),
)
