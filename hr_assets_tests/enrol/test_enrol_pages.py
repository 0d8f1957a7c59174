"""The enrolment pages in-process (Starlette's TestClient) on a real database, against the project's Google fake:
the consent, every way it can go wrong, the security headers and the rate limit."""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from hr_api.enrol.app import STATE_COOKIE
from hr_assets.sources.google_oauth import not_connected
from hr_assets.warehouse.encryption import encrypt
from hr_assets.warehouse.invitations import participant_states
from hr_assets.warehouse.tokens import load_grant
from hr_assets.warehouse.users import list_users
from hr_assets_tests.enrol.helpers import SCOPE, Enrolment, local

NEUTRAL = "This link does not work"
MISMATCH = "We could not finish connecting"


def _state(enrolment: Enrolment, user_id: str) -> str:
    return participant_states(enrolment.conn, [user_id], datetime.now(UTC))[user_id].state


def _stored(enrolment: Enrolment) -> list[tuple[str, ...]]:
    """Everything an enrolment writes besides the invitation: grants and withdrawal links."""
    grants = enrolment.conn.execute("SELECT user_id FROM google_health_tokens").fetchall()
    withdrawals = enrolment.conn.execute("SELECT user_id FROM enrolment_withdrawals").fetchall()
    return grants + withdrawals


def test_opening_the_link_shows_the_study_in_plain_language_and_uses_nothing(enrolment: Enrolment) -> None:
    enrolment.register("alice")
    link = enrolment.invite("alice")
    client = enrolment.client()

    # A mail scanner fetches the link first, then the participant opens it.
    for _ in range(2):
        page = client.get(local(link))
        assert page.status_code == 200
    # The operator's texts, escaped.
    assert "Sleep &amp; Heart &lt;Study&gt;" in page.text and "<Study>" not in page.text
    assert "Dr. O&#39;Brien&#39;s lab" in page.text and "study@example.org" in page.text
    for told in ("heart rate through the day", "resting heart rate", "zone limits", "read-only", "withdrawal link"):
        assert told in page.text
    assert 'method="post"' in page.text
    assert enrolment.conn.execute("SELECT used_at FROM enrolment_invitations").fetchall() == [(None,)]
    assert enrolment.conn.execute("SELECT count(*) FROM enrolment_consents").fetchone() == (0,)
    assert _state(enrolment, "alice") == "invited"


def test_a_consent_stores_the_grant_encrypted_uses_the_link_and_the_sensor_sees_the_participant(
    enrolment: Enrolment,
) -> None:
    enrolment.register("alice")
    enrolment.register("bob")
    link = enrolment.invite("alice")
    client = enrolment.client()
    users = list_users(enrolment.conn)
    assert not_connected(enrolment.conn, users) == {"alice", "bob"}

    done = enrolment.connect(client, link, "alice@example.com")

    assert done.status_code == 200 and "You are connected" in done.text
    withdrawal = re.search(r'href="(http://testserver/enroll/withdraw/[A-Za-z0-9_-]+)"', done.text)
    assert withdrawal is not None
    [refresh_token] = [t for t in enrolment.fake.issued if t.startswith("1//")]
    [(ciphertext, client_kind)] = enrolment.conn.execute(
        "SELECT refresh_token_encrypted, oauth_client FROM google_health_tokens WHERE user_id = 'alice'"
    ).fetchall()
    assert refresh_token.encode() not in bytes(ciphertext) and client_kind == "web"
    grant = load_grant(enrolment.conn, "alice")
    assert grant is not None and grant.refresh_token == refresh_token
    # The users sensor's test of who may load history: alice now, bob still waits.
    assert not_connected(enrolment.conn, users) == {"bob"}
    assert _state(enrolment, "alice") == "connected" and _state(enrolment, "bob") == "not_connected"
    # The state cookie is gone; the link works no more, for the page or the button.
    assert STATE_COOKIE not in client.cookies
    again = client.get(local(link))
    assert again.status_code == 404 and NEUTRAL in again.text
    assert client.post(local(link) + "/start", follow_redirects=False).status_code == 404


