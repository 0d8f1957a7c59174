"""The google_health source: the mapping to Fitbit shapes, and the API client against the local fake.

The fake (``google_fake.py``) serves Google's documented shapes on 127.0.0.1; tokens are
stored in a real test database, encrypted.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import psycopg
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from dagster._serdes import serialize_value

from hr_assets.alerts import AlertResource
from hr_assets.cli import main
from hr_assets.defs.alerts.sensors import hr_run_failure_sensor
from hr_assets.defs.common import HISTORY_USER_TAG
from hr_assets.defs.heart_rate.assets import heart_rate_assets
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.resources import WarehouseResource
from hr_assets.settings import get_settings
from hr_assets.sources import SOURCES, SourceError, SourceRegistry, TransientSourceError, UserProfile
from hr_assets.sources.google_health import (
    MAX_ATTEMPTS,
    PAGE_SIZE,
    FitbitApiGone,
    GoogleHealthSource,
    daily_filter,
    heart_rate_filter,
    retry_delay,
    to_fitbit_payloads,
)
from hr_assets.sources.google_oauth import GrantRevoked, connect_user
from hr_assets.transform import local_day_window, parse_intraday, parse_summary
from hr_assets.warehouse.tokens import load_grant, save_grant
from hr_assets.warehouse.users import NewUser, add_user
from hr_assets_tests import google_fake
from hr_assets_tests.google_fake import (
    GoogleFake,
    heart_rate_point,
    heart_rate_zones_point,
    resting_heart_rate_point,
    serving,
)
from hr_assets_tests.test_orchestration import (
    Received,
    _evaluate_users_sensor,
    _run_failure_context,
    _serving,
    _webhook_handler,
)

BERLIN = "Europe/Berlin"
FALL_BACK = date(2026, 10, 25)  # Berlin: 03:00 CEST -> 02:00 CET
SPRING_FORWARD = date(2026, 3, 29)  # Berlin: 02:00 CET -> 03:00 CEST
ZONE_LIMITS = {"LIGHT": (80, 95), "MODERATE": (95, 120), "VIGOROUS": (120, 140), "PEAK": (140, 200)}


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- the mapping --------------------------------------------------------------------------------


def test_points_become_local_clock_times_in_order_across_a_fall_back() -> None:
    # Around Berlin's fall-back, 00:30 and 01:30 UTC both read 02:30 on the wall clock.
    instants = [
        _utc(2026, 10, 24, 22, 0, 5),
        _utc(2026, 10, 25, 0, 30),
        _utc(2026, 10, 25, 0, 59, 59),
        _utc(2026, 10, 25, 1, 0),
        _utc(2026, 10, 25, 1, 30),
    ]
    points = [heart_rate_point(t, 60 + n, BERLIN) for n, t in enumerate(instants)]
    points[1]["heartRate"]["beatsPerMinute"] = 61  # an integral JSON number is accepted as well as "61"
    newest_first = sorted(points, key=lambda p: p["heartRate"]["sampleTime"]["physicalTime"], reverse=True)

    intraday, _ = to_fitbit_payloads(FALL_BACK, BERLIN, newest_first)

    dataset = json.loads(intraday)["activities-heart-intraday"]["dataset"]
    assert dataset == [
        {"time": "00:00:05", "value": 60},
        {"time": "02:30:00", "value": 61},
        {"time": "02:59:59", "value": 62},
        {"time": "02:00:00", "value": 63},
        {"time": "02:30:00", "value": 64},
    ]
    parsed = parse_intraday(intraday, user_id="u", day=FALL_BACK, timezone=BERLIN)
    assert parsed.readings["time"].to_list() == instants
    assert parsed.readings["bpm"].to_list() == [60, 61, 62, 63, 64]
    assert parsed.quarantined.is_empty()
    assert parsed.day_seconds == 25 * 3600


def test_fractions_of_a_second_are_cut_and_points_outside_the_day_left_out() -> None:
    start, end = local_day_window(SPRING_FORWARD, BERLIN)
    inside = heart_rate_point(start, 70, BERLIN)
    inside["heartRate"]["sampleTime"]["physicalTime"] = "2026-03-28T23:00:00.987654321Z"
    before = heart_rate_point(start - timedelta(seconds=1), 71, BERLIN)
    after = heart_rate_point(end, 72, BERLIN)
    intraday, _ = to_fitbit_payloads(SPRING_FORWARD, BERLIN, [after, inside, before])
    assert json.loads(intraday)["activities-heart-intraday"]["dataset"] == [{"time": "00:00:00", "value": 70}]


def test_unreadable_points_reach_the_loaders_quarantine_with_their_reason() -> None:
    good = heart_rate_point(_utc(2026, 6, 1, 8), 64, BERLIN)
    fraction = heart_rate_point(_utc(2026, 6, 1, 8, 0, 1), "64.5", BERLIN)
    impossible = heart_rate_point(_utc(2026, 6, 1, 8, 0, 2), 300, BERLIN)
    no_bpm = heart_rate_point(_utc(2026, 6, 1, 8, 0, 3), 1, BERLIN)
    del no_bpm["heartRate"]["beatsPerMinute"]
    bad_time = heart_rate_point(_utc(2026, 6, 1, 8, 0, 4), 65, BERLIN)
    bad_time["heartRate"]["sampleTime"]["physicalTime"] = "yesterday"
    clock_shaped = heart_rate_point(_utc(2026, 6, 1, 8, 0, 5), 65, BERLIN)
    clock_shaped["heartRate"]["sampleTime"]["physicalTime"] = "10:00:00"
    not_heart_rate = {"steps": {"count": "5"}}

    intraday, _ = to_fitbit_payloads(
        date(2026, 6, 1), BERLIN, [good, fraction, impossible, no_bpm, bad_time, clock_shaped, not_heart_rate]
    )

    parsed = parse_intraday(intraday, user_id="u", day=date(2026, 6, 1), timezone=BERLIN)
    assert parsed.readings["bpm"].to_list() == [64]
    reasons = sorted(parsed.quarantined["reason"].to_list())
    assert reasons == sorted(
        [
            "record 1: 'value' is not an integer: '64.5'",
            "record 2: impossible bpm 300 (outside 1..250)",
            "record 3: missing 'value'",
            "record 4: time 'yesterday' is not HH:MM:SS",
            "record 5: missing 'time'",
            "record 6: missing 'time'",
        ]
    )
    # The quarantined record carries the point it came from.
    assert any('"yesterday"' in record and "heartRate" in record for record in parsed.quarantined["record"])


def _minutes(*spans: tuple[datetime, int, int]) -> list[dict[str, Any]]:
    """Points every 10 s: (start, minutes, bpm) each."""
    return [
        heart_rate_point(start + timedelta(seconds=s), bpm, BERLIN)
        for start, minutes, bpm in spans
        for s in range(0, minutes * 60, 10)
    ]


def test_zone_minutes_are_counted_from_the_points_with_the_days_limits() -> None:
    day = date(2026, 6, 1)
    points = _minutes(
        (_utc(2026, 6, 1, 6), 60, 60),  # below Light: Out of Range
        (_utc(2026, 6, 1, 8), 30, 100),  # Moderate
        (_utc(2026, 6, 1, 9), 10, 150),  # Peak
        (_utc(2026, 6, 1, 10), 5, 95),  # exactly Moderate's minimum (Light's maximum): the higher zone
    )
    # A minute whose mean is 90 (readings of 70 and 110): Light, though no reading is.
    points += [
        heart_rate_point(_utc(2026, 6, 1, 11, 0, 0), 70, BERLIN),
        heart_rate_point(_utc(2026, 6, 1, 11, 0, 30), 110, BERLIN),
    ]
    zones = [heart_rate_zones_point(day, ZONE_LIMITS)]

    _, summary = to_fitbit_payloads(day, BERLIN, points, [resting_heart_rate_point(day, "58")], zones)

    parsed = parse_summary(summary, user_id="u", day=day)
    assert parsed.resting_heart_rate == 58
    assert parsed.heart_rate_zones == [
        {"name": "Out of Range", "max": 80, "minutes": 60},
        {"name": "Light", "min": 80, "max": 95, "minutes": 1},
        {"name": "Moderate", "min": 95, "max": 120, "minutes": 35},
        {"name": "Vigorous", "min": 120, "max": 140, "minutes": 0},
        {"name": "Peak", "min": 140, "max": 200, "minutes": 10},
    ]
    assert parsed.custom_heart_rate_zones == [] and parsed.quarantined.is_empty()


def test_summary_without_daily_records_and_with_odd_ones() -> None:
    day = date(2026, 6, 1)
    _, empty = to_fitbit_payloads(day, BERLIN, [])
    parsed = parse_summary(empty, user_id="u", day=day)
    assert (parsed.resting_heart_rate, parsed.heart_rate_zones) == (None, [])

    other_day = [resting_heart_rate_point(day - timedelta(days=1), 50)]
    odd_zones = heart_rate_zones_point(day, {"LIGHT": (80, 95), "SUPER": (200, 220)})
    odd_zones["dailyHeartRateZones"]["heartRateZones"].append({"heartRateZoneType": "PEAK", "minBeatsPerMinute": "x"})
    _, summary = to_fitbit_payloads(day, BERLIN, [], other_day, [odd_zones])
    parsed = parse_summary(summary, user_id="u", day=day)
    assert parsed.resting_heart_rate is None  # the only record is another day's
    # An unknown zone type keeps its own name; unreadable limits are refused with the reason.
    assert [z["name"] for z in parsed.heart_rate_zones] == ["Out of Range", "Light", "SUPER"]
    assert parsed.quarantined["reason"].to_list() == ["heartRateZones[3]: 'min' is not a non-negative number: 'x'"]

    not_a_list = heart_rate_zones_point(day, {})
    not_a_list["dailyHeartRateZones"]["heartRateZones"] = "LIGHT"
    _, summary = to_fitbit_payloads(day, BERLIN, [], [], [not_a_list])
    parsed = parse_summary(summary, user_id="u", day=day)
    assert parsed.heart_rate_zones == []
    assert parsed.quarantined["reason"].to_list() == ["heartRateZones[0]: missing 'name'"]
    assert '"LIGHT"' in parsed.quarantined["record"][0]

    _, bad_resting = to_fitbit_payloads(day, BERLIN, [], [resting_heart_rate_point(day, "fifty")])
    parsed = parse_summary(bad_resting, user_id="u", day=day)
    assert parsed.resting_heart_rate is None
    assert parsed.quarantined["reason"].to_list() == ["impossible restingHeartRate 'fifty'"]


def test_filters_ask_for_exactly_the_local_day() -> None:
    assert heart_rate_filter(SPRING_FORWARD, BERLIN) == (
        'heart_rate.sample_time.physical_time >= "2026-03-28T23:00:00Z" '
        'AND heart_rate.sample_time.physical_time < "2026-03-29T22:00:00Z"'  # 23 hours
    )
    assert heart_rate_filter(FALL_BACK, BERLIN) == (
        'heart_rate.sample_time.physical_time >= "2026-10-24T22:00:00Z" '
        'AND heart_rate.sample_time.physical_time < "2026-10-25T23:00:00Z"'  # 25 hours
    )
    assert daily_filter("daily-resting-heart-rate", date(2026, 12, 31)) == (
        'daily_resting_heart_rate.date >= "2026-12-31" AND daily_resting_heart_rate.date < "2027-01-01"'
    )


def test_retry_delay_honours_retry_after_else_backs_off() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/")
    now = _utc(2026, 12, 1, 12)
    assert retry_delay(httpx.Response(429, headers={"Retry-After": "7"}, request=request), 1) == 7.0
    dated = httpx.Response(503, headers={"Retry-After": format_datetime(now + timedelta(seconds=30))}, request=request)
    assert retry_delay(dated, 1, now=now) == 30.0
    plain = httpx.Response(500, request=request)
    assert [retry_delay(plain, attempt) for attempt in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]


# --- the client, against the fake -----------------------------------------------------------------


@dataclass
class Google:
    fake: GoogleFake
    source: GoogleHealthSource
    sleeps: list[float]
    db_url: str
    sources: SourceRegistry


@pytest.fixture
def google(hr_home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Google]:
    """The fake on 127.0.0.1, the settings pointing at it, and a fresh source that records its waits."""
    with serving() as fake:
        for name, value in {
            "HR_GOOGLE_CLIENT_ID": google_fake.CLIENT_ID,
            "HR_GOOGLE_CLIENT_SECRET": google_fake.CLIENT_SECRET,
            "HR_GOOGLE_HEALTH_API_URL": fake.url,
            "HR_GOOGLE_AUTHORIZE_URL": f"{fake.url}/o/oauth2/v2/auth",
            "HR_GOOGLE_TOKEN_URL": f"{fake.url}/token",
            "HR_GOOGLE_REVOKE_URL": f"{fake.url}/revoke",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        sleeps: list[float] = []
        source = GoogleHealthSource(sleep=sleeps.append)
        yield Google(fake, source, sleeps, db_url, SOURCES.with_sources(source))
    get_settings.cache_clear()


def grant_for(google: Google, conn: psycopg.Connection, user_id: str, account: str, timezone: str = BERLIN) -> None:
    """Register ``user_id`` and give it a grant on ``account``, as a finished connect would."""
    add_user(conn, NewUser(user_id, timezone, date(2026, 1, 1), source="google_health"), known_sources=SOURCES.kinds)
    grant_for_registered(google, conn, user_id, account)


def grant_for_registered(google: Google, conn: psycopg.Connection, user_id: str, account: str) -> None:
    google.fake.account(account)
    answer = httpx.post(
        f"{google.fake.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": _code(google.fake, account),
            "code_verifier": "v" * 43,
            "redirect_uri": "http://127.0.0.1:1/",
            "client_id": google_fake.CLIENT_ID,
            "client_secret": google_fake.CLIENT_SECRET,
        },
    ).json()
    save_grant(conn, user_id, answer["refresh_token"], answer["scope"].split())


def _code(fake: GoogleFake, account: str) -> str:
    import base64
    import hashlib

    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=").decode()
    fake.consenting_account = account
    status, headers, _ = fake.authorize(
        {
            "client_id": google_fake.CLIENT_ID,
            "redirect_uri": "http://127.0.0.1:1/",
            "response_type": "code",
            "scope": google_fake.SCOPE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s",
        }
    )
    assert status == 302
    return dict(httpx.URL(headers["Location"]).params)["code"]


def _profile(user_id: str, timezone: str = BERLIN) -> UserProfile:
    return UserProfile(user_id, timezone, "google_health")


def _day_of_points(day: date, timezone: str, every_s: int) -> list[dict[str, Any]]:
    start, end = local_day_window(day, timezone)
    seconds = int((end - start).total_seconds())
    return [
        heart_rate_point(start + timedelta(seconds=s), 50 + s // 600 % 60, timezone) for s in range(0, seconds, every_s)
    ]


def test_a_dense_day_is_read_over_several_pages_of_the_largest_size(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    points = _day_of_points(SPRING_FORWARD, BERLIN, 3)  # 23 hours: 27,600 points
    google.fake.account("alice@example.com").points["heart-rate"] = points

    payloads = google.source.fetch_day(_profile("alice"), SPRING_FORWARD, only="intraday")

    requests = google.fake.api_requests("heart-rate")
    assert [r.query["pageSize"] for r in requests] == [str(PAGE_SIZE)] * 3
    assert ["pageToken" in r.query for r in requests] == [False, True, True]
    assert payloads.summary == b""
    parsed = parse_intraday(payloads.intraday, user_id="alice", day=SPRING_FORWARD, timezone=BERLIN)
    expected = sorted(datetime.fromisoformat(p["heartRate"]["sampleTime"]["physicalTime"]) for p in points)
    assert parsed.readings.height == len(points) == 23 * 1200
    assert parsed.readings["time"].to_list() == expected
    assert parsed.quarantined.is_empty()


def test_a_429_is_waited_out_as_retry_after_says(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    google.fake.account("alice@example.com").points["heart-rate"] = [heart_rate_point(_utc(2026, 6, 1, 8), 64)]
    google.fake.fail_next(429, retry_after="7")

    payloads = google.source.fetch_day(_profile("alice", "UTC"), date(2026, 6, 1), only="intraday")

    assert google.sleeps == [7.0]
    assert json.loads(payloads.intraday)["activities-heart-intraday"]["dataset"] == [{"time": "08:00:00", "value": 64}]
    assert len(google.fake.api_requests("heart-rate")) == 2


def test_server_errors_are_retried_then_left_to_the_runs_retry_policy(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    google.fake.fail_next(500, times=MAX_ATTEMPTS)
    with pytest.raises(TransientSourceError, match=f"INTERNAL: injected fault after {MAX_ATTEMPTS} attempt"):
        google.source.fetch_day(_profile("alice"), date(2026, 6, 1))
    assert google.sleeps == [1.0, 2.0, 4.0, 8.0]
    # A Retry-After longer than the source waits is not waited out here either.
    google.sleeps.clear()
    google.fake.fail_next(429, retry_after="3600")
    with pytest.raises(TransientSourceError, match="RESOURCE_EXHAUSTED"):
        google.source.fetch_day(_profile("alice"), date(2026, 6, 1))
    assert google.sleeps == []


def test_access_tokens_live_in_memory_and_are_refreshed(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    day = date(2026, 6, 1)

    def token_requests() -> int:
        return sum(1 for r in google.fake.requests if r.path == "/token" and r.form["grant_type"] == "refresh_token")

    google.source.fetch_day(_profile("alice"), day)
    assert token_requests() == 1  # three data types, one access token
    google.fake.expire_access_tokens()  # revoked early or expired: the 401 is answered by one refresh
    google.source.fetch_day(_profile("alice"), day)
    assert token_requests() == 2
    google.fake.access_token_lifetime_s = 30  # closer to expiry than the margin: refreshed before use
    google.fake.expire_access_tokens()
    google.source.fetch_day(_profile("alice"), day, only="intraday")  # a 401, a refresh: a 30-second token
    assert token_requests() == 3
    google.source.fetch_day(_profile("alice"), day, only="intraday")  # that token is refreshed before use
    google.source.fetch_day(_profile("alice"), day, only="intraday")
    assert token_requests() == 5
    assert all(r.authorization and r.authorization.startswith("Bearer ya29.") for r in google.fake.api_requests())


def test_a_revoked_grant_says_to_reconnect(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    google.fake.revoke("alice@example.com")
    with pytest.raises(GrantRevoked, match=r"invalid_grant.*reconnect with `hr users connect alice`"):
        google.source.fetch_day(_profile("alice"), date(2026, 6, 1))
    refreshes = sum(1 for r in google.fake.requests if r.path == "/token")
    refused = conn.execute("SELECT grant_refused_at FROM google_health_tokens WHERE user_id = 'alice'").fetchone()
    assert refused is not None and refused[0] is not None  # the study view: needs reconnect since then
    with pytest.raises(GrantRevoked, match="reconnect with `hr users connect alice`"):
        google.source.fetch_day(_profile("alice"), date(2026, 6, 2))
    assert sum(1 for r in google.fake.requests if r.path == "/token") == refreshes  # not asked again
    grant_for_registered(google, conn, "alice", "alice@example.com")  # reconnected
    assert conn.execute("SELECT grant_refused_at FROM google_health_tokens WHERE user_id = 'alice'").fetchone() == (
        None,
    )


def test_a_401_after_a_refresh_says_to_reconnect(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    google.fake.fail_next(401, times=2)
    with pytest.raises(GrantRevoked, match=r"401 with a fresh access token.*reconnect with `hr users connect alice`"):
        google.source.fetch_day(_profile("alice"), date(2026, 6, 1))


def test_a_user_who_never_connected_is_told_how(google: Google, conn: psycopg.Connection) -> None:
    add_user(conn, NewUser("carol", "UTC", date(2026, 1, 1), source="google_health"), known_sources=SOURCES.kinds)
    with pytest.raises(SourceError, match="carol is not connected to the Google Health API: hr users connect carol"):
        google.source.fetch_day(_profile("carol"), date(2026, 6, 1))


def test_410_from_the_legacy_fitbit_api_says_it_is_gone(
    google: Google, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    monkeypatch.setenv("HR_GOOGLE_HEALTH_API_URL", f"{google.fake.url}/1")  # a base URL left on the old API
    get_settings.cache_clear()
    with pytest.raises(FitbitApiGone, match="the Fitbit Web API was turned off on 2026-11-02"):
        google.source.fetch_day(_profile("alice"), date(2026, 6, 1))


def test_a_query_the_api_refuses_is_a_clear_final_error(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    with httpx.Client() as client, pytest.raises(SourceError, match="INVALID_ARGUMENT: invalid filter clause"):
        google.source.list_points(client, _profile("alice"), "heart-rate", 'heart_rate.start_time >= "x"')


def test_the_fake_pages_newest_first_and_binds_page_tokens_to_their_query(
    google: Google, conn: psycopg.Connection
) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    points = [heart_rate_point(_utc(2026, 6, 1, 8, 0, s), 60 + s) for s in range(5)]
    google.fake.account("alice@example.com").points["heart-rate"] = points
    access = httpx.post(
        f"{google.fake.url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": google.fake.issued[0],
            "client_id": google_fake.CLIENT_ID,
            "client_secret": google_fake.CLIENT_SECRET,
        },
    ).json()["access_token"]
    url = f"{google.fake.url}/v4/users/me/dataTypes/heart-rate/dataPoints"
    auth = {"Authorization": f"Bearer {access}"}
    first = httpx.get(url, params={"pageSize": "2"}, headers=auth).json()
    assert [p["heartRate"]["beatsPerMinute"] for p in first["dataPoints"]] == ["64", "63"]
    other = httpx.get(
        url,
        params={
            "pageSize": "2",
            "pageToken": first["nextPageToken"],
            "filter": 'heart_rate.sample_time.physical_time >= "2026-06-01T00:00:00Z"',
        },
        headers=auth,
    )
    assert other.status_code == 400 and other.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401


# --- connecting: the CLI, the consent page and the loopback redirect ------------------------------


def _register(conn: psycopg.Connection, user_id: str, timezone: str = BERLIN) -> None:
    add_user(conn, NewUser(user_id, timezone, date(2026, 1, 1), source="google_health"), known_sources=SOURCES.kinds)


def _browser(url: str) -> httpx.Response:
    """What the person's browser does with the consent URL: Google's page, then its redirect to 127.0.0.1."""
    response = httpx.get(url, follow_redirects=True, timeout=30)
    assert response.history and response.history[0].status_code == 302
    assert response.url.host == "127.0.0.1"
    return response


def connect(google: Google, user_id: str, account: str) -> None:
    """``connect_user`` as ``hr users connect`` runs it, with a real HTTP round trip through the loopback."""
    google.fake.consenting_account = account
    urls: queue.Queue[str] = queue.Queue()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            connect_user(google.db_url, user_id, echo=lambda text: _urls(text, urls), open_browser=False, timeout=30)
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    page = _browser(urls.get(timeout=30))
    thread.join(timeout=30)
    assert not failures, failures
    assert page.status_code == 200 and "hr-pipeline is connected" in page.text


def _urls(text: str, found: queue.Queue[str]) -> None:
    for url in re.findall(r"https?://\S+", text):
        found.put(url)


def test_connect_through_the_cli_stores_an_encrypted_grant_and_disconnect_revokes_it(
    google: Google, conn: psycopg.Connection
) -> None:
    _register(conn, "alice")
    google.fake.consenting_account = "alice@example.com"
    hr = Path(sys.executable).parent / "hr"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [str(hr), "users", "connect", "alice", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        assert process.stdout is not None
        printed = ""
        while not (found := re.findall(r"https?://\S+", printed)):
            line = process.stdout.readline()
            assert line, f"hr exited before printing the URL: {process.stderr.read() if process.stderr else ''}"
            printed += line
        [url] = found
        query = dict(httpx.URL(url).params)
        assert url.startswith(f"{google.fake.url}/o/oauth2/v2/auth?")
        assert query["scope"] == google_fake.SCOPE  # the read-only scope, nothing else
        assert (query["code_challenge_method"], query["access_type"], query["prompt"]) == ("S256", "offline", "consent")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", query["redirect_uri"])
        page = _browser(url)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert page.status_code == 200 and "hr-pipeline is connected" in page.text
    assert "connected alice" in out
    grant = load_grant(conn, "alice")
    assert grant is not None and grant.scopes == (google_fake.SCOPE,)
    assert google.fake.live_grants("alice@example.com") == 1
    for token in google.fake.issued:
        assert token not in printed + out + err

    disconnected = CliRunner().invoke(main, ["users", "disconnect", "alice"])
    assert disconnected.exit_code == 0, disconnected.output
    assert "deleted alice's Google Health grant (revoked at Google)" in disconnected.output
    assert google.fake.live_grants("alice@example.com") == 0 and load_grant(conn, "alice") is None
    again = CliRunner().invoke(main, ["users", "disconnect", "alice"])
    assert again.exit_code == 0 and "alice has no Google Health grant" in again.output


def test_retire_revokes_and_deletes_the_grant(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    retired = CliRunner().invoke(main, ["users", "retire", "alice"])
    assert retired.exit_code == 0, retired.output
    assert "retired alice" in retired.output and "revoked at Google" in retired.output
    assert google.fake.live_grants("alice@example.com") == 0 and load_grant(conn, "alice") is None


def test_connect_refuses_what_it_cannot_use(google: Google, conn: psycopg.Connection) -> None:
    add_user(conn, NewUser("sim", "UTC", date(2026, 1, 1), seed=3), known_sources=SOURCES.kinds)
    refused = CliRunner().invoke(main, ["users", "connect", "sim", "--no-browser"])
    assert refused.exit_code != 0 and "hr users update sim --source google_health" in refused.output

    _register(conn, "alice")
    google.fake.refuse_consent = True
    with pytest.raises(AssertionError, match="access_denied"):
        connect(google, "alice", "alice@example.com")
    google.fake.refuse_consent = False
    google.fake.granted_scope = "https://www.googleapis.com/auth/googlehealth.sleep.readonly"  # unticked heart data
    with pytest.raises(AssertionError, match="access to heart-rate data was not granted"):
        connect(google, "alice", "alice@example.com")
    assert load_grant(conn, "alice") is None
    assert google.fake.live_grants("alice@example.com") == 0  # the useless grant was revoked, not kept


def test_a_redirect_with_another_state_is_refused(google: Google, conn: psycopg.Connection) -> None:
    _register(conn, "alice")
    urls: queue.Queue[str] = queue.Queue()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            connect_user(google.db_url, "alice", echo=lambda text: _urls(text, urls), open_browser=False, timeout=30)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    redirect_uri = dict(httpx.URL(urls.get(timeout=30)).params)["redirect_uri"]
    forged = httpx.get(redirect_uri, params={"code": "4/forged", "state": "not-the-one"}, timeout=30)
    thread.join(timeout=30)
    assert forged.status_code == 200
    [failure] = failures
    assert isinstance(failure, SourceError) and "state does not match" in str(failure)
    assert load_grant(conn, "alice") is None


# --- end to end, through Dagster ------------------------------------------------------------------

DST_DAYS = [date(2026, 3, 28), SPRING_FORWARD, date(2026, 3, 30)]  # 24, 23 and 24 hours in Berlin
EVERY_S = 5


def _bpm(instant: datetime) -> int:
    """60, except 10:00-10:30 UTC (100: Moderate) and 11:00-11:10 UTC (150: Peak) every day."""
    if instant.hour == 10 and instant.minute < 30:
        return 100
    if instant.hour == 11 and instant.minute < 10:
        return 150
    return 60


def _fill(google: Google, account: str, days: list[date], timezone: str = BERLIN) -> int:
    """Readings every EVERY_S seconds of each local day, its resting heart rate and zones; the count."""
    points = google.fake.account(account).points
    count = 0
    for n, day in enumerate(days):
        start, end = local_day_window(day, timezone)
        instants = [start + timedelta(seconds=s) for s in range(0, int((end - start).total_seconds()), EVERY_S)]
        points["heart-rate"] += [heart_rate_point(t, _bpm(t), timezone) for t in instants]
        points["daily-resting-heart-rate"].append(resting_heart_rate_point(day, 55 + n))
        points["daily-heart-rate-zones"].append(heart_rate_zones_point(day, ZONE_LIMITS))
        count += len(instants)
    return count


def _job(google: Google, webhook_url: str | None = None) -> dg.JobDefinition:
    return dg.Definitions(
        assets=heart_rate_assets,
        jobs=[dg.define_asset_job("backfill")],
        resources={
            "warehouse": WarehouseResource(database_url=google.db_url),
            "alerts": AlertResource(webhook_url=webhook_url),
            "sources": google.sources,
        },
    ).resolve_job_def("backfill")


def _backfill(
    google: Google, instance: dg.DagsterInstance, first: str, last: str, webhook_url: str | None = None
) -> dg.ExecuteInProcessResult:
    return _job(google, webhook_url).execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        raise_on_error=False,
    )


def _instance(*users: str) -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(USERS_PARTITION_NAME, list(users))
    return instance


def _assert_no_secret_in_the_run(google: Google, instance: dg.DagsterInstance, run_id: str) -> None:
    """No token or client secret in the run's event log (messages, metadata, errors), config or tags."""
    records = instance.all_logs(run_id)
    assert records
    serialized = [serialize_value(record) for record in records]
    run = instance.get_run_by_id(run_id)
    assert run is not None
    serialized += [json.dumps(run.run_config, default=str), json.dumps(dict(run.tags))]
    secrets = [*google.fake.issued, google_fake.CLIENT_SECRET]
    assert len(google.fake.issued) >= 2  # a refresh token and an access token at least
    leaks = [secret for secret in secrets for text in serialized if secret in text]
    assert leaks == []


