"""``hr users invite``: enrolment links for google_health participants (registered in the ``users`` group)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from hr_assets.cli.common import clear_errors, warehouse_url
from hr_assets.domain.enrolment import DEFAULT_INVITATION_LIFETIME, parse_lifetime


def _lifetime(ctx: click.Context, param: click.Parameter, value: str) -> object:
    try:
        return parse_lifetime(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("invite")
@click.argument("user_ids", nargs=-1)
@click.option(
    "--expires-in",
    "lifetime",
    default=f"{DEFAULT_INVITATION_LIFETIME.days}d",
    show_default=True,
    callback=_lifetime,
    help="How long the link works: 14d, 36h, 90m (at most 90 days).",
)
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Invite every participant of this roster CSV (its id column; register them first with hr users import).",
)
@click.option("--cohort", help="Invite every active google_health participant of this cohort.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the QR codes and the mail-merge CSV (default: HR_HOME/invitations).",
)
def users_invite(
    user_ids: tuple[str, ...], lifetime: object, roster: Path | None, cohort: str | None, out_dir: Path | None
) -> None:
    """Print a one-time enrolment link for each google_health participant and write its QR code (SVG, PNG).

    A new link replaces the participant's previous one. With several participants (or --roster) a CSV of
    participant, link and expiry is written for a mail merge. The files hold live links (mode 0600).

    \b
    hr users invite alice                          one link, QR code beside it
    hr users invite alice bob --expires-in 7d      two links and a mail-merge CSV
    hr users invite --roster roster.csv            everyone of a roster
    hr users invite --cohort site-a                every active google_health participant of a cohort
    """
    from datetime import timedelta

    from hr_assets.domain.invites import invite, roster_ids, write_mail_merge
    from hr_assets.settings import get_settings

    assert isinstance(lifetime, timedelta)  # converted by _lifetime
    settings = get_settings()
    folder = out_dir or settings.home / "invitations"
    with clear_errors():
        wanted = list(user_ids) + (roster_ids(roster.read_text(encoding="utf-8-sig"), str(roster)) if roster else [])
        if cohort:
            wanted += [u for u in cohort_to_invite(cohort) if u not in wanted]
        if not wanted:
            raise click.UsageError("name at least one participant, or --roster FILE, or --cohort NAME")
        issued = invite(warehouse_url(), settings, wanted, lifetime, folder)
    for invitation in issued:
        click.echo(f"{invitation.user_id}: {invitation.link}")
        click.echo(
            f"  expires {invitation.expires_at:%Y-%m-%d %H:%M} UTC; QR code {invitation.qr.svg}, {invitation.qr.png}"
        )
    if len(issued) > 1 or roster or cohort:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        merged = write_mail_merge(issued, folder / f"invitations-{stamp}.csv")
        click.echo(f"mail-merge CSV (participant, link, expires): {merged}")


def cohort_to_invite(cohort: str) -> list[str]:
    """The active google_health participants of ``cohort`` (the others have no Google grant to give)."""
    from hr_assets.cli.common import warehouse
    from hr_assets.warehouse.invitations import InvitationError
    from hr_assets.warehouse.users import list_users, validate_cohort

    validate_cohort(cohort)
    with warehouse().connection() as conn:
        found = [u.id for u in list_users(conn) if u.cohort == cohort and u.source == "google_health"]
    if not found:
        raise InvitationError(f"cohort {cohort!r} has no active google_health participant to invite")
    return found