def _neutral(client: TestClient, link: str) -> str:
    page = client.get(local(link))
    assert page.status_code == 404
    return page.text


def test_an_expired_a_used_an_unknown_and_a_replaced_link_get_the_same_page(enrolment: Enrolment) -> None:
    for user_id in ("used", "expired", "replaced"):
        enrolment.register(user_id)
    client = enrolment.client()
    used = enrolment.invite("used")
    enrolment.connect(client, used, "used@example.com")
    expired = enrolment.invite("expired", lifetime=timedelta(seconds=-1))
    replaced = enrolment.invite("replaced")
    current = enrolment.invite("replaced")
    unknown = f"{enrolment.public_url}/enroll/{'A' * 32}"
    malformed = f"{enrolment.public_url}/enroll/x"

    pages = {_neutral(client, link) for link in (used, expired, replaced, unknown, malformed)}

    assert len(pages) == 1 and NEUTRAL in pages.pop()
    assert client.get(local(current)).status_code == 200
    assert _state(enrolment, "expired") == "invitation_expired"


def _alice_at_google(enrolment: Enrolment) -> tuple[TestClient, httpx.Response]:
    """alice invited, her button pressed and Google's consent given: her browser and Google's redirect back."""
    enrolment.register("alice")
    client = enrolment.client()
    return client, enrolment.consent(client, enrolment.invite("alice"), "alice@example.com")


def test_a_forged_state_is_refused_and_stores_nothing(enrolment: Enrolment) -> None:
    client, back = _alice_at_google(enrolment)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(back.headers["location"]).query)["code"][0]
    forged = "F" * 32

    without_cookie = TestClient(client.app, base_url=enrolment.public_url)
    answers = [
        without_cookie.get("/enroll/callback", params={"code": code, "state": forged}),
        client.get("/enroll/callback", params={"code": code, "state": forged}),
    ]
    client.cookies.set(STATE_COOKIE, forged, path="/enroll/callback")
    answers.append(client.get("/enroll/callback", params={"code": code, "state": forged}))

    assert [a.status_code for a in answers] == [400, 400, 400]
    assert all(MISMATCH in a.text for a in answers)
    assert _stored(enrolment) == [] and _state(enrolment, "alice") == "invited"


def test_a_state_swapped_between_two_browsers_is_refused_and_the_right_browser_still_finishes(
    enrolment: Enrolment,
) -> None:
    enrolment.register("alice")
    enrolment.register("mallory")
    alice_link, mallory_link = enrolment.invite("alice"), enrolment.invite("mallory")
    alice, mallory = enrolment.client(), enrolment.client()
    alice_back = enrolment.consent(alice, alice_link, "alice@example.com")
    mallory_back = enrolment.consent(mallory, mallory_link, "mallory@example.com")

    # Mallory's redirect (her code, her state) opened in Alice's browser: a login-CSRF attempt.
    swapped = alice.get(local(mallory_back.headers["location"]))

    assert swapped.status_code == 400 and MISMATCH in swapped.text
    assert _stored(enrolment) == []
    assert alice.get(local(alice_back.headers["location"])).status_code == 200
    grant = load_grant(enrolment.conn, "alice")
    assert grant is not None and _state(enrolment, "mallory") == "invited"


