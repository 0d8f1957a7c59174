"""What the enrolment tests share: settings pointing at the project's Google fake (the web client's redirect URI
registered), and helpers to register, invite and connect participants the way the pages do."""

from __future__ import annotations

import os
import sys
import urllib.parse
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from hr_api.enrol.app import create_enrol_app
from hr_assets.domain.enrolment import invitation_link, new_secret
from hr_assets.settings import HrSettings, get_settings
from hr_assets.sources import SOURCES
from hr_assets.warehouse.invitations import create_invitation
from hr_assets.warehouse.users import NewUser, add_user
from hr_assets_tests import google_fake
from hr_assets_tests.deploy.deploy_helpers import start, stop, wait_for
from hr_assets_tests.google_fake import GoogleFake

# TestClient's own address; the app answers it as HR_PUBLIC_URL.
TEST_PUBLIC_URL = "http://testserver"
SCOPE = google_fake.SCOPE


@dataclass
class Enrolment:
    fake: GoogleFake
    db_url: str
    conn: psycopg.Connection
    public_url: str

    @property
    def settings(self) -> HrSettings:
        return get_settings()

    def register(self, user_id: str, source: str = "google_health") -> None:
        seed = 7 if source == "simulated" else None
        add_user(
            self.conn,
            NewUser(user_id, "Europe/Berlin", date(2026, 1, 1), source=source, seed=seed),
            known_sources=SOURCES.kinds,
        )

    def invite(self, user_id: str, lifetime: timedelta = timedelta(days=14)) -> str:
        """A new invitation of ``user_id``; its link."""
        from datetime import UTC, datetime

        token = new_secret()
        create_invitation(self.conn, user_id, token, datetime.now(UTC) + lifetime)
        return invitation_link(self.settings, token)

    def client(self, **settings: str) -> TestClient:
        """The enrolment app in-process (for the failure pages), with extra settings if given."""
        return TestClient(
            create_enrol_app(self.settings.model_copy(update=settings), self.db_url), base_url=self.public_url
        )

    def consent(self, client: TestClient, link: str, account: str) -> httpx.Response:
        """Press the button on ``link``'s page, let ``account`` answer Google's consent; Google's redirect back."""
        self.fake.consenting_account = account
        self.fake.account(account)
        start = client.post(urllib.parse.urlsplit(link).path + "/start", follow_redirects=False)
        assert start.status_code == 303, start.text
        at_google = httpx.get(start.headers["location"], follow_redirects=False)
        assert at_google.status_code == 302, at_google.text
        return at_google

    def connect(self, client: TestClient, link: str, account: str) -> httpx.Response:
        """The whole consent through ``client``: the callback's answer."""
        back = self.consent(client, link, account)
        return client.get(_local(back.headers["location"]))


def _local(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def local(url: str) -> str:
    """``url``'s path and query (what TestClient is asked for)."""
    return _local(url)


def enrolment_environment(monkeypatch: pytest.MonkeyPatch, fake: GoogleFake, public_url: str) -> None:
    for name, value in {
        "HR_PUBLIC_URL": public_url,
        "HR_GOOGLE_CLIENT_ID": google_fake.CLIENT_ID,
        "HR_GOOGLE_CLIENT_SECRET": google_fake.CLIENT_SECRET,
        "HR_GOOGLE_WEB_CLIENT_ID": google_fake.WEB_CLIENT_ID,
        "HR_GOOGLE_WEB_CLIENT_SECRET": google_fake.WEB_CLIENT_SECRET,
        "HR_GOOGLE_HEALTH_API_URL": fake.url,
        "HR_GOOGLE_AUTHORIZE_URL": f"{fake.url}/o/oauth2/v2/auth",
        "HR_GOOGLE_TOKEN_URL": f"{fake.url}/token",
        "HR_GOOGLE_REVOKE_URL": f"{fake.url}/revoke",
        "HR_STUDY_NAME": "Sleep & Heart <Study>",
        "HR_STUDY_RUNNER": "Dr. O'Brien's lab",
        "HR_STUDY_CONTACT": "study@example.org",
    }.items():
        monkeypatch.setenv(name, value)
    fake.web_redirect_uris.add(f"{public_url}/enroll/callback")
    get_settings.cache_clear()


# Seconds the enrolment app gets to start in its own process.
SERVER_START_SECONDS = 60.0


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False


class EnrolServer:
    """``uvicorn --factory hr_api.enrol.app:create_enrol_app`` on 127.0.0.1; its output (access log too) in ``log``.

    ``environment``: the HR_* settings of the test (the database, HR_HOME with the encryption key, the fake).
    """

    def __init__(self, port: int, environment: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        env = {key: value for key, value in os.environ.items() if not key.startswith("HR_")}
        env.update(environment)
        command = [sys.executable, "-m", "uvicorn", "--factory", "hr_api.enrol.app:create_enrol_app"]
        self.process = start([*command, "--host", "127.0.0.1", "--port", str(port)], env, log)
        stylesheet = f"{self.url}/enroll/static/enrol.css"
        wait_for(lambda: _answers(stylesheet), self.process, log, SERVER_START_SECONDS)

    def stop(self) -> None:
        if self.process.poll() is None:
            stop(self.process)


def hr_environment() -> dict[str, str]:
    """The HR_* variables of this test (what monkeypatch set), for a server process."""
    return {key: value for key, value in os.environ.items() if key.startswith("HR_")}
