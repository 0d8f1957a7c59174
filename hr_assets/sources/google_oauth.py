"""Google OAuth 2.0 for the ``google_health`` source: the installed-app flow, refresh and revocation.

Follows Google's "OAuth 2.0 for iOS & Desktop Apps" (developers.google.com/identity/protocols/
oauth2/native-app) with the loopback IP redirect of RFC 8252: ``hr users connect alice``
listens on ``http://127.0.0.1:<free port>/`` (never on another interface), prints the
consent URL (for a headless machine: open it anywhere, the browser only has to reach back to
this machine's 127.0.0.1, e.g. through ``ssh -L``) and opens it where a browser exists. The
request carries PKCE (``code_challenge_method=S256``), a random ``state`` checked on return,
``access_type=offline`` and ``prompt=consent`` (so Google hands out a refresh token on every
connect, also when the user had connected before). Only the read-only scope the three data
types need is asked for (developers.google.com/health/scopes; ``heart-rate``,
``daily-resting-heart-rate`` and ``daily-heart-rate-zones`` are health metrics).

Endpoints (``HR_GOOGLE_*_URL``, defaults Google's): authorization
``https://accounts.google.com/o/oauth2/v2/auth``, token ``https://oauth2.googleapis.com/token``
(``grant_type=authorization_code`` with ``code_verifier``; ``grant_type=refresh_token``),
revocation ``https://oauth2.googleapis.com/revoke`` (``token=``; 200 when revoked, 400
``invalid_token`` when it already was). A refresh answered with ``invalid_grant`` means the
user revoked access, the grant expired (a client in *Testing* publishing status gets 7-day
refresh tokens) or the password changed: only reconnecting helps, so :class:`GrantRevoked` is
final and says so.

Tokens never reach a log line, an exception message or Dagster: the dataclasses below hide
them from ``repr``, and errors quote Google's ``error``/``error_description`` only.

This module is the protocol and the flows over it; the loopback receiver is
:mod:`hr_assets.sources.oauth_loopback` and the stored grants :mod:`hr_assets.warehouse.tokens`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
import urllib.parse
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from hr_assets.settings import HrSettings, get_settings
from hr_assets.sources.base import SourceError, TransientSourceError
from hr_assets.sources.oauth_loopback import receiving

# Grant storage is the warehouse's; re-exported where the source's callers have found it.
from hr_assets.warehouse.tokens import not_connected as not_connected

log = logging.getLogger(__name__)

# heart-rate, daily-resting-heart-rate and daily-heart-rate-zones are all "health metrics and
# measurements" in Google's data-type table; read-only is all the source needs.
SCOPES = ("https://www.googleapis.com/auth/googlehealth.health_metrics_and_measurements.readonly",)
# Seconds a connect waits for the browser to come back with the code before giving up.
CONSENT_TIMEOUT_S = 600.0
# Token and revocation requests: a slow answer is worth a wait, a hung one is not.
OAUTH_TIMEOUT_S = 30.0
# RFC 7636: a verifier of 43..128 characters; 64 random bytes give 86.
PKCE_VERIFIER_BYTES = 64


class OAuthError(SourceError):
    """Google's OAuth endpoints refused a request; the message says what they said."""


class GrantRevoked(OAuthError):
    """The user's grant no longer works (``invalid_grant``, or 401 with a fresh access token)."""

    def __init__(self, user_id: str, detail: str) -> None:
        super().__init__(f"Google no longer accepts {user_id}'s grant ({detail}): {reconnect_hint(user_id)}")
        self.user_id = user_id


def reconnect_hint(user_id: str) -> str:
    # A study's participant is far away: the operator sends a new link instead of running the consent here.
    return f"reconnect with `hr users connect {user_id}`, or re-invite with `hr users invite {user_id}`"


