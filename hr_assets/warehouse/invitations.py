"""Enrolment in the database: invitations, the consents they start, withdrawal links, participant states.

Secrets come in clear and are hashed before they reach SQL (:func:`secret_hash`);
nothing here returns or logs one. The participant's data on withdrawal is deleted by one statement
(``sql/queries/participant_data_delete.sql``, a list of tables), plus the aggregates of the mode.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import psycopg
from psycopg import sql

from hr_assets.warehouse.aggregates import LEVELS, refresh
from hr_assets.warehouse.db import Mode, Warehouse, query
from hr_assets.warehouse.encryption import decrypt, encrypt
from hr_assets.warehouse.users import UserError, get_user

# How long a consent may take from the button to Google's redirect back: Google's authorization codes
# live about 10 minutes, and a participant reading the consent screen on a phone needs a few.
CONSENT_LIFETIME = timedelta(minutes=15)

WithdrawalData = Literal["keep", "delete"]


def secret_hash(secret: str) -> bytes:
    """What is stored of a link's secret: its SHA-256 (the secret is random, so no salt or slow hash is needed)."""
    return hashlib.sha256(secret.encode()).digest()


class InvitationError(ValueError):
    """An invitation that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class Invitation:
    user_id: str
    created_at: datetime
    expires_at: datetime


def create_invitation(conn: psycopg.Connection, user_id: str, token: str, expires_at: datetime) -> Invitation:
    """Store the invitation ``token`` of ``user_id`` (an active google_health participant), replacing the previous one.

    Refuses an unknown, retired or non-google_health user with a message saying what to do.
    """
    try:
        user = get_user(conn, user_id)
    except UserError:
        raise InvitationError(f"no user {user_id!r}: register the participant first (hr users add / import)") from None
    source, retired_at = user.source, user.retired_at
    if source != "google_health":
        raise InvitationError(
            f"{user_id} reads from source {source!r}; an invitation connects a Google account: "
            f"hr users update {user_id} --source google_health"
        )
    if retired_at is not None:
        raise InvitationError(
            f"{user_id} is retired; schedule them again first: hr users update {user_id} --reactivate"
        )
    found = conn.execute(
        query("invitation_upsert"), {"user_id": user_id, "token_hash": secret_hash(token), "expires_at": expires_at}
    ).fetchone()
    assert found is not None  # an upsert returns its row
    return Invitation(user_id, found[0], found[1])


@dataclass(frozen=True)
class OpenInvitation:
    """An unused, unexpired invitation of an active participant."""

    user_id: str
    token_hash: bytes
    expires_at: datetime


def open_invitation(conn: psycopg.Connection, token: str) -> OpenInvitation | None:
    """The invitation ``token`` opens, or None (unknown, used, expired, replaced, or its participant retired)."""
    row = conn.execute(query("invitation_open"), {"token_hash": secret_hash(token)}).fetchone()
    return OpenInvitation(row[0], bytes(row[1]), row[2]) if row else None


def start_consent(conn: psycopg.Connection, user_id: str, token_hash: bytes, state: str, code_verifier: str) -> None:
    """Remember a consent started from the invitation ``token_hash``: its PKCE verifier (encrypted) under the
    state's hash."""
    conn.execute(
        query("invitation_consent_insert"),
        {
            "state_hash": secret_hash(state),
            "user_id": user_id,
            "token_hash": token_hash,
            "code_verifier_encrypted": encrypt(code_verifier),
            "lifetime": CONSENT_LIFETIME,
        },
    )


@dataclass(frozen=True)
class Consent:
    user_id: str
    token_hash: bytes
    code_verifier: str = ""  # empty when the stored verifier could not be read


def take_consent(conn: psycopg.Connection, state: str) -> Consent | None:
    """The live consent ``state`` belongs to, removed so that it is answered once; None if unknown or expired."""
    row = conn.execute(query("invitation_consent_take"), {"state_hash": secret_hash(state)}).fetchone()
    if row is None or not row[3]:
        return None
    return Consent(row[0], bytes(row[1]), decrypt(bytes(row[2])))


def use_invitation(conn: psycopg.Connection, consent: Consent) -> bool:
    """Mark the invitation ``consent`` came from used; False when it was used, replaced or expired meanwhile."""
    params = {"user_id": consent.user_id, "token_hash": consent.token_hash}
    return conn.execute(query("invitation_use"), params).fetchone() is not None


def invitation_is_open(conn: psycopg.Connection, consent: Consent) -> bool:
    """Whether the invitation ``consent`` was started from still works (not used, replaced or expired)."""
    row = conn.execute(query("invitation_open"), {"token_hash": consent.token_hash}).fetchone()
    return row is not None and row[0] == consent.user_id


