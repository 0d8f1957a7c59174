"""``hr users invite``: one-time enrolment links for google_health participants, with QR codes and a mail-merge CSV.

Each participant gets a fresh link (replacing their previous one), a QR code of it as SVG and PNG,
and, when several are invited at once, a row in a CSV of participant, link and expiry for a mail
merge. The files hold live links: they are created readable by their owner only (0600), and the
database keeps only each token's hash.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hr_assets.domain.enrolment import QrFiles, invitation_link, new_secret, public_url, write_qr
from hr_assets.settings import HrSettings
from hr_assets.warehouse.db import connection
from hr_assets.warehouse.invitations import InvitationError, create_invitation

MAIL_MERGE_COLUMNS = ("participant", "link", "expires")


@dataclass(frozen=True)
class IssuedInvitation:
    user_id: str
    link: str = field(repr=False)
    expires_at: datetime
    qr: QrFiles


def roster_ids(text: str, name: str) -> list[str]:
    """The ``id`` column of a roster CSV (the file ``hr users import`` reads), in file order."""
    reader = csv.DictReader(io.StringIO(text))
    if "id" not in [column.strip() for column in reader.fieldnames or []]:
        raise InvitationError(f"{name}: line 1: no 'id' column (a roster as hr users import reads it)")
    reader.fieldnames = [column.strip() for column in reader.fieldnames or []]
    return [row["id"].strip() for row in reader if (row.get("id") or "").strip()]


def invite(
    url: str, settings: HrSettings, user_ids: list[str], lifetime: timedelta, out_dir: Path
) -> list[IssuedInvitation]:
    """Invite ``user_ids`` (all or none: every invitation is stored in one transaction, then the files written)."""
    public_url(settings)  # refuse before anything is stored when HR_PUBLIC_URL is missing
    if len(set(user_ids)) != len(user_ids):
        raise InvitationError("a participant is named twice")
    expires_at = datetime.now(UTC) + lifetime
    tokens = {user_id: new_secret() for user_id in user_ids}
    with connection(url) as conn, conn.transaction():
        stored = [create_invitation(conn, user_id, tokens[user_id], expires_at) for user_id in user_ids]
    issued = []
    for invitation in stored:
        link = invitation_link(settings, tokens[invitation.user_id])
        qr = write_qr(link, out_dir / f"{invitation.user_id}-invitation")
        issued.append(IssuedInvitation(invitation.user_id, link, invitation.expires_at, qr))
    return issued


def write_mail_merge(issued: list[IssuedInvitation], path: Path) -> Path:
    """A CSV of participant, link and expiry (ISO 8601, UTC) for a mail merge, created 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(MAIL_MERGE_COLUMNS)
        for invitation in issued:
            writer.writerow([invitation.user_id, invitation.link, invitation.expires_at.astimezone(UTC).isoformat()])
    return path
