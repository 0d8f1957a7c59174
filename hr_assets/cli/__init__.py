"""``hr``: the operator's command line for hr-pipeline.

\b
  hr db start | stop | status | url      the embedded PostgreSQL (when HR_DATABASE_URL is unset)
  hr migrate                             apply pending SQL migrations
  hr users add | update | retire | list  the user registry
  hr users import ROSTER.csv             register a study's participants in one go
  hr users connect | disconnect USER     a google_health user's OAuth grant
  hr setup                               database, migrations, default users, Dagster partitions
  hr backfill --last-days 7              materialise complete days through Dagster (--user, --from/--to)
  hr quarantine [--user U] [--since T]   the records loads refused, and why
  hr env                                 shell exports for running `dagster` by hand
  hr dagster ARGS...                     the dagster CLI with this project's settings
  hr serve                               the Dagster webserver and daemon (dg dev), and the API, on 127.0.0.1
  hr api                                 the query API (and dashboard) alone
  hr api-keys create | list | revoke     bearer keys of the API
  hr study status | compliance           who is wearing, syncing and connected (docs/study.md)
  hr export DEST                         the study's data as Parquet or CSV for R, pandas, DuckDB (docs/export.md)
  hr audit                               who read which participant's data through the API
"""

from __future__ import annotations

import logging
from typing import Any

import click

from hr_assets.cli.api_keys import api_keys
from hr_assets.cli.db import db, migrate_command
from hr_assets.cli.export import export
from hr_assets.cli.pipeline import backfill, dagster, env, setup
from hr_assets.cli.quarantine import quarantine
from hr_assets.cli.serve import api, serve
from hr_assets.cli.study import audit, study
from hr_assets.cli.users import users
from hr_assets.local import localdb


class _Commands(click.Group):
    """``hr``'s commands: an embedded server that cannot start is a message saying what to do, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except localdb.LocalDatabaseError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Commands, help=__doc__)
@click.option("-v", "--verbose", is_flag=True, help="Log what is being done.")
def main(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


# In the order `hr --help` has always listed them (click sorts them by name there anyway).
for command in (
    db,
    migrate_command,
    users,
    setup,
    backfill,
    quarantine,
    export,
    env,
    dagster,
    serve,
    api,
    api_keys,
    study,
    audit,
):
    main.add_command(command)
