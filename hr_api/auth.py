"""Who is asking: bearer keys (``HR_API_AUTH=keys``) or nobody in particular (``off``, loopback only).

A key names the users it may read (or the cohort whose participants it may read: looked up at every
request, so a participant added to the cohort is readable at once and one moved out is not); every
other user is answered exactly like an unknown one.
Verified keys are remembered for a few seconds so that a dashboard's bursts of requests do
not each look the key up; a revoked key stops working within that time.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from dataclasses import dataclass, replace

from fastapi import HTTPException, status

from hr_assets.warehouse.api_keys import ApiKey, find_key, key_hash
from hr_assets.warehouse.db import ConnectionPool

# How long a verified key is trusted before it is looked up again (revocation takes at most this).
KEY_CACHE_SECONDS = 10.0
# Verified keys remembered at most (a bound on memory, whatever keys are sent).
KEY_CACHE_SIZE = 1024


@dataclass(frozen=True)
class Principal:
    """What a request may read."""

    all_users: bool
    user_ids: frozenset[str]
    metrics: bool
    key_id: int | None = None
    # A cohort key: ``user_ids`` are the cohort's participants, filled in for each request (with_members).
    cohort: str | None = None

    def may_read(self, user_id: str) -> bool:
        return self.all_users or user_id in self.user_ids

    def with_members(self, members: frozenset[str]) -> Principal:
        """This cohort key reading ``members``, the cohort's participants now."""
        return replace(self, user_ids=members)

    @classmethod
    def from_key(cls, key: ApiKey) -> Principal:
        return cls(key.all_users, frozenset(key.user_ids), key.metrics or key.all_users, key.id, key.cohort)


NOBODY_IN_PARTICULAR = Principal(all_users=True, user_ids=frozenset(), metrics=True)
METRICS_ONLY = Principal(all_users=False, user_ids=frozenset(), metrics=True)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"})


class KeyVerifier:
    """Bearer keys checked against the ``api_keys`` table, with a short cache."""

    def __init__(self, pool: ConnectionPool, metrics_key: str | None = None) -> None:
        self._pool = pool
        self._metrics_key_hash = key_hash(metrics_key) if metrics_key else None
        self._cache: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def cached(self, authorization: str | None) -> Principal | None:
        """The principal of a key verified in the last KEY_CACHE_SECONDS (or the metrics key), without I/O."""
        secret = _bearer_secret(authorization)
        digest = key_hash(secret)
        if self._metrics_key_hash is not None and hmac.compare_digest(digest, self._metrics_key_hash):
            return METRICS_ONLY
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        return None

    def principal(self, authorization: str | None) -> Principal:
        """The principal of the request's key; 401 without a key or with an unknown or revoked one."""
        known = self.cached(authorization)
        if known is not None:
            return known
        secret = _bearer_secret(authorization)
        digest = key_hash(secret)
        now = time.monotonic()
        with self._pool.connection() as conn:
            key = find_key(conn, secret)
        if key is None:
            raise unauthorized("unknown or revoked API key")
        principal = Principal.from_key(key)
        with self._lock:
            if len(self._cache) >= KEY_CACHE_SIZE:
                self._cache.clear()
            self._cache[digest] = (now, principal)
        return principal


def _bearer_secret(authorization: str | None) -> str:
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise unauthorized("an API key is required: Authorization: Bearer <key> (hr api-keys create)")
    return secret
