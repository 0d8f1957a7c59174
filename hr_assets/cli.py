"""``hr``: the operator's command line for hr-pipeline.

\b
  hr db start | stop | status | url      the embedded PostgreSQL (when HR_DATABASE_URL is unset)
  hr migrate                             apply pending SQL migrations
  hr users add | update | retire | list  the user registry
  hr setup                               database, migrations, default users, Dagster partitions
  hr backfill --last-days 7              materialise recent complete days through Dagster
  hr env                                 shell exports for running `dagster` by hand
  hr dagster ARGS...                     the dagster CLI with this project's settings
  hr serve                               the Dagster webserver and daemon on 127.0.0.1
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from hr_assets import localdb
from hr_assets.partitions import complete_days
from hr_assets.settings import PROJECT_ROOT, HrSettings, get_settings

DEFAULT_USERS: tuple[dict[str, Any], ...] = (
    {"id": "user1", "seed": 23, "timezone": "Europe/Berlin"},
    {"id": "user2", "seed": 37, "timezone": "America/New_York"},
)
DEFAULT_WEB_PORT = 3000
# Dagster writes the materializations of a partition range in batches of this many events
# instead of one statement each. Opt-in in Dagster; measured with this project's instance, a
# 60-partition CLI backfill took 10.8 s with it and 13.1 s without (bench/ingest.py's
# phase 5). Set it to 0 to turn batching off.
DAGSTER_EVENT_BATCH_SIZE = "1000"


def _settings() -> HrSettings:
    return get_settings()


def _warehouse_url() -> str:
    from hr_assets.resources import resolve_database_url

    return resolve_database_url()


def _dagster_storage_url() -> str:
    settings = _settings()
    if settings.dagster_storage_url:
        return settings.dagster_storage_url
    if settings.database_url:
        return settings.database_url
    from hr_assets.resources import DAGSTER_DATABASE

    server = localdb.ensure_running(settings.home / "postgres")
    return localdb.ensure_database(server, DAGSTER_DATABASE)


def dagster_env() -> dict[str, str]:
    """Environment for Dagster processes: the instance under HR_HOME, both database URLs, event batching."""
    from hr_assets.warehouse.urls import unreadable

    settings = _settings()
    ours = settings.home / "dagster"
    home = settings.dagster_home or ours
    if home == ours:  # our own instance (also after `eval "$(hr env)"`): keep it on the repo's dagster.yaml
        install_instance_config(home)
    urls = {"HR_DATABASE_URL": _warehouse_url(), "HR_DAGSTER_STORAGE_URL": _dagster_storage_url()}
    for name, url in urls.items():
        # Refused here, with its password masked: Dagster's storage would print a URL it cannot parse whole.
        problem = unreadable(url)
        if problem:
            raise click.ClickException(f"{name} is not a PostgreSQL URL: {problem}")
    return instance_env(home, urls["HR_DATABASE_URL"], urls["HR_DAGSTER_STORAGE_URL"])


def _psycopg2_url(url: str) -> str:
    # dagster-postgres sends NOTIFY with bound parameters, which only the psycopg2 driver
    # accepts; SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql:// URL.
    scheme, _, rest = url.partition("://")
    return f"postgresql+psycopg2://{rest}" if scheme in ("postgresql", "postgres") else url


def install_instance_config(home: Path) -> None:
    """Make ``home`` a Dagster instance configured by the repository's dagster.yaml."""
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    source_yaml = PROJECT_ROOT / "dagster.yaml"
    if not instance_yaml.exists() or instance_yaml.read_bytes() != source_yaml.read_bytes():
        shutil.copyfile(source_yaml, instance_yaml)


def instance_env(home: Path, warehouse_url: str, storage_url: str) -> dict[str, str]:
    """The variables a Dagster process of this project runs with (dagster.yaml reads the storage URL)."""
    return {
        "DAGSTER_HOME": str(home),
        "HR_DATABASE_URL": warehouse_url,
        "HR_DAGSTER_STORAGE_URL": _psycopg2_url(storage_url),
        "DAGSTER_EVENT_BATCH_SIZE": os.environ.get("DAGSTER_EVENT_BATCH_SIZE", DAGSTER_EVENT_BATCH_SIZE),
    }


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


