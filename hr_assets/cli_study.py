"""``hr study`` and ``hr audit``: the study view and the API's audit log in a terminal (docs/study.md).

Each command parses its options, calls one function and prints; the operator sees every participant.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import click

# Days `hr study compliance` prints without --from: the last four weeks.
DEFAULT_COMPLIANCE_DAYS = 28


def _cli() -> Any:
    from hr_assets import cli  # at call time: cli registers these commands when it is imported

    return cli


def _rules(days: int | None) -> Any:
    from hr_assets.settings import get_settings
    from hr_assets.study import StudyRules

    rules = StudyRules.from_settings(get_settings())
    return replace(rules, flag_no_valid_day_days=days, flag_no_data_days=days) if days else rules


@click.group()
def study() -> None:
    """Who is wearing, syncing and connected: the study view."""


@study.command("status")
@click.option("--cohort", help="Only this cohort's participants.")
@click.option("--days", type=click.IntRange(min=1), help="Flag after N days without a valid day or data.")
def study_status(cohort: str | None, days: int | None) -> None:
    """Each participant's connection, newest reading, valid days and flags; flagged participants first."""
    from hr_assets.study import flagged_first, participant_statuses
    from hr_assets.warehouse.study import Scope

    cli = _cli()
    rules = _rules(days)
    with cli._clear_errors(), cli._warehouse().connection() as conn:
        statuses = flagged_first(participant_statuses(conn, Scope(True, frozenset(), cohort), rules, datetime.now(UTC)))
    click.echo(
        f"valid day: >= {rules.valid_day_minutes} worn minutes; flags after {rules.flag_no_valid_day_days} days "
        f"without a valid day, {rules.flag_no_data_days} without data"
    )
    click.echo(f"{'participant':<20} {'cohort':<12} {'connection':<18} {'newest reading':<17} days  7d 30d  all  flags")
    for s in statuses:
        newest = f"{s.newest_reading:%Y-%m-%d %H:%M}" if s.newest_reading else "-"
        since = "-" if s.days_since_reading is None else str(s.days_since_reading)
        click.echo(
            f"{s.user_id:<20} {s.cohort or '-':<12} {s.connection:<18} {newest:<17} {since:>4} {s.valid_days_7:>3} "
            f"{s.valid_days_30:>3} {s.valid_days_total:>4}  {', '.join(s.flags) or '-'}"
        )
    flagged = sum(1 for s in statuses if s.flags)
    click.echo(f"{len(statuses)} participant(s), {flagged} flagged")


@study.command("compliance")
@click.option("--cohort", help="Only this cohort's participants.")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), help="First local day (default: 28 days back).")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), help="Last local day (default: yesterday, UTC).")
def study_compliance(cohort: str | None, first: datetime | None, last: datetime | None) -> None:
    """The participant x day grid as CSV on stdout (what /study/compliance?format=csv serves)."""
    from hr_assets.study import CSV_COLUMNS, compliance_csv_rows
    from hr_assets.warehouse.study import Scope

    cli = _cli()
    end = last.date() if last else datetime.now(UTC).date() - timedelta(days=1)
    start = first.date() if first else end - timedelta(days=DEFAULT_COMPLIANCE_DAYS - 1)
    if end < start:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    with cli._clear_errors(), cli._warehouse().connection() as conn:
        writer.writerows(compliance_csv_rows(conn, Scope(True, frozenset(), cohort), start, end, _rules(None)))


@click.command("audit")
@click.option("--user", "user_id", help="Only requests that read this participant.")
@click.option("--key", "key_id", type=int, help="Only requests made with this key (hr api-keys list).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Only requests on or after this day (UTC).")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True, help="Newest rows shown.")
@click.option("--prune", is_flag=True, help="Delete the rows older than HR_AUDIT_RETENTION_DAYS instead.")
def audit(user_id: str | None, key_id: int | None, since: datetime | None, limit: int, prune: bool) -> None:
    """Who read which participant's data through the API, newest first."""
    from hr_assets.settings import get_settings
    from hr_assets.warehouse import audit as audit_log

    cli = _cli()
    if prune:
        days = get_settings().audit_retention_days
        if days is None:
            raise click.ClickException("HR_AUDIT_RETENTION_DAYS is not set: the audit log is kept whole")
        with cli._clear_errors(), cli._warehouse().connection() as conn:
            click.echo(f"deleted {audit_log.prune(conn, days)} audit row(s) older than {days} days")
        return
    start = datetime.combine(since.date(), datetime.min.time(), UTC) if since else None
    with cli._clear_errors(), cli._warehouse().connection() as conn:
        rows = audit_log.audit_rows(conn, user_id=user_id, key_id=key_id, since=start, limit=limit)
    for row in rows:
        key = "no key" if row.key_id is None else f"key {row.key_id}"
        window = f" {row.range_start or ''}..{row.range_end or ''}" if row.range_start or row.range_end else ""
        who = ",".join(row.participants) or "-"
        click.echo(f"{row.at:%Y-%m-%d %H:%M:%S} {key:<8} {row.status} {row.route}{window} {who}")
    click.echo(f"{len(rows)} request(s)", err=True)
