"""Stored OAuth grants of google_health users (``google_health_tokens``), encrypted at rest.

Callers hand in and get back the refresh token in clear; it is encrypted here with the
operator's key (:mod:`hr_assets.encryption`) before it reaches the database, so neither the
table nor a dump of it holds a usable token. Access tokens are never stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from hr_assets.encryption import decrypt, encrypt
from hr_assets.warehouse.db import query


@dataclass(frozen=True)
class StoredGrant:
    # repr=False: a grant printed in a log or a traceback's locals does not show the token.
    refresh_token: str = field(repr=False)
    scopes: tuple[str, ...]
    connected_at: datetime


def save_grant(
    conn: psycopg.Connection, user_id: str, refresh_token: str, scopes: list[str], *, reconnect: bool = True
) -> None:
    """Store ``user_id``'s refresh token (encrypted) and granted scopes, replacing an earlier grant.

    ``reconnect=False`` keeps the connection date (a refresh that handed out a new refresh token).
    """
    conn.execute(
        query("google_token_upsert"),
        {
            "user_id": user_id,
            "refresh_token_encrypted": encrypt(refresh_token),
            "scopes": " ".join(scopes),
            "reconnect": reconnect,
        },
    )


def load_grant(conn: psycopg.Connection, user_id: str) -> StoredGrant | None:
    """``user_id``'s grant, decrypted; None when the user has not connected."""
    row = conn.execute(query("google_token_get"), {"user_id": user_id}).fetchone()
    if row is None:
        return None
    ciphertext, scopes, connected_at = row
    return StoredGrant(decrypt(bytes(ciphertext)), tuple(scopes.split()), connected_at)


def record_grant_refused(conn: psycopg.Connection, user_id: str) -> None:
    """Note that Google refused ``user_id``'s grant (invalid_grant), unless already noted: the study view shows
    the participant as needing to reconnect since then. A reconnect (:func:`save_grant`) clears it."""
    conn.execute(query("google_token_refused"), {"user_id": user_id})


def delete_grant(conn: psycopg.Connection, user_id: str) -> bool:
    """Forget ``user_id``'s grant; whether there was one."""
    return conn.execute(query("google_token_delete"), {"user_id": user_id}).fetchone() is not None


def users_with_grant(conn: psycopg.Connection, user_ids: list[str]) -> set[str]:
    """Those of ``user_ids`` that have a stored grant."""
    return {row[0] for row in conn.execute(query("google_token_users"), {"user_ids": user_ids}).fetchall()}
