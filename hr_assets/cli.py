"""``hr``: the operator's command line for hr-pipeline.

\b
  hr db start | stop | status | url      the embedded PostgreSQL (when HR_DATABASE_URL is unset)
  hr migrate                             apply pending SQL migrations
  hr users add | update | retire | list  the user registry
  hr users import ROSTER.csv             register a study's participants in one go
  hr users connect | disconnect USER     a google_health user's OAuth grant
  hr setup                               database, migrations, default users, Dagster partitions
  hr backfill --last-days 7              materialise complete days through Dagster (--user, --from/--to)
  hr env                                 shell exports for running `dagster` by hand
  hr dagster ARGS...                     the dagster CLI with this project's settings
  hr serve                               the Dagster webserver and daemon (dg dev), and the API, on 127.0.0.1
  hr api                                 the query API (and dashboard) alone
  hr api-keys create | list | revoke     bearer keys of the API
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hr_assets import localdb
from hr_assets.settings import PROJECT_ROOT, get_settings

if TYPE_CHECKING:
    from hr_assets.warehouse.db import Warehouse
    from hr_assets.warehouse.users import User

DEFAULT_USERS: tuple[dict[str, Any], ...] = (
    {"id": "user1", "seed": 23, "timezone": "Europe/Berlin"},
    {"id": "user2", "seed": 37, "timezone": "America/New_York"},
)
DEFAULT_WEB_PORT = 3000
# How long `hr serve` gives Dagster and the API to stop after Ctrl-C.
SHUTDOWN_SECONDS = 20
# Days `hr backfill` loads when neither --last-days nor --from/--to is given.
DEFAULT_BACKFILL_DAYS = 7
# Days of history the demo users get (`make run`).
DEFAULT_USERS_HISTORY_DAYS = 30


def _warehouse_url() -> str:
    from hr_assets.resources import resolve_database_url

    return resolve_database_url()


def _warehouse() -> Warehouse:
    """The warehouse (the embedded server started if it is the one), for a command's connections."""
    from hr_assets.warehouse.db import Warehouse

    return Warehouse(_warehouse_url())


@contextmanager
def _clear_errors() -> Iterator[None]:
    """The project's errors (bad input, database, mode) as one-line command errors, not tracebacks."""
    from hr_assets.encryption import SecretKeyError
    from hr_assets.instance import InstanceError
    from hr_assets.localdb import LocalDatabaseError
    from hr_assets.roster import RosterError
    from hr_assets.sources import SourceError
    from hr_assets.warehouse.api_keys import ApiKeyError
    from hr_assets.warehouse.db import ModeError, WarehouseError
    from hr_assets.warehouse.migrations import MigrationError
    from hr_assets.warehouse.users import UserError

    errors = (
        InstanceError,
        UserError,
        SourceError,
        SecretKeyError,
        ApiKeyError,
        RosterError,
        WarehouseError,
        ModeError,
        MigrationError,
    )
    try:
        yield
    except (*errors, LocalDatabaseError) as exc:
        raise click.ClickException(str(exc)) from exc


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
    settings = get_settings()
    if settings.database_url:
        raise click.ClickException("HR_DATABASE_URL is set: the warehouse is not the embedded server")
    return settings.home / "postgres"


def _migrate(url: str) -> tuple[Any, list[str]]:
    from hr_assets.warehouse.migrations import migrate as apply

    with _clear_errors():
        return apply(url)


@db.command("start")
def db_start() -> None:
    """Start the embedded server (initialising it on first use) and apply migrations."""
    root = _require_embedded()
    with _clear_errors():
        server = localdb.ensure_running(root)
    mode, applied = _migrate(_warehouse_url())
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
    from hr_assets.instance import dagster_storage_url, psycopg2_url

    click.echo(psycopg2_url(dagster_storage_url()) if for_dagster else _warehouse_url())


@main.command()
def migrate() -> None:
    """Apply pending migrations to the warehouse."""
    mode, applied = _migrate(_warehouse_url())
    click.echo(f"{mode.value} mode; " + (f"applied {', '.join(applied)}" if applied else "up to date"))


