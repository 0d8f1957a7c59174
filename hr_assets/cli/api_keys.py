"""``hr api-keys create | list | revoke``: bearer keys of the query API."""

from __future__ import annotations

import click

from hr_assets.cli.common import clear_errors, warehouse


@click.group("api-keys")
def api_keys() -> None:
    """Bearer keys of the query API (only a hash is stored)."""


@api_keys.command("create")
@click.option("--user", "user_ids", multiple=True, help="A user the key may read (repeatable).")
@click.option("--all", "all_users", is_flag=True, help="Every user (and /metrics).")
@click.option("--metrics", is_flag=True, help="May read /metrics.")
@click.option("--cohort", help="The participants of this cohort, as it is at each request (those added later too).")
@click.option("--name", default="", help="What the key is for (shown by list).")
def api_keys_create(user_ids: tuple[str, ...], all_users: bool, metrics: bool, cohort: str | None, name: str) -> None:
    """Make a key and print it once."""
    from hr_assets.warehouse.api_keys import create_key
    from hr_assets.warehouse.users import list_users

    with clear_errors(), warehouse().connection() as conn:
        registered = {u.id for u in list_users(conn, include_retired=True)}
        key, secret = create_key(
            conn,
            name=name or _key_name(user_ids, all_users, cohort),
            user_ids=list(user_ids),
            all_users=all_users,
            metrics=metrics,
            cohort=cohort,
            registered=registered,
        )
    click.echo(f"key {key.id} ({key.name}); shown once, keep it somewhere safe:", err=True)
    click.echo(secret)


def _key_name(user_ids: tuple[str, ...], all_users: bool, cohort: str | None) -> str:
    if user_ids:
        return ", ".join(user_ids)
    return "all" if all_users else f"cohort {cohort}" if cohort else "metrics"


@api_keys.command("list")
@click.option("--revoked", "include_revoked", is_flag=True, help="Include revoked keys.")
def api_keys_list(include_revoked: bool) -> None:
    from hr_assets.warehouse.api_keys import list_keys

    with clear_errors(), warehouse().connection() as conn:
        found = list_keys(conn, include_revoked=include_revoked)
    if found:
        click.echo(f"{'id':<5} {'key':<12}  reads  (name; created, state)")
    for key in found:
        reads = "all users" if key.all_users else f"cohort {key.cohort}" if key.cohort else ", ".join(key.user_ids)
        reads = reads or "no users"
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        metrics = " + metrics" if key.metrics or key.all_users else ""
        click.echo(f"{key.id:<5} {key.prefix}...  {reads}{metrics}  ({key.name}; {key.created_at:%Y-%m-%d}, {state})")


@api_keys.command("revoke")
@click.argument("key_id", type=int)
def api_keys_revoke(key_id: int) -> None:
    """Revoke key KEY_ID (the API stops accepting it within 10 s)."""
    from hr_assets.warehouse.api_keys import revoke_key

    with clear_errors(), warehouse().connection() as conn:
        revoke_key(conn, key_id)
    click.echo(f"revoked key {key_id}")
