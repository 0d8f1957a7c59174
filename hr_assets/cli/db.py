"""``hr db start | stop | status | url`` and ``hr migrate``: the embedded server and the schema."""

from __future__ import annotations

from pathlib import Path

import click

from hr_assets.cli.common import clear_errors, migrate, warehouse_url
from hr_assets.local import localdb
from hr_assets.settings import get_settings


@click.group()
def db() -> None:
    """The embedded PostgreSQL server (used when HR_DATABASE_URL is unset)."""


def _require_embedded() -> Path:
    settings = get_settings()
    if settings.database_url:
        raise click.ClickException("HR_DATABASE_URL is set: the warehouse is not the embedded server")
    return settings.home / "postgres"


@db.command("start")
def db_start() -> None:
    """Start the embedded server (initialising it on first use) and apply migrations."""
    root = _require_embedded()
    with clear_errors():
        server = localdb.ensure_running(root)
    mode, applied = migrate(warehouse_url(create=True))
    click.echo(f"PostgreSQL on 127.0.0.1:{server.port} ({mode.value} mode, data in {root / 'data'})")
    for name in applied:
        click.echo(f"  applied {name}")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    root = _require_embedded()
    click.echo("stopped" if localdb.stop(root) else "not running")


# `status`'s exit code when the server is not running, as LSB init scripts and `pg_ctl status` answer.
NOT_RUNNING = 3


@db.command("status")
def db_status() -> None:
    """Say whether the embedded server runs; exit 0 if it does, 3 if not (for scripts)."""
    server = localdb.running_server(_require_embedded())
    if server is None:
        click.echo("not running")
        raise SystemExit(NOT_RUNNING)
    click.echo(f"running on 127.0.0.1:{server.port}")


@db.command("url")
@click.option("--dagster", "for_dagster", is_flag=True, help="The Dagster storage URL instead.")
def db_url(for_dagster: bool) -> None:
    """Print the warehouse URL (contains the local password: do not paste it anywhere)."""
    from hr_assets.local.instance import dagster_storage_url, psycopg2_url

    click.echo(psycopg2_url(dagster_storage_url()) if for_dagster else warehouse_url())


@click.command("migrate")
def migrate_command() -> None:
    """Apply pending migrations to the warehouse."""
    mode, applied = migrate(warehouse_url(create=True))
    click.echo(f"{mode.value} mode; " + (f"applied {', '.join(applied)}" if applied else "up to date"))