# --- users --------------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """The user registry."""


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
    from hr_assets.warehouse.users import NewUser, add_user

    config = _parse_config(config_pairs, export_path)
    with _clear_errors():
        first = start_date.date() if start_date else None
        if first is None:
            profile = UserProfile(user_id, timezone, source, seed, config)
            available = SOURCES[source].available_dates(profile) if source in SOURCES else None
            first = available.first if available else date.today() - timedelta(days=DEFAULT_USERS_HISTORY_DAYS)
        new = NewUser(user_id, timezone, first, source, display_name, seed, config)
        with _warehouse().connection() as conn:
            user = add_user(conn, new, known_sources=SOURCES.kinds)
    click.echo(f"added {user.id} ({user.timezone}, {user.source}, from {user.start_date})")
    if user.source == "google_health":
        click.echo(f"its days load once it is connected: hr users connect {user.id}")


@users.command("import")
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def users_import(roster: Path) -> None:
    """Register the users of ROSTER (CSV: id, timezone, source, settings, start_date; optional name, seed).

    Every row is checked first; bad rows are listed with their line and the good ones registered
    in one transaction. Exits with 1 when a row was bad.
    """
    from hr_assets.roster import parse_roster, register_roster
    from hr_assets.sources import SOURCES
    from hr_assets.warehouse.users import list_users

    with _clear_errors():
        warehouse = _warehouse()
        with warehouse.connection() as conn:
            registered = {u.id for u in list_users(conn, include_retired=True)}
        new, errors = parse_roster(roster.read_text(encoding="utf-8-sig"), SOURCES, registered)
        for error in errors:
            click.echo(f"{roster}: {error}", err=True)
        if new:
            with warehouse.connection() as conn:
                register_roster(conn, new, SOURCES)
    click.echo(f"registered {len(new)} user(s); {len(errors)} row(s) refused")
    if new:
        added, _ = _sync_partitions()
        click.echo(f"Dagster user partitions added: {len(added)}")
    if errors:
        raise SystemExit(1)


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
    from hr_assets.warehouse.users import update_user

    config = _parse_config(config_pairs, export_path) if (config_pairs or export_path) else None
    with _clear_errors(), _warehouse().connection() as conn:
        user = update_user(
            conn,
            user_id,
            known_sources=SOURCES.kinds,
            reactivate=reactivate,
            timezone=timezone,
            source=source,
            seed=seed,
            source_config=config,
            display_name=display_name,
            start_date=start_date.date() if start_date else None,
        )
    click.echo(f"updated {user.id}")


@users.command("retire")
@click.argument("user_id")
def users_retire(user_id: str) -> None:
    """Stop scheduling USER_ID (its data is kept; a Google Health grant is revoked and deleted)."""
    from hr_assets.warehouse.users import retire_user

    with _clear_errors(), _warehouse().connection() as conn:
        retire_user(conn, user_id)
    click.echo(f"retired {user_id}")
    _disconnect(user_id)


def _disconnect(user_id: str) -> str | None:
    from hr_assets.sources.google_oauth import disconnect_user

    with _clear_errors():
        outcome = disconnect_user(_warehouse_url(), user_id)
    said = {
        "revoked": "revoked at Google",
        "already invalid": "Google had already invalidated it",
        "not decryptable": "not readable with the current key, so not revoked: remove hr-pipeline's access "
        "in the Google account's security settings",
    }
    if outcome is not None:
        click.echo(f"deleted {user_id}'s Google Health grant ({said[outcome]})")
    return outcome


@users.command("connect")
@click.argument("user_id")
@click.option("--no-browser", is_flag=True, help="Only print the consent URL (a headless machine).")
def users_connect(user_id: str, no_browser: bool) -> None:
    """Connect the google_health user USER_ID to the Google Health API (OAuth consent in a browser)."""
    from hr_assets.sources.google_oauth import connect_user

    with _clear_errors():
        connect_user(_warehouse_url(), user_id, echo=click.echo, open_browser=not no_browser)
    click.echo(f"connected {user_id}; its days load with the nightly schedule and backfills")