def test_backfill_across_a_dst_change_loads_every_point_once_with_resting_heart_rate_and_zones(
    google: Google, conn: psycopg.Connection
) -> None:
    _register(conn, "alice")
    connect(google, "alice", "alice@example.com")
    expected = _fill(google, "alice@example.com", DST_DAYS)
    instance = _instance("alice")

    result = _backfill(google, instance, "2026-03-28|alice", "2026-03-30|alice")

    assert result.success
    start, _ = local_day_window(DST_DAYS[0], BERLIN)
    _, end = local_day_window(DST_DAYS[-1], BERLIN)
    assert conn.execute(
        "SELECT count(*), count(DISTINCT time), min(time), max(time) FROM activities_heart_intraday"
    ).fetchone() == (expected, expected, start, end - timedelta(seconds=EVERY_S))
    wrong = [(t, b) for t, b in conn.execute("SELECT time, bpm FROM activities_heart_intraday") if b != _bpm(t)]
    assert wrong == []
    per_day = dict(
        conn.execute(
            "SELECT (time AT TIME ZONE 'Europe/Berlin')::date, count(*) FROM activities_heart_intraday GROUP BY 1"
        ).fetchall()
    )
    per_hour = 3600 // EVERY_S
    assert per_day == {DST_DAYS[0]: 24 * per_hour, DST_DAYS[1]: 23 * per_hour, DST_DAYS[2]: 24 * per_hour}
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    summaries = conn.execute(
        "SELECT date, resting_heart_rate, heart_rate_zones FROM activities_heart_summary ORDER BY date"
    ).fetchall()
    assert [(d, r) for d, r, _ in summaries] == [(DST_DAYS[0], 55), (DST_DAYS[1], 56), (DST_DAYS[2], 57)]
    for day, _, zones in summaries:
        minutes = {zone["name"]: zone["minutes"] for zone in zones}
        hours = 23 if day == SPRING_FORWARD else 24
        assert minutes == {"Out of Range": hours * 60 - 40, "Light": 0, "Moderate": 30, "Vigorous": 0, "Peak": 10}
    assert conn.execute("SELECT sum(sample_count) FROM activities_heart_intraday_1h").fetchone() == (expected,)
    # Several pages a day, each of the largest size; the summary step listed the heart rate again.
    heart_rate = google.fake.api_requests("heart-rate")
    assert {r.query["pageSize"] for r in heart_rate} == {str(PAGE_SIZE)}
    assert sum("pageToken" in r.query for r in heart_rate) == 2 * len(DST_DAYS)
    _assert_no_secret_in_the_run(google, instance, result.run_id)


