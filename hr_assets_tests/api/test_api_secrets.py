"""The API's secrets never leave it: not in a response, its headers, /metrics, /health, its log or an exception.

The secrets: the database password (in the URL the API reads with), every kind of API key, the metrics
key from the environment, and Google's OAuth client secret, the operator's encryption key and a user's
stored refresh token (the API's process holds the settings that name them). Each is searched for, as
typed and percent-encoded, in everything the API sends back and in every record its loggers write
(uvicorn, the app, the warehouse boundary, psycopg and its pool, at DEBUG), while it serves every
operation with every kind of key, with wrong keys, and while its database is unreachable, refuses the
password, or is named by a URL it cannot read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from cryptography.fernet import Fernet

from hr_assets.local import localdb
from hr_assets.settings import get_settings
from hr_assets.warehouse.db import ConnectionPool, WarehouseError
from hr_assets.warehouse.tokens import delete_grant, save_grant
from hr_assets_tests.api.api_helpers import (
    FIGURES,
    RETIRED,
    Keys,
    LiveApi,
    api_settings,
    make_keys,
    one_request_per_operation,
    running_api,
)

METRICS_KEY = "hr_metrics-key-from-the-environment-" + "k" * 20
CLIENT_SECRET = "GOCSPX-client-secret-of-the-tests-0123456789"
REFRESH_TOKEN = "1//refresh-token-of-the-tests-" + "r" * 40
# A password the server refuses, and one that cannot be read in a URL as typed (a space and a stray %).
WRONG_PASSWORD = "wrong-password-of-the-tests-0123456789"
UNREADABLE_PASSWORD = "pa ss%ZZword-of-the-tests"


class Secrets:
    """What must not leak, and everything the API said or logged, to search."""

    def __init__(self, values: list[str]) -> None:
        self.values = [v for value in values for v in {value, quote(value, safe=""), value.removeprefix("hr_")}]
        self.seen: list[str] = []

    def record(self, *texts: str) -> None:
        self.seen.extend(texts)

    def response(self, response: Any) -> None:
        self.record(response.text, "\n".join(f"{k}: {v}" for k, v in response.headers.items()))

    def assert_none_leaked(self) -> None:
        everything = "\n".join(self.seen)
        assert everything, "nothing was recorded"
        leaked = [value for value in self.values if value in everything]
        assert not leaked, leaked


@pytest.fixture
def oauth_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Google's client secret and the operator's key in the environment, as a deployment sets them."""
    secret_key = Fernet.generate_key().decode()
    monkeypatch.setenv("HR_SECRET_KEY", secret_key)
    monkeypatch.setenv("HR_GOOGLE_CLIENT_ID", "1234-tests.apps.googleusercontent.com")
    monkeypatch.setenv("HR_GOOGLE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("HR_HOME", str(tmp_path / "hr"))
    get_settings.cache_clear()
    yield {"secret_key": secret_key, "google_client_secret": CLIENT_SECRET, "api_metrics_key": METRICS_KEY}
    get_settings.cache_clear()


@pytest.fixture
def stored_grant(api_warehouse: str, oauth_settings: dict[str, Any]) -> Iterator[None]:
    """A refresh token stored (encrypted) for user1, as `hr users connect` stores one."""
    with psycopg.connect(api_warehouse, autocommit=True) as conn:
        save_grant(conn, "user1", REFRESH_TOKEN, ["https://www.googleapis.com/auth/googlehealth.readonly"])
    yield
    with psycopg.connect(api_warehouse, autocommit=True) as conn:
        delete_grant(conn, "user1")


def _secrets(pg_server: localdb.LocalServer, keys: Keys, oauth: dict[str, Any], *extra: str) -> Secrets:
    return Secrets([pg_server.password, *keys.secrets.values(), *oauth.values(), REFRESH_TOKEN, *extra])


def _walk(live: LiveApi, secrets: Secrets, keys: list[str | None]) -> int:
    """One request per operation with each key (None: without one); every answer recorded."""
    requests = 0
    for _, path, query in one_request_per_operation():
        for key in keys:
            secrets.response(live.get(path, key, **query))
            requests += 1
    return requests


def test_no_secret_in_responses_or_logs_while_serving(
    pg_server: localdb.LocalServer,
    api_warehouse: str,
    oauth_settings: dict[str, Any],
    stored_grant: None,
    tmp_path: Path,
) -> None:
    keys = make_keys(api_warehouse)
    secrets = _secrets(pg_server, keys, oauth_settings)
    settings = api_settings(tmp_path, api_auth="keys", **oauth_settings)
    with running_api(settings, api_warehouse) as live:
        wrong = ["hr_" + "x" * 43, "not-a-key", keys["revoked"][:-1]]
        tried = _walk(live, secrets, [*keys.secrets.values(), METRICS_KEY, None, *wrong])
        metrics = live.get("/metrics", METRICS_KEY)
        assert metrics.status_code == 200 and "hr_api_requests_total" in metrics.text
        secrets.response(metrics)
        secrets.record(live.log.text)
    assert "GET /users" in live.log.text, "the access log was captured"
    secrets.assert_none_leaked()
    FIGURES["requests searched for secrets"] += tried + 1


@pytest.mark.parametrize("failure", ["unreachable", "wrong password"])
def test_no_secret_in_responses_or_logs_when_the_database_fails(
    pg_server: localdb.LocalServer,
    api_warehouse: str,
    oauth_settings: dict[str, Any],
    tmp_path: Path,
    short_waits: None,
    failure: str,
) -> None:
    keys = make_keys(api_warehouse)
    password, port = (
        (pg_server.password, localdb.free_port()) if failure == "unreachable" else (WRONG_PASSWORD, pg_server.port)
    )
    url = f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:{port}/{api_warehouse.rsplit('/', 1)[-1]}"
    secrets = _secrets(pg_server, keys, oauth_settings, password)
    with running_api(api_settings(tmp_path, api_auth="keys", **oauth_settings), url) as live:
        tried = _walk(live, secrets, [keys["all"], None])
        secrets.response(live.get("/metrics", METRICS_KEY))
        health = live.get("/health")
        assert health.status_code == 503 and health.json()["detail"] == "database unavailable"
        users = live.get("/users", keys["all"])
        assert users.status_code == 503 and users.json() == {"detail": "database unavailable"}
        secrets.record(live.log.text)
    assert "error connecting" in live.log.text, "the pool's connection errors were captured"
    secrets.assert_none_leaked()
    FIGURES["requests searched for secrets"] += tried


def test_a_database_url_that_cannot_be_read_stops_the_api_without_echoing_the_password(
    pg_server: localdb.LocalServer, api_warehouse: str, oauth_settings: dict[str, Any], tmp_path: Path
) -> None:
    keys = make_keys(api_warehouse)
    # Not percent-encoded: the driver's own message would quote it.
    url = f"postgresql://postgres:{UNREADABLE_PASSWORD}@127.0.0.1:{pg_server.port}/hr"
    secrets = _secrets(pg_server, keys, oauth_settings, UNREADABLE_PASSWORD)
    with pytest.raises(WarehouseError) as raised:
        ConnectionPool(url, max_size=1)
    assert "percent-encode" in str(raised.value) and raised.value.__cause__ is None
    secrets.record(str(raised.value), repr(raised.value))
    settings = api_settings(tmp_path, api_auth="keys", **oauth_settings)
    with pytest.raises(AssertionError, match="the API did not start") as not_started, running_api(settings, url):
        pass
    assert "percent-encode" in str(not_started.value), "the start-up error was logged"
    secrets.record(str(not_started.value))
    secrets.assert_none_leaked()


def test_no_secret_in_the_schema_or_the_service_description(
    pg_server: localdb.LocalServer, api_warehouse: str, oauth_settings: dict[str, Any], tmp_path: Path
) -> None:
    keys = make_keys(api_warehouse)
    secrets = _secrets(pg_server, keys, oauth_settings)
    with running_api(api_settings(tmp_path, api_auth="keys", **oauth_settings), api_warehouse) as live:
        for path in ("/openapi.json", "/docs", "/"):
            secrets.response(live.get(path, keys["all"]))
        secrets.response(live.get(f"/users/{RETIRED}", keys["all"]))
    secrets.assert_none_leaked()