# --- database -----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The embedded PostgreSQL server (used when HR_DATABASE_URL is unset)."""


def _require_embedded() -> Path:
    settings = _settings()
    if settings.database_url:
        raise click.ClickException("HR_DATABASE_URL is set: the warehouse is not the embedded server")
    return settings.home / "postgres"


@db.command("start")
def db_start() -> None:
    """Start the embedded server (initialising it on first use) and apply migrations."""
    root = _require_embedded()
    server = localdb.ensure_running(root)
    from hr_assets.warehouse.migrations import migrate

    mode, applied = migrate(_warehouse_url())
    click.echo(f"PostgreSQL on 127.0.0.1:{server.port} ({mode.value} mode, data in {root / 'data'})")
    for name in applied:
        click.echo(f"  applied {name}")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    root = _require_embedded()
    click.echo("stopped" if localdb.stop(root) else "not running")


@db.command("status")
def db_status() -> None:
    server = localdb.running_server(_require_embedded())
    click.echo(f"running on 127.0.0.1:{server.port}" if server else "not running")


@db.command("url")
@click.option("--dagster", "for_dagster", is_flag=True, help="The Dagster storage URL instead.")
def db_url(for_dagster: bool) -> None:
    """Print the warehouse URL (contains the local password: do not paste it anywhere)."""
    click.echo(_psycopg2_url(_dagster_storage_url()) if for_dagster else _warehouse_url())


@main.command()
def migrate() -> None:
    """Apply pending migrations to the warehouse."""
    from hr_assets.warehouse.migrations import migrate as apply

    mode, applied = apply(_warehouse_url())
    click.echo(f"{mode.value} mode; " + (f"applied {', '.join(applied)}" if applied else "up to date"))


# --- users --------------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """The user registry."""


def _user_errors() -> Any:
    from hr_assets.sources import SourceError
    from hr_assets.warehouse.users import UserError

    return (UserError, SourceError)


def _parse_config(pairs: tuple[str, ...], export_path: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE", param_hint="--config")
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    if export_path:
        path = Path(export_path).expanduser().resolve()
        if not path.is_dir():
            raise click.BadParameter(f"{path} is not a folder", param_hint="--export-path")
        config["path"] = str(path)
    return config


@users.command("add")
@click.argument("user_id")
@click.option("--timezone", "-z", required=True, help="IANA time zone, e.g. Europe/Berlin.")
@click.option("--source", default="simulated", show_default=True, help="Source kind.")
@click.option("--seed", type=int, help="Simulator seed (source 'simulated').")
@click.option("--export-path", help="Folder of a Fitbit export or Google Takeout (source 'fitbit_export').")
@click.option("--config", "config_pairs", multiple=True, metavar="KEY=VALUE", help="Other source settings.")
@click.option("--name", "display_name", help="Display name (default: the id).")
@click.option(
    "--start-date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First date to load (default: the source's first date, else 30 days ago).",
)
def users_add(
    user_id: str,
    timezone: str,
    source: str,
    seed: int | None,
    export_path: str | None,
    config_pairs: tuple[str, ...],
    display_name: str | None,
    start_date: Any,
) -> None:
    """Register USER_ID."""
    from hr_assets.sources import SOURCES, UserProfile
    from hr_assets.warehouse.db import connection
    from hr_assets.warehouse.users import NewUser, add_user

    config = _parse_config(config_pairs, export_path)
    try:
        first = start_date.date() if start_date else None
        if first is None:
            available = (
                SOURCES[source].available_dates(UserProfile(user_id, timezone, source, seed, config))
                if source in SOURCES
                else None
            )
            first = available.first if available else date.today() - timedelta(days=30)
        new = NewUser(user_id, timezone, first, source, display_name, seed, config)
        with connection(_warehouse_url()) as conn:
            user = add_user(conn, new, known_sources=set(SOURCES))
    except _user_errors() as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"added {user.id} ({user.timezone}, {user.source}, from {user.start_date})")