@dataclass(frozen=True)
class OAuthClient:
    """The operator's OAuth client (a *Desktop app* client in their Google Cloud project)."""

    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    revoke_url: str

    @classmethod
    def from_settings(cls) -> OAuthClient:
        """The *Desktop app* client of ``hr users connect`` (a loopback redirect)."""
        settings = get_settings()
        return cls._configured(
            settings,
            settings.google_client_id,
            settings.google_client_secret,
            "HR_GOOGLE_CLIENT_ID and HR_GOOGLE_CLIENT_SECRET are not set: register an OAuth client in your "
            "Google Cloud project (docs/sources.md, 'The Google Health source') and set both",
        )

    @classmethod
    def web_from_settings(cls, settings: HrSettings) -> OAuthClient:
        """The *Web application* client of the enrolment pages (redirect HR_PUBLIC_URL/enroll/callback)."""
        return cls._configured(
            settings,
            settings.google_web_client_id,
            settings.google_web_client_secret,
            "HR_GOOGLE_WEB_CLIENT_ID and HR_GOOGLE_WEB_CLIENT_SECRET are not set: create a Web application OAuth "
            "client with the redirect URI HR_PUBLIC_URL/enroll/callback (docs/enrolment.md) and set both",
        )

    @classmethod
    def _configured(
        cls, settings: HrSettings, client_id: str | None, secret: SecretStr | None, missing: str
    ) -> OAuthClient:
        if not client_id or secret is None:
            raise SourceError(missing)
        return cls(
            client_id,
            secret.get_secret_value(),
            settings.google_authorize_url,
            settings.google_token_url,
            settings.google_revoke_url,
        )


def web_client(settings: HrSettings) -> OAuthClient:
    """The operator's *Web application* OAuth client; SourceError naming the settings when unset."""
    return OAuthClient.web_from_settings(settings)


def client_for(kind: str, settings: HrSettings) -> OAuthClient:
    """The OAuth client a stored grant was issued to (a refresh token works only with its own client)."""
    return web_client(settings) if kind == "web" else OAuthClient.from_settings()


@dataclass(frozen=True)
class Tokens:
    """What the token endpoint handed out. ``expires_at`` is on the ``time.monotonic()`` clock."""

    access_token: str = field(repr=False)
    expires_at: float
    scopes: tuple[str, ...]
    refresh_token: str | None = field(default=None, repr=False)


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636 section 4)."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(PKCE_VERIFIER_BYTES)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_url(client: OAuthClient, *, redirect_uri: str, state: str, code_challenge: str) -> str:
    query = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
    }
    return f"{client.authorize_url}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"


def _token_request(client: OAuthClient, form: dict[str, str]) -> dict[str, Any]:
    """POST to the token endpoint; the JSON answer, or an error naming Google's reason."""
    try:
        response = httpx.post(client.token_url, data=form, timeout=OAUTH_TIMEOUT_S)
    except httpx.TransportError as exc:
        raise TransientSourceError(f"Google's token endpoint is unreachable ({type(exc).__name__})") from None
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientSourceError(f"Google's token endpoint answered {response.status_code}")
    if response.status_code != 200:
        error = str(body.get("error") or f"HTTP {response.status_code}")
        description = body.get("error_description")
        raise OAuthError(f"{error}: {description}" if description else error)
    return dict(body)


def _tokens(body: dict[str, Any]) -> Tokens:
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise OAuthError("the token endpoint's answer has no access_token")
    expires_in = body.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
    scopes = tuple(str(body.get("scope") or "").split())
    refresh = body.get("refresh_token")
    return Tokens(access, time.monotonic() + lifetime, scopes, refresh if isinstance(refresh, str) else None)


def exchange_code(client: OAuthClient, *, code: str, code_verifier: str, redirect_uri: str) -> Tokens:
    body = _token_request(
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": code_verifier,
            "redirect_uri": redirect_uri,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
    )
    return _tokens(body)


