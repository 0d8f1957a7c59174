"""The code location: the definitions under ``defs/`` (found by ``load_from_defs_folder``) and what
every domain shares: the executor and the resources, chosen here in one place."""

from pathlib import Path

import dagster as dg

from hr_assets import defs as defs_package
from hr_assets.local.alerts import AlertResource
from hr_assets.resources import WarehouseResource
from hr_assets.settings import PROJECT_ROOT
from hr_assets.sources import SOURCES


def _defs_folder() -> dg.Definitions:
    """Everything under hr_assets/defs/. From a checkout, load_from_defs_folder reads the project's
    [tool.dg] settings in pyproject.toml; an installed wheel (the image) has no pyproject.toml, and
    the same tree is built from the package itself."""
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return dg.load_from_defs_folder(path_within_project=PROJECT_ROOT)
    return dg.ComponentTree.from_module(defs_module=defs_package, project_root=Path(__file__).parent).build_defs()


defs = dg.Definitions.merge(
    _defs_folder(),
    dg.Definitions(
        # Every step is bound by the database, not the CPU: one process per run, steps in order,
        # instead of a Python process per step (which costs seconds each). Also for the CLI.
        executor=dg.in_process_executor,
        resources={"warehouse": WarehouseResource(), "alerts": AlertResource(), "sources": SOURCES},
    ),
)