@users.command("disconnect")
@click.argument("user_id")
def users_disconnect(user_id: str) -> None:
    """Revoke USER_ID's Google Health grant at Google and delete it here (its data is kept)."""
    if _disconnect(user_id) is None:
        click.echo(f"{user_id} has no Google Health grant")


@users.command("list")
@click.option("--all", "include_retired", is_flag=True, help="Include retired users.")
@click.option("--json", "as_json", is_flag=True)
def users_list(include_retired: bool, as_json: bool) -> None:
    from hr_assets.warehouse.users import list_users

    with _clear_errors(), _warehouse().connection() as conn:
        found = list_users(conn, include_retired=include_retired)
    if as_json:
        click.echo(json.dumps([{**u.__dict__} for u in found], default=str, indent=2))
        return
    for u in found:
        state = f"retired {u.retired_at:%Y-%m-%d}" if u.retired_at else "active"
        click.echo(f"{u.id:<20} {u.timezone:<22} {u.source:<14} from {u.start_date}  {state}")


# --- Dagster ------------------------------------------------------------------------------------


def _dagster_environment() -> dict[str, str]:
    """``instance.dagster_env()``, also set in this process (the instance and definitions read it)."""
    from hr_assets.instance import dagster_env

    with _clear_errors():
        env = dagster_env()
    os.environ.update(env)
    get_settings.cache_clear()
    return env


def _register_default_users() -> list[str]:
    """Register the demo users, only into an empty registry (an operator's choices stand)."""
    from hr_assets.sources import SOURCES
    from hr_assets.warehouse.users import NewUser, add_user, list_users

    start = date.today() - timedelta(days=DEFAULT_USERS_HISTORY_DAYS)
    with _clear_errors(), _warehouse().connection() as conn:
        if list_users(conn, include_retired=True):
            return []
        for spec in DEFAULT_USERS:
            user = NewUser(spec["id"], spec["timezone"], start, seed=spec["seed"])
            add_user(conn, user, known_sources=SOURCES.kinds)
    return [spec["id"] for spec in DEFAULT_USERS]


def _active_users() -> list[User]:
    from hr_assets.warehouse.users import list_users

    with _clear_errors(), _warehouse().connection() as conn:
        return list_users(conn)


def _sync_partitions() -> tuple[list[str], list[str]]:
    import dagster as dg

    from hr_assets.instance import sync_partitions

    _dagster_environment()
    with dg.DagsterInstance.get() as instance:
        return sync_partitions(instance, _active_users())


@main.command()
@click.option("--no-default-users", is_flag=True, help="Do not register the demo users user1 and user2.")
def setup(no_default_users: bool) -> None:
    """Database, migrations, default users and Dagster partitions: everything `hr serve` needs."""
    import dagster as dg

    from hr_assets.instance import migrate_storage, set_pool_limit

    env = _dagster_environment()
    mode, applied = _migrate(env["HR_DATABASE_URL"])
    click.echo(f"warehouse ready ({mode.value} mode{'; applied ' + ', '.join(applied) if applied else ''})")
    added = [] if no_default_users else _register_default_users()
    if added:
        click.echo(f"registered default users: {', '.join(added)}")
    with dg.DagsterInstance.get() as instance:
        migrate_storage(instance)
        set_pool_limit(instance, get_settings().warehouse_pool_limit)
    new_partitions, _ = _sync_partitions()
    if new_partitions:
        click.echo(f"Dagster user partitions added: {', '.join(new_partitions)}")