def refresh(client: OAuthClient, user_id: str, refresh_token: str) -> Tokens:
    """A new access token for ``user_id``; GrantRevoked when Google says ``invalid_grant``."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    }
    try:
        return _tokens(_token_request(client, form))
    except GrantRevoked:
        raise
    except OAuthError as exc:
        if str(exc).startswith("invalid_grant"):
            raise GrantRevoked(user_id, str(exc)) from None
        raise


def revoke(client: OAuthClient, token: str) -> bool:
    """Revoke ``token`` (and the grant it belongs to) at Google; False if Google says it was already invalid."""
    try:
        response = httpx.post(client.revoke_url, data={"token": token}, timeout=OAUTH_TIMEOUT_S)
    except httpx.TransportError as exc:
        raise TransientSourceError(f"Google's revocation endpoint is unreachable ({type(exc).__name__})") from None
    if response.status_code == 200:
        return True
    if response.status_code == 400:
        return False  # invalid_token: expired or revoked already
    raise OAuthError(f"Google's revocation endpoint answered {response.status_code}")


def authorize(
    user_id: str,
    *,
    echo: Callable[[str], None],
    open_browser: bool = True,
    timeout: float = CONSENT_TIMEOUT_S,
) -> Tokens:
    """Run the consent flow for ``user_id`` and return its tokens (with a refresh token).

    ``echo`` shows the consent URL; the browser is opened too when ``open_browser`` and the
    machine has one. Raises OAuthError when consent is refused, the state does not match, the
    code is not exchanged, or the user did not grant the scope the source needs.
    """
    client = OAuthClient.from_settings()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    with receiving() as receiver:
        url = authorization_url(client, redirect_uri=receiver.redirect_uri, state=state, code_challenge=challenge)
        echo(f"To connect {user_id} to the Google Health API, open this URL and allow access:\n\n  {url}\n")
        if open_browser and webbrowser.open(url):
            echo("(opened in your browser)")
        if not receiver.arrived.wait(timeout):
            raise OAuthError(f"no answer from the browser within {timeout:.0f} s; run hr users connect {user_id} again")
        params = receiver.params or {}
    if not secrets.compare_digest(params.get("state", ""), state):
        raise OAuthError("the redirect's state does not match this request (a stale or forged redirect); try again")
    if "error" in params:
        raise OAuthError(f"Google did not grant access: {params['error']}")
    tokens = exchange_code(client, code=params["code"], code_verifier=verifier, redirect_uri=receiver.redirect_uri)
    missing = [scope for scope in SCOPES if scope not in tokens.scopes]
    if missing:
        revoke(client, tokens.refresh_token or tokens.access_token)  # a grant we will not use is not kept
        raise OAuthError(f"access to heart-rate data was not granted (missing {', '.join(missing)}); try again")
    if tokens.refresh_token is None:
        raise OAuthError("Google handed out no refresh token; try again")
    return tokens


# --- connecting and disconnecting a registered user ---------------------------------------------


def connect_user(
    url: str,
    user_id: str,
    *,
    echo: Callable[[str], None],
    open_browser: bool = True,
    timeout: float = CONSENT_TIMEOUT_S,
) -> Tokens:
    """Consent flow for the registered google_health user ``user_id``; its grant stored (encrypted)."""
    from hr_assets.warehouse.db import connection
    from hr_assets.warehouse.tokens import save_grant
    from hr_assets.warehouse.users import get_user

    with connection(url) as conn:
        user = get_user(conn, user_id)
    if user.source != "google_health":
        raise SourceError(
            f"{user_id} reads from source {user.source!r}; switch it first: "
            f"hr users update {user_id} --source google_health"
        )
    tokens = authorize(user_id, echo=echo, open_browser=open_browser, timeout=timeout)
    assert tokens.refresh_token is not None  # authorize() refuses a grant without one
    with connection(url) as conn:
        save_grant(conn, user_id, tokens.refresh_token, list(tokens.scopes))
    log.info("connected %s to the Google Health API (scopes: %s)", user_id, " ".join(tokens.scopes))
    return tokens


Disconnected = Literal["revoked", "already invalid", "not decryptable"]


def disconnect_user(url: str, user_id: str) -> Disconnected | None:
    """Revoke ``user_id``'s grant at Google and delete it here; None when there was no grant.

    "already invalid": Google no longer knew the token. "not decryptable": the stored token
    cannot be read with the current key, so it could not be revoked here (the user can remove
    the app in their Google account's security settings); it is deleted all the same. If
    Google cannot be reached the grant is kept and the error raised, so that a later
    disconnect can still revoke it.
    """
    from hr_assets.warehouse.db import connection
    from hr_assets.warehouse.encryption import SecretKeyError
    from hr_assets.warehouse.tokens import delete_grant, load_grant

    with connection(url) as conn:
        try:
            grant = load_grant(conn, user_id)
        except SecretKeyError:
            delete_grant(conn, user_id)
            log.warning("%s's grant could not be decrypted and was deleted without revoking it", user_id)
            return "not decryptable"
    if grant is None:
        return None

    # The client the grant was issued to: an enrolment link's grant may be all a deployment has a client for.
    revoked = revoke(client_for(grant.oauth_client, get_settings()), grant.refresh_token)
    with connection(url) as conn:
        delete_grant(conn, user_id)
    log.info("disconnected %s from the Google Health API (revoked at Google: %s)", user_id, revoked)
    return "revoked" if revoked else "already invalid"
