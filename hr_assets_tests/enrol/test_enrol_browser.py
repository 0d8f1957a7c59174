"""The whole enrolment in Debian's headless Chromium (through Playwright): invite, a mail scanner's prefetch, the
landing page, Google's consent (the project's fake), the callback, the grant stored encrypted, the users sensor
asking for the participant's history and a day loaded with the web client's grant, then the withdrawal; the
app runs in its own uvicorn process, whose access log must not hold any secret of the flow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest
from click.testing import CliRunner

from hr_assets.cli import main
from hr_assets.defs.common import HISTORY_USER_TAG
from hr_assets.domain.ingest import ingest
from hr_assets.domain.user_day import UserDay
from hr_assets.sources import SOURCES
from hr_assets.warehouse.db import Warehouse
from hr_assets.warehouse.invitations import participant_states
from hr_assets.warehouse.tokens import load_grant
from hr_assets.warehouse.users import NewUser, add_user, users_by_id
from hr_assets_tests.browser.chromium import chromium_path, free_port, launch
from hr_assets_tests.enrol.helpers import Enrolment, EnrolServer, enrolment_environment, hr_environment
from hr_assets_tests.google_fake import heart_rate_point, serving
from hr_assets_tests.integration.orchestration import _evaluate_users_sensor

pytestmark = pytest.mark.browser
WAIT_MS = 20_000


@pytest.fixture
def browser_enrolment(
    hr_home: Path, db_url: str, conn: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Enrolment, EnrolServer]]:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("browser tests skipped: the playwright package is not installed (make install)")
    if chromium_path() is None:
        pytest.skip("browser tests skipped: chromium not found (apt-get install chromium)")
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    with serving() as fake:
        enrolment_environment(monkeypatch, fake, public_url)
        server = EnrolServer(port, hr_environment(), tmp_path / "enrol.log")
        try:
            yield Enrolment(fake, db_url, conn, public_url), server  # type: ignore[arg-type]
        finally:
            server.stop()


def test_a_participant_enrols_from_a_link_on_their_phone_and_withdraws(
    browser_enrolment: tuple[Enrolment, EnrolServer], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    enrolment, server = browser_enrolment
    yesterday = date.today() - timedelta(days=1)
    add_user(enrolment.conn, NewUser("alice", "UTC", yesterday, source="google_health"), known_sources=SOURCES.kinds)
    instance = dg.DagsterInstance.ephemeral()
    waiting = _evaluate_users_sensor(instance, enrolment.db_url)
    assert not waiting.run_requests  # no history before the participant connects

    invited = CliRunner().invoke(main, ["users", "invite", "alice", "--out", str(tmp_path / "qr")])
    assert invited.exit_code == 0, invited.output
    [link] = re.findall(rf"{re.escape(server.url)}/enroll/[A-Za-z0-9_-]+", invited.output)
    token = link.rsplit("/", 1)[1]
    # A mail scanner fetches the link before the participant opens it.
    assert httpx.get(link).status_code == 200
    account = enrolment.fake.account("alice@example.com")
    enrolment.fake.consenting_account = "alice@example.com"
    noon = datetime.combine(yesterday, datetime.min.time(), UTC) + timedelta(hours=12)
    account.points["heart-rate"] = [heart_rate_point(noon + timedelta(minutes=m), 60 + m) for m in range(30)]

    csp_reports: list[str] = []
    with sync_playwright() as driver:
        phone = launch(driver, tmp_path / "profile", viewport={"width": 375, "height": 740}, is_mobile=True)
        page = phone.new_page()
        page.on("console", lambda message: csp_reports.append(message.text) if "Policy" in message.text else None)
        page.goto(link)
        assert "Join Sleep & Heart <Study>" in page.inner_text("h1")
        assert participant_states(enrolment.conn, ["alice"], datetime.now(UTC))["alice"].state == "invited"
        page.click("text=Continue to Google")  # to the fake's consent, which answers at once, and back
        page.wait_for_selector("text=You are connected", timeout=WAIT_MS)
        withdrawal = page.get_attribute(".secret a", "href")
        assert withdrawal is not None and withdrawal.startswith(f"{server.url}/enroll/withdraw/")
        state_cookies = [c for c in phone.cookies() if c["name"] == "hr_enrol_state"]

        # Connected: the grant is stored encrypted, the sensor asks for alice's history, and a day loads with it.
        grant = load_grant(enrolment.conn, "alice")
        assert grant is not None and grant.oauth_client == "web" and grant.refresh_token in enrolment.fake.issued
        stored = enrolment.conn.execute("SELECT refresh_token_encrypted FROM google_health_tokens").fetchone()
        assert stored is not None and grant.refresh_token.encode() not in bytes(stored[0])
        assert participant_states(enrolment.conn, ["alice"], datetime.now(UTC))["alice"].state == "connected"
        ready = _evaluate_users_sensor(instance, enrolment.db_url, cursor=waiting.cursor)
        assert [r.tags[HISTORY_USER_TAG] for r in ready.run_requests or []] == ["alice"]
        registry = users_by_id(enrolment.conn, ["alice"])
        report = ingest(Warehouse(enrolment.db_url), SOURCES, registry, [UserDay("alice", yesterday)], "intraday")
        assert not report.failures and report.total("rows_written") == 30

        # Opening the used link again: the neutral page.
        page.goto(link)
        assert page.inner_text("h1") == "This link does not work"

        # Withdrawal: the page first, then the confirmed button.
        page.goto(withdrawal)
        assert participant_states(enrolment.conn, ["alice"], datetime.now(UTC))["alice"].state == "connected"
        page.click("text=Withdraw from the study")
        page.wait_for_selector("text=You have withdrawn", timeout=WAIT_MS)
        phone.close()

    assert csp_reports == []
    assert state_cookies == []  # cleared once the consent finished
    assert participant_states(enrolment.conn, ["alice"], datetime.now(UTC))["alice"].state == "withdrawn"
    assert enrolment.fake.live_grants("alice@example.com") == 0
    # The data collected stays (HR_WITHDRAWAL_DATA=keep), and the sensor no longer schedules alice.
    assert enrolment.conn.execute("SELECT count(*) FROM activities_heart_intraday").fetchone() == (30,)

    server.stop()
    logged = server.log.read_text()
    requests = [line for line in logged.splitlines() if '"GET /enroll' in line or '"POST /enroll' in line]
    assert len(requests) >= 6, logged  # the access log is on, and redacted
    oauth = [r for r in enrolment.fake.requests if r.path == "/o/oauth2/v2/auth"]
    secrets = [token, withdrawal.rsplit("/", 1)[1], *enrolment.fake.issued]
    secrets += [r.query["state"] for r in oauth] + [r.query["code_challenge"] for r in oauth]
    secrets += [r.form["code"] for r in enrolment.fake.requests if r.form.get("code")]
    assert len(secrets) >= 7
    for secret in secrets:
        assert secret not in logged
    assert "/enroll/<redacted>" in logged and "/enroll/callback?<redacted>" in logged