def set_withdrawal_secret(conn: psycopg.Connection, user_id: str, secret: str) -> None:
    conn.execute(query("invitation_withdrawal_upsert"), {"user_id": user_id, "secret_hash": secret_hash(secret)})


def withdrawal_participant(conn: psycopg.Connection, secret: str) -> str | None:
    """The participant the withdrawal link ``secret`` belongs to, while they have not withdrawn."""
    row = conn.execute(query("invitation_withdrawal_find"), {"secret_hash": secret_hash(secret)}).fetchone()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class DeletedData:
    readings: int
    summaries: int
    loads: int
    quarantined: int


def record_withdrawal(
    conn: psycopg.Connection, user_id: str, secret: str, data: WithdrawalData, mode: Mode
) -> DeletedData | None:
    """Retire ``user_id`` and record the withdrawal; with ``data='delete'`` also delete what was collected.

    Runs in the caller's transaction: everything or nothing. Returns what was deleted (None for 'keep');
    raises InvitationError when the link was used meanwhile. In TimescaleDB mode the continuous aggregates
    are cleared afterwards by :func:`clear_aggregates` (a refresh cannot run inside a transaction).
    """
    params = {"user_id": user_id, "secret_hash": secret_hash(secret), "data": data}
    if conn.execute(query("invitation_withdrawn"), params).fetchone() is None:
        raise InvitationError("this withdrawal link was used already")
    conn.execute(query("user_retire"), {"id": user_id})
    conn.execute(query("google_token_delete"), {"user_id": user_id})
    if data == "keep":
        return None
    row = conn.execute(query("participant_data_delete"), {"user_id": user_id}).fetchone()
    assert row is not None and row[-1] == 1  # a SELECT of counts; the registry entry was cleared
    if mode is Mode.POSTGRES:
        for level in LEVELS.values():  # tables in this mode; relation names from the fixed mapping
            statement = sql.SQL("DELETE FROM {} WHERE user_id = %(user_id)s").format(sql.Identifier(level.relation))
            conn.execute(statement, {"user_id": user_id})
    return DeletedData(*row[:-1])


def readings_window(conn: psycopg.Connection, user_id: str) -> tuple[datetime, datetime] | None:
    """The span of ``user_id``'s raw readings (what the aggregates of a deletion must be refreshed over)."""
    row = conn.execute(query("participant_readings_window"), {"user_id": user_id}).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1] + LEVELS["1m"].width


def clear_aggregates(warehouse: Warehouse, user_id: str, window: tuple[datetime, datetime]) -> None:
    """TimescaleDB mode: refresh every aggregate level over ``window`` after ``user_id``'s readings were deleted."""
    if warehouse.mode is not Mode.TIMESCALEDB:
        return
    for level in LEVELS.values():
        refresh(warehouse, level, [(user_id, *window)])


ConnectionState = Literal["connected", "needs_reconnect", "invited", "invitation_expired", "not_connected", "withdrawn"]


@dataclass(frozen=True)
class ParticipantState:
    """A google_health participant's enrolment as the operator sees it; ``since`` (or until, for an invitation)."""

    user_id: str
    state: ConnectionState
    at: datetime | None
    oauth_client: str | None = None
    withdrawal_data: str | None = None

    def describe(self) -> str:
        when = f"{self.at:%Y-%m-%d %H:%M} UTC" if self.at else ""
        return {
            "connected": f"connected (since {when})",
            "needs_reconnect": f"needs reconnect (Google refused the grant at {when})",
            "invited": f"invited (until {when})",
            "invitation_expired": f"invitation expired ({when})",
            "not_connected": "not connected",
            "withdrawn": f"withdrawn ({when}, data {self.withdrawal_data})",
        }[self.state]


def participant_states(conn: psycopg.Connection, user_ids: list[str], now: datetime) -> dict[str, ParticipantState]:
    """The enrolment state of the google_health users among ``user_ids`` (others are left out)."""
    states: dict[str, ParticipantState] = {}
    for row in conn.execute(query("invitation_states"), {"user_ids": user_ids}).fetchall():
        user_id, _retired, withdrawn, data, connected, refused, client, expires, used = row
        invited = expires is not None and used is None and expires > now
        if withdrawn is not None:
            state = ParticipantState(user_id, "withdrawn", withdrawn, withdrawal_data=data)
        elif invited and (connected is None or refused is not None):  # (re-)invited, not (or no longer) connected
            state = ParticipantState(user_id, "invited", expires)
        elif refused is not None:
            state = ParticipantState(user_id, "needs_reconnect", refused, client)
        elif connected is not None:
            state = ParticipantState(user_id, "connected", connected, client)
        elif expires is not None and used is None:
            state = ParticipantState(user_id, "invitation_expired", expires)
        else:
            state = ParticipantState(user_id, "not_connected", None)
        states[user_id] = state
    return states