def test_a_transient_429_succeeds_after_a_retry(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    expected = _fill(google, "alice@example.com", [date(2026, 6, 1)])
    google.fake.fail_next(429, retry_after="2")

    result = _backfill(google, _instance("alice"), "2026-06-01|alice", "2026-06-01|alice")

    assert result.success
    assert google.sleeps == [2.0]
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday").fetchone() == (expected,)


def test_retries_that_run_out_are_left_to_dagsters_retry_policy(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    expected = _fill(google, "alice@example.com", [date(2026, 6, 1)])
    google.fake.fail_next(503, times=MAX_ATTEMPTS)  # every attempt of the source's first request

    result = dg.materialize(
        heart_rate_assets[:1],
        instance=_instance("alice"),
        partition_key="2026-06-01|alice",
        resources={
            "warehouse": WarehouseResource(database_url=google.db_url),
            "alerts": AlertResource(),
            "sources": google.sources,
        },
    )

    # The step failed once with the transient error, was retried by its RetryPolicy, and loaded the day.
    assert result.success
    retried = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retried) == 1 and "UNAVAILABLE" in str(retried[0].event_specific_data)
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday").fetchone() == (expected,)


def test_a_revoked_grant_fails_only_that_users_partitions_says_reconnect_and_alerts(
    google: Google, conn: psycopg.Connection
) -> None:
    days = [date(2026, 6, 1), date(2026, 6, 2)]
    grant_for(google, conn, "alice", "alice@example.com")
    grant_for(google, conn, "bob", "bob@example.com")
    _fill(google, "alice@example.com", days)
    bob_points = _fill(google, "bob@example.com", days)
    google.fake.revoke("alice@example.com")
    instance = _instance("alice", "bob")

    result = _backfill(google, instance, "2026-06-01|alice", "2026-06-02|bob")

    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "activities_heart_intraday"
    message = str(failure.step_failure_data.error)
    assert "2 of 4 intraday partition(s) could not be loaded" in message
    for day in days:
        assert f"{day}|alice: source google_health: " in message and f"{day}|bob" not in message
    assert message.count("reconnect with `hr users connect alice`") == 2
    # Bob's days are loaded all the same; nothing of Alice's.
    assert dict(conn.execute("SELECT user_id, count(*) FROM activities_heart_intraday GROUP BY 1").fetchall()) == {
        "bob": bob_points
    }
    # The run failure raises the alert, as any failed run does.
    run = instance.get_run_by_id(result.run_id)
    [record] = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert run is not None and record.dagster_event is not None
    received: list[Received] = []
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), _webhook_handler(received, 200))) as port:
        alerts = AlertResource(webhook_url=f"http://127.0.0.1:{port}/hook")
        hr_run_failure_sensor(_run_failure_context(instance, run, record.dagster_event, alerts))
    [alert] = received
    assert alert.body["event"] == "run_failed" and alert.body["run_id"] == result.run_id
    assert alert.body["partition"] == "2026-06-01|alice..2026-06-02|bob"
    _assert_no_secret_in_the_run(google, instance, result.run_id)