def test_a_consent_whose_pkce_verifier_is_missing_or_wrong_is_not_completed(enrolment: Enrolment) -> None:
    enrolment.register("alice")
    link = enrolment.invite("alice")
    client = enrolment.client()

    back = enrolment.consent(client, link, "alice@example.com")
    enrolment.conn.execute("DELETE FROM enrolment_consents")  # the server lost the verifier
    lost = client.get(local(back.headers["location"]))
    assert lost.status_code == 400 and MISMATCH in lost.text

    back = enrolment.consent(client, link, "alice@example.com")
    enrolment.conn.execute("UPDATE enrolment_consents SET code_verifier_encrypted = %s", (encrypt("w" * 86),))
    wrong = client.get(local(back.headers["location"]))
    # Google checks the verifier against the challenge and refuses the code.
    assert wrong.status_code == 502 and "Google did not complete the connection" in wrong.text
    assert _stored(enrolment) == [] and _state(enrolment, "alice") == "invited"
    # The page offers a fresh consent for the same invitation, which completes.
    assert "You are connected" in _retry_through_google(enrolment, client, wrong).text
    assert _state(enrolment, "alice") == "connected"


def test_an_expired_consent_is_refused(enrolment: Enrolment) -> None:
    client, back = _alice_at_google(enrolment)
    enrolment.conn.execute("UPDATE enrolment_consents SET expires_at = now() - interval '1 second'")

    late = client.get(local(back.headers["location"]))

    assert late.status_code == 400 and MISMATCH in late.text
    assert _stored(enrolment) == [] and enrolment.conn.execute(
        "SELECT count(*) FROM enrolment_consents"
    ).fetchone() == (0,)


def _retry_through_google(enrolment: Enrolment, client: TestClient, page: httpx.Response) -> httpx.Response:
    retry = re.search(r'href="([^"]+)">Try again', page.text)
    assert retry is not None and retry[1].startswith(enrolment.fake.url)
    back = httpx.get(retry[1].replace("&amp;", "&"), follow_redirects=False)
    return client.get(local(back.headers["location"]))


def test_a_denied_consent_stores_nothing_and_lets_the_participant_try_again(enrolment: Enrolment) -> None:
    enrolment.register("alice")
    link = enrolment.invite("alice")
    client = enrolment.client()
    enrolment.fake.refuse_consent = True

    denied = enrolment.connect(client, link, "alice@example.com")

    assert denied.status_code == 200 and "You did not allow access" in denied.text
    assert _stored(enrolment) == [] and _state(enrolment, "alice") == "invited"
    enrolment.fake.refuse_consent = False
    assert "You are connected" in _retry_through_google(enrolment, client, denied).text
    assert _state(enrolment, "alice") == "connected"


def test_a_consent_without_the_health_permission_is_revoked_and_asked_again(enrolment: Enrolment) -> None:
    enrolment.register("alice")
    link = enrolment.invite("alice")
    client = enrolment.client()
    enrolment.fake.granted_scope = "openid"  # the participant unticked the health permission

    partial = enrolment.connect(client, link, "alice@example.com")

    assert partial.status_code == 200 and "health permission was not ticked" in partial.text
    assert _stored(enrolment) == [] and enrolment.fake.live_grants("alice@example.com") == 0
    enrolment.fake.granted_scope = SCOPE
    assert "You are connected" in _retry_through_google(enrolment, client, partial).text


def test_google_unreachable_stores_nothing(enrolment: Enrolment) -> None:
    enrolment.register("alice")
    link = enrolment.invite("alice")
    client = enrolment.client(google_token_url="http://127.0.0.1:9/token")  # the discard port: nobody listens

    down = enrolment.connect(client, link, "alice@example.com")

    assert down.status_code == 503 and "Google cannot be reached" in down.text
    assert _stored(enrolment) == [] and _state(enrolment, "alice") == "invited"