@users.command("update")
@click.argument("user_id")
@click.option("--timezone", "-z")
@click.option("--source")
@click.option("--seed", type=int)
@click.option("--export-path")
@click.option("--config", "config_pairs", multiple=True, metavar="KEY=VALUE")
@click.option("--name", "display_name")
@click.option("--start-date", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--reactivate", is_flag=True, help="Schedule a retired user again.")
def users_update(
    user_id: str,
    timezone: str | None,
    source: str | None,
    seed: int | None,
    export_path: str | None,
    config_pairs: tuple[str, ...],
    display_name: str | None,
    start_date: Any,
    reactivate: bool,
) -> None:
    """Change USER_ID's settings (only the options given)."""
    from hr_assets.sources import SOURCES
    from hr_assets.warehouse.db import connection
    from hr_assets.warehouse.users import update_user

    config = _parse_config(config_pairs, export_path) if (config_pairs or export_path) else None
    try:
        with connection(_warehouse_url()) as conn:
            user = update_user(
                conn,
                user_id,
                known_sources=set(SOURCES),
                reactivate=reactivate,
                timezone=timezone,
                source=source,
                seed=seed,
                source_config=config,
                display_name=display_name,
                start_date=start_date.date() if start_date else None,
            )
    except _user_errors() as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"updated {user.id}")


@users.command("retire")
@click.argument("user_id")
def users_retire(user_id: str) -> None:
    """Stop scheduling USER_ID (its data is kept)."""
    from hr_assets.warehouse.db import connection
    from hr_assets.warehouse.users import retire_user

    try:
        with connection(_warehouse_url()) as conn:
            retire_user(conn, user_id)
    except _user_errors() as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"retired {user_id}")


@users.command("list")
@click.option("--all", "include_retired", is_flag=True, help="Include retired users.")
@click.option("--json", "as_json", is_flag=True)
def users_list(include_retired: bool, as_json: bool) -> None:
    from hr_assets.warehouse.db import connection
    from hr_assets.warehouse.users import list_users

    with connection(_warehouse_url()) as conn:
        found = list_users(conn, include_retired=include_retired)
    if as_json:
        click.echo(json.dumps([{**u.__dict__} for u in found], default=str, indent=2))
        return
    for u in found:
        state = f"retired {u.retired_at:%Y-%m-%d}" if u.retired_at else "active"
        click.echo(f"{u.id:<20} {u.timezone:<22} {u.source:<14} from {u.start_date}  {state}")


# --- Dagster ------------------------------------------------------------------------------------


def _ensure_default_users() -> list[str]:
    """Register the demo users, only into an empty registry (an operator's choices stand)."""
    from hr_assets.sources import SOURCES
    from hr_assets.warehouse.db import connection
    from hr_assets.warehouse.users import NewUser, UserError, add_user, list_users

    added: list[str] = []
    with connection(_warehouse_url()) as conn:
        if list_users(conn, include_retired=True):
            return added
        for spec in DEFAULT_USERS:
            try:
                add_user(
                    conn,
                    NewUser(spec["id"], spec["timezone"], date.today() - timedelta(days=30), seed=spec["seed"]),
                    known_sources=set(SOURCES),
                )
                added.append(spec["id"])
            except UserError:
                pass  # already registered
    return added


def sync_partitions() -> tuple[list[str], list[str]]:
    """Make the Dagster ``users`` partitions match the active users; return (added, removed)."""
    import dagster as dg

    from hr_assets.partitions import USERS_PARTITION_NAME, partition_changes
    from hr_assets.warehouse.db import connection
    from hr_assets.warehouse.users import list_users

    with connection(_warehouse_url()) as conn:
        active = {u.id for u in list_users(conn)}
    with dg.DagsterInstance.get() as instance:
        added, removed = partition_changes(active, set(instance.get_dynamic_partitions(USERS_PARTITION_NAME)))
        if added:
            instance.add_dynamic_partitions(USERS_PARTITION_NAME, added)
        for key in removed:
            instance.delete_dynamic_partition(USERS_PARTITION_NAME, key)
    return added, removed


def _set_pool_limit(limit: int) -> None:
    """The 'warehouse' pool's limit: how many steps may write to the warehouse at once."""
    import dagster as dg

    from hr_assets.assets import WAREHOUSE_POOL

    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, limit)