@main.command()
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

    from hr_assets.backfill import RangeRun, run_ranges
    from hr_assets.definitions import defs
    from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
    from hr_assets.instance import sync_partitions
    from hr_assets.planning import backfill_ranges, requested_days
    from hr_assets.warehouse.status import loaded_days

    _dagster_environment()
    logging.getLogger("hr_assets").setLevel(logging.INFO)
    active = _active_users()
    unknown = sorted(set(user_ids) - {u.id for u in active})
    if unknown:
        raise click.BadParameter(f"no active user {', '.join(unknown)} (hr users list)", param_hint="--user")
    chosen = [u for u in active if not user_ids or u.id in user_ids]
    if last_days is None and not (first or last):
        last_days = DEFAULT_BACKFILL_DAYS
    now = datetime.now(UTC)
    requested = requested_days(chosen, first.date() if first else None, last.date() if last else None, last_days, now)
    days = [d for ds in requested.values() for d in ds]
    if not days:
        click.echo("no complete days to load for the users and dates asked for")
        return
    with _clear_errors(), _warehouse().connection() as conn:
        loaded = {} if force else loaded_days(conn, sorted(requested), min(days), max(days))
    with dg.DagsterInstance.get() as instance:
        sync_partitions(instance, active)
        order = instance.get_dynamic_partitions(USERS_PARTITION_NAME)
        ranges = backfill_ranges(requested, loaded, order)
        total = sum(len(r.partitions(order)) for r in ranges)
        if not ranges:
            click.echo(f"the {len(days)} requested day(s) of {len(requested)} user(s) are loaded already (--force)")
            return
        click.echo(f"loading {total} partition(s) in {len(ranges)} run(s) through Dagster (runs appear in the UI):")

        def progress(run: RangeRun, index: int, count: int) -> None:
            state = "ok" if run.success else f"FAILED: {run.error}"
            click.echo(f"  [{index}/{count}] {run.partitions} ({run.count} partitions, {run.seconds:.1f} s) {state}")

        report = run_ranges(instance, defs.resolve_job_def("hr_partition_job"), ranges, order, progress)
    failed = report.failed
    click.echo(
        f"landed {report.landed} of {total} partition(s)"
        + (f"; {len(failed)} run(s) failed (runs {', '.join(r.run_id[:8] for r in failed)})" if failed else "")
    )
    if failed:
        raise SystemExit(1)