SECURITY_HEADERS = {
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def _assert_secure(response: httpx.Response, fake_url: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.request.url.path, name)
    policy = response.headers["content-security-policy"]
    assert policy == (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action 'self' {fake_url}; base-uri 'none'; frame-ancestors 'none'"
    )
    if response.headers.get("content-type", "").startswith("text/html"):
        # No third-party assets: the only stylesheet is our own, no scripts, no inline styles.
        assert "<script" not in response.text and "style=" not in response.text
        assert re.findall(r'<link [^>]*href="([^"]+)"', response.text) == ["/enroll/static/enrol.css"]
        assert "src=" not in response.text


def test_every_page_carries_the_security_headers_and_no_third_party_asset(enrolment: Enrolment) -> None:
    enrolment.register("alice")
    link = enrolment.invite("alice")
    client = enrolment.client()
    answers = [
        client.get(local(link)),
        client.post(local(link) + "/start", follow_redirects=False),
        client.get("/enroll/static/enrol.css"),
        client.get("/enroll/callback", params={"state": "nope", "code": "x"}),
        client.get(f"/enroll/{'B' * 32}"),
        client.get("/enroll/withdraw/" + "C" * 32),
        client.get("/enroll/a/b/c"),
    ]
    connected = enrolment.connect(client, link, "alice@example.com")
    withdrawal = re.search(r'href="http://testserver(/enroll/withdraw/[^"]+)"', connected.text)
    assert withdrawal is not None
    answers += [connected, client.get(withdrawal[1]), client.post(withdrawal[1])]

    assert [a.status_code for a in answers] == [200, 303, 200, 400, 404, 404, 404, 200, 200, 200]
    for answer in answers:
        _assert_secure(answer, enrolment.fake.url)
    assert "You have withdrawn" in answers[-1].text


def test_the_state_cookie_is_httponly_lax_scoped_and_secure_behind_https(enrolment: Enrolment) -> None:
    enrolment.register("alice")
    link = enrolment.invite("alice")
    plain = enrolment.client().post(local(link) + "/start", follow_redirects=False)
    https = enrolment.client(public_url="https://study.example.org").post(
        local(link) + "/start", follow_redirects=False
    )

    for answer, secure in ((plain, False), (https, True)):
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{STATE_COOKIE}=")
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "samesite", "path", "max-age"} <= attributes
        assert "samesite=lax" in cookie.lower() and "path=/enroll/callback" in cookie.lower()
        assert ("secure" in attributes) is secure
    assert https.headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" not in plain.headers
    # The consent asks Google to send the participant back to HR_PUBLIC_URL/enroll/callback, with PKCE S256.
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(https.headers["location"]).query)
    assert query["redirect_uri"] == ["https://study.example.org/enroll/callback"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43


def test_the_pages_are_rate_limited_per_client_address_with_retry_after(enrolment: Enrolment) -> None:
    enrolment.register("alice")
    link = enrolment.invite("alice")
    app = enrolment.client(enrol_rate_limit="3/minute").app
    first = TestClient(app, base_url=enrolment.public_url, client=("203.0.113.7", 50000))
    second = TestClient(app, base_url=enrolment.public_url, client=("203.0.113.8", 50000))

    answers = [first.get(local(link)).status_code for _ in range(4)]
    limited = first.get("/enroll/static/enrol.css")

    assert answers == [200, 200, 200, 429]
    assert limited.status_code == 429 and "Too many attempts" in limited.text
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    _assert_secure(limited, enrolment.fake.url)
    # Another address is not held back by the first one's attempts.
    assert second.get(local(link)).status_code == 200


def test_the_operator_may_replace_a_page_and_its_texts_are_still_escaped(enrolment: Enrolment, tmp_path: Path) -> None:
    enrolment.register("alice")
    link = enrolment.invite("alice")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "landing.html").write_text(
        '{% extends "base.html" %}{% block content %}<h1>Welcome to {{ study.name }}</h1>'
        '<form method="post" action="/enroll/{{ secret }}/start"><button>Go</button></form>{% endblock %}'
    )
    client = enrolment.client(enrol_template_dir=str(templates))

    page = client.get(local(link))

    assert page.status_code == 200 and "<h1>Welcome to Sleep &amp; Heart &lt;Study&gt;</h1>" in page.text
    assert "Continue to Google" not in page.text  # the operator's page, not the project's
    assert client.get(f"/enroll/{'D' * 32}").text.count("This link does not work") == 2  # title and heading
