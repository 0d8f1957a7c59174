"""Bearer keys of the query API (``api_keys`` table): create, list, revoke, look up.

A key is printed once when it is made; the table keeps only its SHA-256. A key reads every user
(``all_users``), the users it names, or the participants of one cohort at the time of each request
(``cohort``), and may read ``/metrics``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row

from hr_assets.warehouse.db import query
from hr_assets.warehouse.users import validate_cohort

KEY_PREFIX = "hr_"
# 32 random bytes: 256 bits, as url-safe base64 (43 characters).
KEY_BYTES = 32
# Characters of a key kept in clear to tell keys apart: the prefix and 6 of the random part.
SHOWN_CHARACTERS = len(KEY_PREFIX) + 6


class ApiKeyError(ValueError):
    """A key that cannot be made or changed as asked; the message says why."""


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    all_users: bool
    user_ids: list[str]
    metrics: bool
    cohort: str | None
    created_at: datetime
    revoked_at: datetime | None


def key_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_key(
    conn: psycopg.Connection,
    *,
    name: str,
    user_ids: list[str],
    all_users: bool = False,
    metrics: bool = False,
    cohort: str | None = None,
    registered: set[str],
) -> tuple[ApiKey, str]:
    """A new key and its secret (shown once). ``registered``: the user ids that exist.

    A ``cohort`` key reads the cohort's participants as they are at each request (those added later too).
    """
    if sum((all_users, bool(user_ids), cohort is not None)) > 1:
        raise ApiKeyError("a key is for --all users, the users named with --user or one --cohort, not several")
    if not (all_users or user_ids or metrics or cohort):
        raise ApiKeyError("say what the key may read: --user ID (repeatable), --cohort NAME, --all or --metrics")
    if cohort is not None:
        validate_cohort(cohort)
    unknown = sorted(set(user_ids) - registered)
    if unknown:
        raise ApiKeyError(f"no user {', '.join(map(repr, unknown))} (see hr users list)")
    secret = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        key = cur.execute(
            query("api_key_insert"),
            {
                "name": name,
                "key_hash": key_hash(secret),
                "prefix": secret[:SHOWN_CHARACTERS],
                "all_users": all_users,
                "user_ids": sorted(set(user_ids)),
                "metrics": metrics,
                "cohort": cohort,
            },
        ).fetchone()
    assert key is not None  # INSERT ... RETURNING
    return key, secret


def list_keys(conn: psycopg.Connection, *, include_revoked: bool = False) -> list[ApiKey]:
    with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        return cur.execute(query("api_key_list"), {"include_revoked": include_revoked}).fetchall()


def revoke_key(conn: psycopg.Connection, key_id: int) -> None:
    if conn.execute(query("api_key_revoke"), {"id": key_id}).fetchone() is None:
        raise ApiKeyError(f"no API key {key_id} (see hr api-keys list)")


def find_key(conn: psycopg.Connection, secret: str) -> ApiKey | None:
    """The key ``secret`` names, unless it is unknown or revoked."""
    if not secret.startswith(KEY_PREFIX):
        return None
    with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        return cur.execute(query("api_key_find"), {"key_hash": key_hash(secret)}).fetchone()
