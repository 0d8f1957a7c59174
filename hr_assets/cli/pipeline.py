"""``hr setup``, ``hr backfill``, ``hr env`` and ``hr dagster``: the pipeline, run through Dagster."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hr_assets.cli.common import active_users, clear_errors, dagster_environment, migrate, sync_partitions, warehouse
from hr_assets.settings import get_settings

if TYPE_CHECKING:
    from hr_assets.local.backfill import RangeRun


@click.command()
@click.option("--no-default-users", is_flag=True, help="Do not register the demo users user1 and user2.")
def setup(no_default_users: bool) -> None:
    """Database, migrations, default users and Dagster partitions: everything `hr serve` needs."""
    import dagster as dg

    from hr_assets.domain.user_setup import register_default_users
    from hr_assets.local.instance import migrate_storage, set_pool_limit

    env = dagster_environment()
    mode, applied = migrate(env["HR_DATABASE_URL"])
    click.echo(f"warehouse ready ({mode.value} mode{'; applied ' + ', '.join(applied) if applied else ''})")
    added: list[str] = []
    if not no_default_users:
        with clear_errors(), warehouse().connection() as conn:
            added = register_default_users(conn, date.today())
    if added:
        click.echo(f"registered default users: {', '.join(added)}")
    with dg.DagsterInstance.get() as instance:
        migrate_storage(instance)
        set_pool_limit(instance, get_settings().warehouse_pool_limit)
    new_partitions, _ = sync_partitions()
    if new_partitions:
        click.echo(f"Dagster user partitions added: {', '.join(new_partitions)}")


@click.command()
@click.option(
    "--last-days",
    type=click.IntRange(min=1),
    help="Each user's last N complete local days (default 7).",
)
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), help="First local date (default: start date).")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), help="Last local date (default: latest complete).")
@click.option("--user", "user_ids", multiple=True, help="Only this user (repeatable; default: every active user).")
@click.option("--force", is_flag=True, help="Load days again that are loaded already.")
def backfill(
    last_days: int | None, first: datetime | None, last: datetime | None, user_ids: tuple[str, ...], force: bool
) -> None:
    """Materialise complete local days through Dagster, in a few runs that each cover a range.

    \b
    hr backfill --last-days 7                     the last week of every active user
    hr backfill --user alice --from 2024-01-01    alice's days since then
    """
    if last_days is not None and (first or last):
        raise click.UsageError("--last-days or --from/--to, not both")
    if first and last and last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    import dagster as dg

    from hr_assets.definitions import defs
    from hr_assets.domain.planning import start_date_cuts
    from hr_assets.local.backfill import plan_backfill, run_ranges

    dagster_environment()
    logging.getLogger("hr_assets").setLevel(logging.INFO)
    active = active_users()
    with clear_errors(), dg.DagsterInstance.get() as instance:
        plan = plan_backfill(
            warehouse(),
            instance,
            active,
            user_ids=user_ids,
            first=first.date() if first else None,
            last=last.date() if last else None,
            last_days=last_days,
            force=force,
            now=datetime.now(UTC),
        )
        chosen = [u for u in active if not user_ids or u.id in user_ids]
        for user in start_date_cuts(chosen, first.date() if first else None, last.date() if last else None):
            click.echo(
                f"{user.id} starts on {user.start_date}: no day before it is loaded "
                f"(hr users update {user.id} --start-date YYYY-MM-DD moves it)"
            )
        if not plan.day_count:
            click.echo("no complete days to load for the users and dates asked for")
            return
        if not plan.ranges:
            click.echo(
                f"the {plan.day_count} requested day(s) of {len(plan.requested)} user(s) are loaded already (--force)"
            )
            return
        total = plan.partition_count
        click.echo(
            f"loading {total} partition(s) in {len(plan.ranges)} run(s) through Dagster (runs appear in the UI):"
        )

        def progress(run: RangeRun, index: int, count: int) -> None:
            state = "ok" if run.success else f"FAILED: {run.error}"
            click.echo(f"  [{index}/{count}] {run.partitions} ({run.count} partitions, {run.seconds:.1f} s) {state}")

        started = datetime.now(UTC).replace(microsecond=0)
        report = run_ranges(instance, defs.resolve_job_def("hr_partition_job"), plan.ranges, plan.user_order, progress)
    failed = report.failed
    click.echo(
        f"landed {report.landed} of {total} partition(s)"
        + (f"; {len(failed)} run(s) failed (runs {', '.join(r.run_id[:8] for r in failed)})" if failed else "")
    )
    quarantined = _quarantined_by(plan.requested, started)
    if quarantined:
        click.echo(
            f"{quarantined:,} record(s) went to quarantine: "
            f"hr quarantine --since {started:%Y-%m-%dT%H:%M:%S} lists them with their reasons"
        )
    if failed:
        raise SystemExit(1)


def _quarantined_by(requested: dict[str, list[date]], started: datetime) -> int:
    """Records quarantined by the loads of the requested days since ``started`` (this backfill's)."""
    from hr_assets.warehouse.quarantine import quarantined_since

    days = [day for user_days in requested.values() for day in user_days]
    with clear_errors(), warehouse().connection() as conn:
        return quarantined_since(conn, sorted(requested), min(days), max(days), started)


@click.command()
def env() -> None:
    """Print shell exports for running `dagster` by hand: eval "$(.venv/bin/hr env)"."""
    for key, value in dagster_environment().items():
        click.echo(f"export {key}={shlex.quote(value)}")


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dagster(args: tuple[str, ...]) -> None:
    """Run the dagster CLI with this project's instance and warehouse, e.g. `hr dagster asset list -m ...`."""
    env = dagster_environment()
    os.execve(str(Path(sys.executable).parent / "dagster"), ["dagster", *args], {**os.environ, **env})
