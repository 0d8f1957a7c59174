"""The google_health source: the mapping to Fitbit shapes, and the API client against the local fake.

The fake (``google_fake.py``) serves Google's documented shapes on 127.0.0.1; tokens are
stored in a real test database, encrypted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hr_assets.settings import get_settings
from hr_assets.sources import SOURCES, SourceError, TransientSourceError, UserProfile
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
from hr_assets.sources.google_oauth import GrantRevoked
from hr_assets.transform import local_day_window, parse_intraday, parse_summary
from hr_assets.warehouse.tokens import save_grant
from hr_assets.warehouse.users import NewUser, add_user
from hr_assets_tests import google_fake
from hr_assets_tests.google_fake import (
    GoogleFake,
    heart_rate_point,
    heart_rate_zones_point,
    resting_heart_rate_point,
    serving,
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
            "record 4: time yesterday is not HH:MM:SS",
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
        monkeypatch.setitem(SOURCES, source.kind, source)
        yield Google(fake, source, sleeps, db_url)
    get_settings.cache_clear()


def grant_for(google: Google, conn: psycopg.Connection, user_id: str, account: str, timezone: str = BERLIN) -> None:
    """Register ``user_id`` and give it a grant on ``account``, as a finished connect would."""
    add_user(conn, NewUser(user_id, timezone, date(2026, 1, 1), source="google_health"), known_sources=set(SOURCES))
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
    with pytest.raises(GrantRevoked, match="reconnect with `hr users connect alice`"):
        google.source.fetch_day(_profile("alice"), date(2026, 6, 2))
    assert sum(1 for r in google.fake.requests if r.path == "/token") == refreshes  # not asked again


def test_a_401_after_a_refresh_says_to_reconnect(google: Google, conn: psycopg.Connection) -> None:
    grant_for(google, conn, "alice", "alice@example.com")
    google.fake.fail_next(401, times=2)
    with pytest.raises(GrantRevoked, match=r"401 with a fresh access token.*reconnect with `hr users connect alice`"):
        google.source.fetch_day(_profile("alice"), date(2026, 6, 1))


def test_a_user_who_never_connected_is_told_how(google: Google, conn: psycopg.Connection) -> None:
    add_user(conn, NewUser("carol", "UTC", date(2026, 1, 1), source="google_health"), known_sources=set(SOURCES))
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
