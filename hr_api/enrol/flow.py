"""What the enrolment pages do, as plain functions over a database URL: open a link, start a consent,
finish it, withdraw. Every step either completes or leaves the database as it was.

The consent is Google's web-server flow (developers.google.com/identity/protocols/oauth2/web-server)
with PKCE: the button stores a consent row (the state's hash, the PKCE verifier encrypted, the
invitation it came from, a :data:`CONSENT_LIFETIME`) and sets the state in an HttpOnly cookie; the
callback requires the query's state to equal the cookie (the same browser) and to find a live row,
which it deletes at once (a redirect is answered once).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from hr_api.enrol import pages
from hr_assets.domain.enrolment import looks_like_secret, new_secret, redirect_uri, withdrawal_link
from hr_assets.settings import HrSettings
from hr_assets.sources.base import TransientSourceError
from hr_assets.sources.google_oauth import (
    SCOPES,
    OAuthError,
    authorization_url,
    client_for,
    exchange_code,
    pkce_pair,
    revoke,
    web_client,
)
from hr_assets.warehouse.db import Warehouse, connection
from hr_assets.warehouse.encryption import SecretKeyError
from hr_assets.warehouse.invitations import (
    Consent,
    InvitationError,
    clear_aggregates,
    invitation_is_open,
    open_invitation,
    readings_window,
    record_withdrawal,
    set_withdrawal_secret,
    start_consent,
    take_consent,
    use_invitation,
    withdrawal_participant,
)
from hr_assets.warehouse.tokens import load_grant, save_grant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Redirect:
    """Send the browser to Google's consent, with ``state`` set in the cookie."""

    url: str
    state: str


@dataclass(frozen=True)
class Finished:
    """The consent's outcome: a page, and possibly a new consent to try again with."""

    problem: pages.Problem | None = None
    retry: Redirect | None = None
    withdrawal_link: str | None = field(default=None, repr=False)


def invitation_user(url: str, token: str) -> str | None:
    """The participant an invitation link is for while it works; opening it changes nothing."""
    if not looks_like_secret(token):
        return None
    with connection(url) as conn:
        invitation = open_invitation(conn, token)
    return invitation.user_id if invitation else None


def _consent_redirect(url: str, settings: HrSettings, user_id: str, token_hash: bytes) -> Redirect:
    verifier, challenge = pkce_pair()
    state = new_secret()
    with connection(url) as conn:
        start_consent(conn, user_id, token_hash, state, verifier)
    target = authorization_url(
        web_client(settings), redirect_uri=redirect_uri(settings), state=state, code_challenge=challenge
    )
    return Redirect(target, state)


def begin(url: str, settings: HrSettings, token: str) -> Redirect | None:
    """A consent for the invitation ``token`` (None when the link does not work)."""
    if not looks_like_secret(token):
        return None
    with connection(url) as conn:
        invitation = open_invitation(conn, token)
    if invitation is None:
        return None
    return _consent_redirect(url, settings, invitation.user_id, invitation.token_hash)


def _again(url: str, settings: HrSettings, consent: Consent, problem: pages.Problem) -> Finished:
    """``problem``'s page with a fresh consent for the same invitation, so that "Try again" works."""
    return Finished(problem, _consent_redirect(url, settings, consent.user_id, consent.token_hash))


def _revoke_quietly(settings: HrSettings, token: str) -> None:
    # A grant that will not be kept is given back; if that fails too, Google lets it expire unused.
    try:
        revoke(web_client(settings), token)
    except (OAuthError, TransientSourceError) as exc:
        log.warning("an enrolment grant that is not kept could not be revoked: %s", exc)


