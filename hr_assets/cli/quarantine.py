"""``hr quarantine``: the records loads refused, with their reasons, newest first."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from hr_assets.cli.common import clear_errors, warehouse

# A record is shown up to this many characters (`--full` shows it whole).
RECORD_CHARS = 80


@click.command()
@click.option("--user", "user_id", help="Only this user's records.")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
    help="Only records quarantined at or after this date or UTC time (as `hr backfill` prints it).",
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--full", is_flag=True, help="Show each record whole.")
def quarantine(user_id: str | None, since: datetime | None, limit: int, full: bool) -> None:
    """List quarantined records: user, local day, payload, where and why, and the record as read.

    \b
    hr quarantine --user alice
    hr quarantine --since 2026-12-06T08:15:00
    """
    from hr_assets.warehouse.quarantine import list_quarantined

    moment = since.replace(tzinfo=since.tzinfo or UTC) if since else None
    with clear_errors(), warehouse().connection() as conn:
        found = list_quarantined(conn, user_id=user_id, since=moment, limit=limit)
    if not found:
        click.echo("nothing in quarantine" + (" for that selection" if user_id or since else ""))
        return
    for record in found:
        shown = record.record if full or len(record.record) <= RECORD_CHARS else record.record[:RECORD_CHARS] + "…"
        click.echo(f"{record.user_id} {record.date} {record.payload} ({record.source}): {record.reason}")
        click.echo(f"    {shown}")
    if len(found) == limit:
        click.echo(f"(the newest {limit}; --limit shows more)")
