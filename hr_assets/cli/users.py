"""``hr users ...``: the user registry, a study's roster, and google_health users' OAuth grants."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from hr_assets.cli.common import clear_errors, sync_partitions, warehouse, warehouse_url
from hr_assets.cli.enrol import users_invite


@click.group()
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
@click.option("--cohort", help="The study cohort (a site, an arm) the user belongs to.")
def users_add(
    user_id: str,
    timezone: str,
    source: str,
    seed: int | None,
    export_path: str | None,
    config_pairs: tuple[str, ...],
    display_name: str | None,
    start_date: Any,
    cohort: str | None,
) -> None:
    """Register USER_ID."""
    from hr_assets.domain.user_setup import default_start_date
    from hr_assets.sources import SOURCES, UserProfile
    from hr_assets.warehouse.users import NewUser, add_user

    config = _parse_config(config_pairs, export_path)
    with clear_errors():
        profile = UserProfile(user_id, timezone, source, seed, config)
        first = start_date.date() if start_date else default_start_date(profile, date.today())
        new = NewUser(user_id, timezone, first, source, display_name, seed, config, cohort)
        with warehouse().connection() as conn:
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
    from hr_assets.domain.roster import parse_roster, register_roster
    from hr_assets.sources import SOURCES
    from hr_assets.warehouse.users import list_users

    with clear_errors():
        store = warehouse()
        with store.connection() as conn:
            registered = {u.id for u in list_users(conn, include_retired=True)}
        new, errors = parse_roster(roster.read_text(encoding="utf-8-sig"), SOURCES, registered)
        for error in errors:
            click.echo(f"{roster}: {error}", err=True)
        if new:
            with store.connection() as conn:
                register_roster(conn, new, SOURCES)
    click.echo(f"registered {len(new)} user(s); {len(errors)} row(s) refused")
    if new:
        added, _ = sync_partitions()
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
@click.option("--cohort", help="Move the user into this cohort.")
@click.option("--no-cohort", is_flag=True, help="Take the user out of its cohort.")
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
    cohort: str | None,
    no_cohort: bool,
) -> None:
    """Change USER_ID's settings (only the options given)."""
    from hr_assets.sources import SOURCES
    from hr_assets.warehouse.users import update_user

    config = _parse_config(config_pairs, export_path) if (config_pairs or export_path) else None
    with clear_errors(), warehouse().connection() as conn:
        user = update_user(
            conn,
            user_id,
            known_sources=SOURCES.kinds,
            reactivate=reactivate,
            clear_cohort=no_cohort,
            cohort=cohort,
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

    with clear_errors(), warehouse().connection() as conn:
        retire_user(conn, user_id)
    click.echo(f"retired {user_id}")
    _disconnect(user_id)


def _disconnect(user_id: str) -> str | None:
    from hr_assets.sources.google_oauth import disconnect_user

    with clear_errors():
        outcome = disconnect_user(warehouse_url(), user_id)
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

    with clear_errors():
        connect_user(warehouse_url(), user_id, echo=click.echo, open_browser=not no_browser)
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
    from hr_assets.warehouse.invitations import participant_states
    from hr_assets.warehouse.users import list_users

    with clear_errors(), warehouse().connection() as conn:
        found = list_users(conn, include_retired=include_retired)
        # google_health participants: invited / connected / needs reconnect / withdrawn
        connections = participant_states(conn, [u.id for u in found], datetime.now(UTC))
    if as_json:
        listed = [{**u.__dict__, "connection": getattr(connections.get(u.id), "__dict__", None)} for u in found]
        click.echo(json.dumps(listed, default=str, indent=2))
        return
    if found:
        click.echo(f"{'id':<20} {'timezone':<22} {'source':<14} {'cohort':<12} {'first day':<15}  state")
    for u in found:
        state = f"retired {u.retired_at:%Y-%m-%d}" if u.retired_at else "active"
        connection = f"  {connections[u.id].describe()}" if u.id in connections else ""
        click.echo(
            f"{u.id:<20} {u.timezone:<22} {u.source:<14} {u.cohort or '-':<12} from {u.start_date}  {state}{connection}"
        )


users.add_command(users_invite)