def finish(url: str, settings: HrSettings, query: dict[str, str], cookie_state: str | None) -> Finished:
    """Google's redirect back: exchange the code, store the grant, use the invitation, make a withdrawal link."""
    state = query.get("state", "")
    if not state or not cookie_state or not secrets.compare_digest(state.encode(), cookie_state.encode()):
        return Finished(pages.STATE_MISMATCH)  # forged, or started in another browser (a swapped state)
    with connection(url) as conn:
        consent = take_consent(conn, state)
    if consent is None or not consent.code_verifier:
        return Finished(pages.STATE_MISMATCH)  # expired, answered already, or its PKCE verifier is gone
    with connection(url) as conn:
        if not invitation_is_open(conn, consent):
            return Finished(pages.LINK_NOT_VALID)
    if "error" in query or not query.get("code"):
        return _again(url, settings, consent, pages.DENIED)
    client = web_client(settings)
    try:
        tokens = exchange_code(
            client, code=query["code"], code_verifier=consent.code_verifier, redirect_uri=redirect_uri(settings)
        )
    except TransientSourceError:
        return _again(url, settings, consent, pages.GOOGLE_UNREACHABLE)
    except OAuthError as exc:
        log.warning("%s: Google refused the enrolment's code: %s", consent.user_id, exc)
        return _again(url, settings, consent, pages.GOOGLE_REFUSED)
    if any(scope not in tokens.scopes for scope in SCOPES):
        _revoke_quietly(settings, tokens.refresh_token or tokens.access_token)
        return _again(url, settings, consent, pages.PARTIAL)
    if tokens.refresh_token is None:
        _revoke_quietly(settings, tokens.access_token)
        return _again(url, settings, consent, pages.GOOGLE_REFUSED)
    secret = new_secret()
    with connection(url) as conn, conn.transaction():
        used = use_invitation(conn, consent)
        if used:
            save_grant(conn, consent.user_id, tokens.refresh_token, list(tokens.scopes), oauth_client="web")
            set_withdrawal_secret(conn, consent.user_id, secret)
    if not used:  # replaced or used in another tab meanwhile: this grant is not kept
        _revoke_quietly(settings, tokens.refresh_token)
        return Finished(pages.LINK_NOT_VALID)
    log.info("%s enrolled through an invitation (scopes: %s)", consent.user_id, " ".join(tokens.scopes))
    return Finished(withdrawal_link=withdrawal_link(settings, secret))


def withdrawal_user(url: str, secret: str) -> str | None:
    """The participant a withdrawal link belongs to while it works; opening it changes nothing."""
    if not looks_like_secret(secret):
        return None
    with connection(url) as conn:
        return withdrawal_participant(conn, secret)


def withdraw(url: str, settings: HrSettings, secret: str) -> pages.Problem | None:
    """Revoke the participant's grant at Google, retire them, keep or delete their data; a problem page or None.

    If Google cannot be reached nothing is done (the grant must not stay alive at Google while the study
    says it was removed); the participant tries again.
    """
    user_id = withdrawal_user(url, secret)
    if user_id is None:
        return pages.LINK_NOT_VALID
    with connection(url) as conn:
        try:
            grant = load_grant(conn, user_id)
        except SecretKeyError:
            grant = None  # unreadable with the current key: deleted below, the participant may remove it at Google
    if grant is not None:
        try:
            revoke(client_for(grant.oauth_client, settings), grant.refresh_token)
        except (TransientSourceError, OAuthError) as exc:
            log.warning("%s: withdrawal waits, the grant could not be revoked: %s", user_id, exc)
            return pages.WITHDRAWAL_UNREACHABLE
    warehouse = Warehouse(url)
    with warehouse.connection() as conn, conn.transaction():
        window = readings_window(conn, user_id) if settings.withdrawal_data == "delete" else None
        try:
            deleted = record_withdrawal(conn, user_id, secret, settings.withdrawal_data, warehouse.mode)
        except InvitationError:
            return pages.LINK_NOT_VALID
    if window is not None:
        clear_aggregates(warehouse, user_id, window)
    log.info("%s withdrew (data %s: %s)", user_id, settings.withdrawal_data, deleted or "kept")
    return None