def test_history_waits_until_the_user_is_connected(google: Google, conn: psycopg.Connection) -> None:
    recent = date.today() - timedelta(days=3)
    add_user(conn, NewUser("alice", BERLIN, recent, source="google_health"), known_sources=SOURCES.kinds)
    instance = dg.DagsterInstance.ephemeral()

    before = _evaluate_users_sensor(instance, google.db_url)
    # Scheduled as a partition, but no history run yet: each of them would fail for want of a grant.
    assert [list(r.partition_keys) for r in before.dynamic_partitions_requests or []] == [["alice"]]
    assert not before.run_requests

    grant_for_registered(google, conn, "alice", "alice@example.com")
    after = _evaluate_users_sensor(instance, google.db_url, cursor=before.cursor)
    [history] = after.run_requests or []
    assert history.tags[HISTORY_USER_TAG] == "alice"
    assert (history.tags["dagster/asset_partition_range_start"], history.tags["dagster/asset_partition_range_end"]) == (
        f"{recent.isoformat()}|alice",
        f"{(date.today() - timedelta(days=1)).isoformat()}|alice",
    )


def test_an_undecryptable_grant_is_deleted_on_disconnect_and_said_so(
    google: Google, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    monkeypatch.setenv("HR_SECRET_KEY", Fernet.generate_key().decode())  # the key file was lost
    get_settings.cache_clear()
    disconnected = CliRunner().invoke(main, ["users", "disconnect", "alice"])
    assert disconnected.exit_code == 0, disconnected.output
    assert "not readable with the current key, so not revoked" in disconnected.output
    assert conn.execute("SELECT count(*) FROM google_health_tokens").fetchone() == (0,)


def test_adding_a_google_health_user_says_what_comes_next(google: Google, conn: psycopg.Connection) -> None:
    added = CliRunner().invoke(main, ["users", "add", "dora", "--timezone", BERLIN, "--source", "google_health"])
    assert added.exit_code == 0, added.output
    assert "hr users connect dora" in added.output
    assert conn.execute("SELECT start_date FROM users WHERE id = 'dora'").fetchone() == (
        date.today() - timedelta(days=30),
    )


def test_without_an_oauth_client_connect_says_what_to_set(
    google: Google, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(conn, "alice")
    monkeypatch.delenv("HR_GOOGLE_CLIENT_ID")
    get_settings.cache_clear()
    refused = CliRunner().invoke(main, ["users", "connect", "alice", "--no-browser"])
    assert refused.exit_code != 0 and "HR_GOOGLE_CLIENT_ID and HR_GOOGLE_CLIENT_SECRET are not set" in refused.output


def test_a_time_with_anything_after_it_is_not_a_time() -> None:
    from hr_assets.sources.google_health import _instant

    assert _instant("2026-06-01T10:00:00Z") == datetime(2026, 6, 1, 10, tzinfo=UTC)
    for text in ("2026-06-01T10:00:00Z\n", "2026-06-01T10:00:00Z ", " 2026-06-01T10:00:00Z"):
        assert _instant(text) is None, repr(text)