@main.command()
@click.option("--no-default-users", is_flag=True, help="Do not register the demo users user1 and user2.")
def setup(no_default_users: bool) -> None:
    """Database, migrations, default users and Dagster partitions: everything `hr serve` needs."""
    env = dagster_env()
    os.environ.update(env)
    from hr_assets.warehouse.migrations import migrate as apply

    mode, applied = apply(env["HR_DATABASE_URL"])
    click.echo(f"warehouse ready ({mode.value} mode{'; applied ' + ', '.join(applied) if applied else ''})")
    added = [] if no_default_users else _ensure_default_users()
    if added:
        click.echo(f"registered default users: {', '.join(added)}")
    _set_pool_limit(_settings().warehouse_pool_limit)
    new_partitions, _ = sync_partitions()
    if new_partitions:
        click.echo(f"Dagster user partitions added: {', '.join(new_partitions)}")


def partition_runs(wanted: dict[str, list[date]]) -> list[tuple[str, str]]:
    """Partition-key ranges, one per user and run of consecutive days, that cover exactly ``wanted``.

    Dagster reads a range of multi-partition keys as a rectangle: the dates between the two keys'
    dates times the users between their users, in the order the users were added. Only a range
    whose two keys name the same user is therefore exactly that user's days.
    """
    runs: list[tuple[str, str]] = []
    for user in sorted(wanted):
        block: list[date] = []
        for day in [*sorted(set(wanted[user])), date.max]:
            if block and day != block[-1] + timedelta(days=1):
                runs.append((f"{block[0].isoformat()}|{user}", f"{block[-1].isoformat()}|{user}"))
                block = []
            block.append(day)
    return runs


@main.command()
@click.option("--last-days", default=7, show_default=True, help="Complete local days per active user.")
@click.option("--force", is_flag=True, help="Re-materialise partitions that are already materialised.")
def backfill(last_days: int, force: bool) -> None:
    """Materialise the most recent complete days of every active user through Dagster."""
    import dagster as dg

    from hr_assets.assets import activities_heart_intraday
    from hr_assets.definitions import defs
    from hr_assets.warehouse.db import connection
    from hr_assets.warehouse.users import list_users

    env = dagster_env()
    os.environ.update(env)
    logging.getLogger("hr_assets").setLevel(logging.INFO)
    with connection(env["HR_DATABASE_URL"]) as conn:
        active = list_users(conn)
    with dg.DagsterInstance.get() as instance:
        done = set() if force else set(instance.get_materialized_partitions(activities_heart_intraday.key))
        wanted = {
            user.id: [day for day in complete_days(user.timezone, last_days) if f"{day}|{user.id}" not in done]
            for user in active
        }
        wanted = {user: days for user, days in wanted.items() if days}
        total = sum(len(days) for days in wanted.values())
        if not total:
            click.echo(f"the last {last_days} days of {len(active)} user(s) are already materialised")
            return
        click.echo(f"materialising {total} partition(s) through Dagster (runs appear in the UI):")
        job = defs.resolve_job_def("hr_partition_job")
        for first, last in partition_runs(wanted):
            click.echo(f"  run {first} ... {last}")
            result = job.execute_in_process(
                instance=instance,
                tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                raise_on_error=False,
            )
            if not result.success:
                raise click.ClickException(f"run {result.run_id} for {first}...{last} failed; see the Dagster UI")
        click.echo("done")


@main.command()
def env() -> None:
    """Print shell exports for running `dagster` by hand: eval "$(.venv/bin/hr env)"."""
    for key, value in dagster_env().items():
        click.echo(f"export {key}={shlex.quote(value)}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dagster(args: tuple[str, ...]) -> None:
    """Run the dagster CLI with this project's instance and warehouse, e.g. `hr dagster asset list -m ...`."""
    env = dagster_env()
    os.execve(str(Path(sys.executable).parent / "dagster"), ["dagster", *args], {**os.environ, **env})


@main.command()
@click.option(
    "--port",
    type=int,
    default=DEFAULT_WEB_PORT,
    show_default=True,
    help="Preferred port (a free one is used if taken).",
)
def serve(port: int) -> None:
    """Run the Dagster webserver and daemon on 127.0.0.1 until interrupted."""
    env = dagster_env()
    port = localdb.free_port(port)
    click.echo(f"Dagster UI: http://127.0.0.1:{port}  (Ctrl-C stops it; `make stop` stops the database)")
    os.execve(
        str(Path(sys.executable).parent / "dagster"),
        ["dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        {**os.environ, **env},
    )