@main.command()
def env() -> None:
    """Print shell exports for running `dagster` by hand: eval "$(.venv/bin/hr env)"."""
    for key, value in _dagster_environment().items():
        click.echo(f"export {key}={shlex.quote(value)}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dagster(args: tuple[str, ...]) -> None:
    """Run the dagster CLI with this project's instance and warehouse, e.g. `hr dagster asset list -m ...`."""
    env = _dagster_environment()
    os.execve(str(Path(sys.executable).parent / "dagster"), ["dagster", *args], {**os.environ, **env})


@main.command()
@click.option(
    "--port",
    type=int,
    default=DEFAULT_WEB_PORT,
    show_default=True,
    help="Preferred port of the Dagster UI (a free one is used if taken).",
)
@click.option("--api-port", type=int, help="Preferred port of the API (default HR_API_PORT, 8000).")
def serve(port: int, api_port: int | None) -> None:
    """Run the Dagster webserver and daemon (`dg dev`), and the query API, on 127.0.0.1 until interrupted."""
    env = {**os.environ, **_dagster_environment(), "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    port = localdb.free_port(port)
    api_port = localdb.free_port(api_port or get_settings().api_port)
    bin_dir = Path(sys.executable).parent
    # Run from the instance folder: from the repository, Dagster would warn that its dagster.yaml
    # is not the instance's (it is copied there by install_instance_config).
    dagster_ui = [str(bin_dir / "dg"), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "--host", "127.0.0.1"]
    children = [
        subprocess.Popen([*dagster_ui, "--port", str(port)], env=env, cwd=env["DAGSTER_HOME"]),
        subprocess.Popen([str(bin_dir / "hr"), "api", "--host", "127.0.0.1", "--port", str(api_port)], env=env),
    ]
    click.echo(f"Dagster UI: http://127.0.0.1:{port}")
    click.echo(f"API:        http://127.0.0.1:{api_port}  (docs /docs, dashboard /app/)")
    click.echo("Ctrl-C stops both; `make stop` stops the database")
    _supervise(children)


def _supervise(children: list[subprocess.Popen[bytes]]) -> None:
    """Wait until one child ends or Ctrl-C; then stop the others and exit with the first one's status."""
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=SHUTDOWN_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
    failed = [child.returncode for child in children if child.returncode not in (0, -signal.SIGINT, None)]
    if failed:
        raise SystemExit(failed[0])


# --- the query API --------------------------------------------------------------------------------


@main.command()
@click.option("--host", help="Address to listen on (default HR_API_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Preferred port (default HR_API_PORT, 8000; a free one if taken).")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default HR_API_WORKERS, 1).")
def api(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the query API (and the dashboard under /app/) until interrupted."""
    import uvicorn

    from hr_api.auth import is_loopback
    from hr_api.main import create_app, resolve_api_database_url

    settings = get_settings()
    workers = workers or settings.api_workers
    host = host or settings.api_host
    if settings.api_auth == "off" and not is_loopback(host):
        raise click.ClickException(
            f"HR_API_AUTH=off serves everyone's heart rate without a key: allowed only on loopback, not {host}. "
            "Set HR_API_AUTH=keys and make keys with `hr api-keys create`."
        )
    port = localdb.free_port(port or settings.api_port) if is_loopback(host) else (port or settings.api_port)
    with _clear_errors():
        url = resolve_api_database_url(settings)
    click.echo(f"hr api on http://{host}:{port} (auth {settings.api_auth}, {workers} worker(s))")
    if workers == 1:
        uvicorn.run(create_app(settings, database_url=url), host=host, port=port, log_level="info")
        return
    # Each worker imports hr_api.main:app, which reads these: the database found here, and the
    # folder where the workers add up their request metrics (emptied: old workers' counts go).
    shared = settings.home / "api-metrics"
    shutil.rmtree(shared, ignore_errors=True)
    shared.mkdir(parents=True)
    os.environ.update(HR_API_DATABASE_URL=url, PROMETHEUS_MULTIPROC_DIR=str(shared))
    uvicorn.run("hr_api.main:app", host=host, port=port, log_level="info", workers=workers)


@main.group("api-keys")
def api_keys() -> None:
    """Bearer keys of the query API (only a hash is stored)."""


@api_keys.command("create")
@click.option("--user", "user_ids", multiple=True, help="A user the key may read (repeatable).")
@click.option("--all", "all_users", is_flag=True, help="Every user (and /metrics).")
@click.option("--metrics", is_flag=True, help="May read /metrics.")
@click.option("--name", default="", help="What the key is for (shown by list).")
def api_keys_create(user_ids: tuple[str, ...], all_users: bool, metrics: bool, name: str) -> None:
    """Make a key and print it once."""
    from hr_assets.warehouse.api_keys import create_key
    from hr_assets.warehouse.users import list_users

    with _clear_errors(), _warehouse().connection() as conn:
        registered = {u.id for u in list_users(conn, include_retired=True)}
        key, secret = create_key(
            conn,
            name=name or (", ".join(user_ids) if user_ids else "all" if all_users else "metrics"),
            user_ids=list(user_ids),
            all_users=all_users,
            metrics=metrics,
            registered=registered,
        )
    click.echo(f"key {key.id} ({key.name}); shown once, keep it somewhere safe:", err=True)
    click.echo(secret)


@api_keys.command("list")
@click.option("--revoked", "include_revoked", is_flag=True, help="Include revoked keys.")
def api_keys_list(include_revoked: bool) -> None:
    from hr_assets.warehouse.api_keys import list_keys

    with _clear_errors(), _warehouse().connection() as conn:
        found = list_keys(conn, include_revoked=include_revoked)
    for key in found:
        reads = "all users" if key.all_users else ", ".join(key.user_ids) or "no users"
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        metrics = " + metrics" if key.metrics or key.all_users else ""
        click.echo(f"{key.id:<5} {key.prefix}...  {reads}{metrics}  ({key.name}; {key.created_at:%Y-%m-%d}, {state})")


@api_keys.command("revoke")
@click.argument("key_id", type=int)
def api_keys_revoke(key_id: int) -> None:
    """Revoke key KEY_ID (the API stops accepting it within 10 s)."""
    from hr_assets.warehouse.api_keys import revoke_key

    with _clear_errors(), _warehouse().connection() as conn:
        revoke_key(conn, key_id)
    click.echo(f"revoked key {key_id}")
