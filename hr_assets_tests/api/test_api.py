"""The query API against a real PostgreSQL warehouse with simulated users loaded as the pipeline loads them.

One database for the module (the API only reads): four users in Europe/Berlin, America/New_York,
Asia/Kolkata (+5:30) and Asia/Kathmandu (+5:45), each with the days around both DST changes of
2025 in Europe and in the USA. Expected values come from SQL over the raw readings, never from
the API's own queries.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from hr_api.main import create_app
from hr_assets.local import localdb
from hr_assets.settings import HrSettings
from hr_assets.warehouse.api_keys import create_key, revoke_key
from hr_assets.warehouse.migrations import migrate
from hr_assets.warehouse.users import NewUser
from hr_assets_tests.conftest import TEMPLATE, create_database, drop_database
from hr_assets_tests.warehouse_data import load_simulated

USERS = {
    "berlin": "Europe/Berlin",
    "newyork": "America/New_York",
    "kolkata": "Asia/Kolkata",
    "kathmandu": "Asia/Kathmandu",
}
# Both DST changes of 2025 in the USA (Mar 9, Nov 2) and in Europe (Mar 30, Oct 26), with a day either side.
DST_DAYS = [date(2025, 3, 9), date(2025, 3, 30), date(2025, 10, 26), date(2025, 11, 2)]
DAYS = sorted({d + timedelta(days=n) for d in DST_DAYS for n in (-1, 0, 1)})
LOOPBACK = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def loaded_url(pg_server: localdb.LocalServer, template_url: str) -> Iterator[str]:
    name = f"hr_api_{os.getpid()}"
    url = create_database(pg_server, name, template=TEMPLATE)
    users = [NewUser(uid, tz, DAYS[0], seed=n + 11) for n, (uid, tz) in enumerate(USERS.items())]
    load_simulated(url, users, DAYS)
    yield url
    drop_database(pg_server, name)


def _settings(tmp_path: Path, **overrides: Any) -> HrSettings:
    values: dict[str, Any] = {"api_auth": "off", "api_web_dir": tmp_path / "no-dashboard", **overrides}
    return HrSettings(**values)


@pytest.fixture
def client(loaded_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path), database_url=loaded_url), base_url=LOOPBACK) as test_client:
        yield test_client


@pytest.fixture
def raw(loaded_url: str) -> Iterator[psycopg.Connection]:
    """A connection for the expected values (straight SQL on the readings)."""
    with psycopg.connect(loaded_url, autocommit=True, options="-c timezone=UTC") as conn:
        yield conn


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _error(client: TestClient, path: str, status: int, **params: Any) -> str:
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    return detail


# --- the original contract ------------------------------------------------------------------------


def test_service_info_lists_the_endpoints(client: TestClient) -> None:
    body = _get(client, "/")
    assert set(body) == {"message", "version", "description", "endpoints"}
    assert {"/users", "/timeseries", "/multi-user/timeseries", "/health", "/summary", "/metrics"} <= set(
        body["endpoints"]
    )


def test_users_come_from_the_registry(client: TestClient, raw: psycopg.Connection) -> None:
    body = _get(client, "/users")
    assert body["users"] == sorted(USERS)
    assert body["total_count"] == len(USERS)
    newest = raw.execute("SELECT max(updated_at) FROM users").fetchone()
    assert newest is not None and _instant(body["last_updated"]) == newest[0]


def test_user_detail_has_the_registry_entry_and_the_reading_extent(client: TestClient, raw: psycopg.Connection) -> None:
    body = _get(client, "/users/kathmandu")
    first, last = raw.execute(
        "SELECT min(time), max(time) FROM activities_heart_intraday WHERE user_id = 'kathmandu'"
    ).fetchone() or (None, None)
    assert body == {
        "user_id": "kathmandu",
        "display_name": "kathmandu",
        "timezone": "Asia/Kathmandu",
        "source": "simulated",
        "cohort": None,
        "start_date": DAYS[0].isoformat(),
        "retired": False,
        "retired_at": None,
        "first_reading": body["first_reading"],
        "last_reading": body["last_reading"],
        "days_with_data": len(DAYS),
        "connection": None,  # only google_health participants have an enrolment state
    }
    assert (_instant(body["first_reading"]), _instant(body["last_reading"])) == (first, last)


def test_timeseries_points_have_the_original_fields_and_the_band(client: TestClient, raw: psycopg.Connection) -> None:
    body = _get(
        client,
        "/timeseries",
        user_id="berlin",
        start_date="2025-03-30T10:00:00Z",
        end_date="2025-03-30T16:00:00Z",
        interval="1h",
    )
    info = body["metadata"]["query_info"]
    assert info["table_used"] == "activities_heart_intraday_1h"
    assert info["interval"] == "1h" and info["auto"] is False and info["table_description"]
    expected = raw.execute(
        """SELECT date_trunc('hour', time), round(avg(bpm), 2)::float, min(bpm), max(bpm), count(*)
           FROM activities_heart_intraday
           WHERE user_id = 'berlin' AND time >= '2025-03-30 10:00Z' AND time < '2025-03-30 16:00Z'
           GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    got = [(_instant(p["timestamp"]), p["value"], p["min"], p["max"], p["count"]) for p in body["data"]]
    assert got == expected
    assert all(p["user_id"] == "berlin" and p["timestamp"].endswith("+00:00") for p in body["data"])
    assert info["point_count"] == len(expected) == 6


def test_raw_points_are_the_readings_themselves(client: TestClient, raw: psycopg.Connection) -> None:
    body = _get(
        client,
        "/timeseries",
        user_id="newyork",
        start_date="2025-03-09T12:00:00",
        end_date="2025-03-09T12:05:00",
        interval="1s",
    )
    expected = raw.execute(
        """SELECT time, bpm FROM activities_heart_intraday
           WHERE user_id = 'newyork' AND time >= '2025-03-09 12:00Z' AND time < '2025-03-09 12:05Z' ORDER BY time"""
    ).fetchall()
    assert expected, "the fixture has readings in this window"
    assert [(_instant(p["timestamp"]), p["value"]) for p in body["data"]] == expected
    assert all(p["min"] == p["max"] == p["value"] and p["count"] == 1 for p in body["data"])
    assert body["metadata"]["query_info"]["table_used"] == "activities_heart_intraday"


def test_multi_user_timeseries_keeps_the_order_asked_and_counts(client: TestClient) -> None:
    body = _get(
        client,
        "/multi-user/timeseries",
        user_ids="kolkata,berlin",
        start_date="2025-10-26",
        end_date="2025-10-27",
        interval="1h",
    )
    assert [series["user_id"] for series in body["data"]] == ["kolkata", "berlin"]
    for series in body["data"]:
        assert series["count"] == len(series["data"]) > 0
        assert {p["user_id"] for p in series["data"]} == {series["user_id"]}
    assert body["metadata"]["query_info"]["users"] == ["kolkata", "berlin"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2025-03-09", "2025-03-10"),
        ("2025-03-09T00:00:00", "2025-03-10T00:00:00"),
        ("2025-03-09T00:00:00Z", "2025-03-10T00:00:00Z"),
        ("2025-03-08T19:00:00-05:00", "2025-03-09T19:00:00-05:00"),
        ("2025-03-09T00:00:00.000", "2025-03-10T00:00:00.000"),
    ],
)
def test_dates_and_datetimes_with_or_without_offset_name_the_same_instants(
    client: TestClient, start: str, end: str
) -> None:
    info = _get(client, "/timeseries", user_id="berlin", start_date=start, end_date=end, interval="1h")["metadata"][
        "query_info"
    ]
    assert (_instant(info["start"]), _instant(info["end"])) == (
        datetime(2025, 3, 9, tzinfo=UTC),
        datetime(2025, 3, 10, tzinfo=UTC),
    )


def test_openapi_documents_a_response_model_for_every_endpoint(client: TestClient) -> None:
    schema = _get(client, "/openapi.json")
    for path in ("/", "/health", "/users", "/users/{user_id}", "/timeseries", "/multi-user/timeseries", "/summary"):
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert "$ref" in content["schema"], path
    assert client.get("/docs").status_code == 200


# --- resolution -------------------------------------------------------------------------------------


def _raw_count(raw: psycopg.Connection, user_id: str, start: str, end: str) -> int:
    row = raw.execute(
        "SELECT count(*) FROM activities_heart_intraday WHERE user_id = %s AND time >= %s AND time < %s",
        (user_id, start, end),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _auto(client: TestClient, user_id: str, start: str, end: str, max_points: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"user_id": user_id, "start_date": start, "end_date": end}
    if max_points is not None:
        params["max_points"] = max_points
    body = _get(client, "/timeseries", **params)
    info = body["metadata"]["query_info"]
    assert info["auto"] is True
    assert info["point_count"] == len(body["data"]) <= info["max_points"]
    return dict(info)


def test_auto_resolution_picks_the_finest_level_within_max_points(client: TestClient, raw: psycopg.Connection) -> None:
    assert _auto(client, "berlin", "2025-03-30T10:00:00Z", "2025-03-30T10:10:00Z")["interval"] == "1s"
    assert _raw_count(raw, "berlin", "2025-03-30T06:00:00Z", "2025-03-30T18:00:00Z") > 2000
    assert _auto(client, "berlin", "2025-03-30T06:00:00Z", "2025-03-30T18:00:00Z")["interval"] == "1m"
    assert _auto(client, "berlin", "2025-03-29", "2025-04-01")["interval"] == "1h"
    assert _auto(client, "berlin", "2025-03-29", "2025-04-01", max_points=10)["interval"] == "1d"


def test_auto_resolution_boundary_of_raw_readings(client: TestClient, raw: psycopg.Connection) -> None:
    start, end = "2025-11-02T14:00:00Z", "2025-11-02T14:20:00Z"
    readings = _raw_count(raw, "newyork", start, end)
    assert readings > 0
    # The estimate counts whole minutes at the edges, so it may exceed the readings by a little.
    at = _auto(client, "newyork", start, end, max_points=readings + 200)
    assert at["interval"] == "1s" and at["point_count"] == readings
    below = _auto(client, "newyork", start, end, max_points=readings - 1)
    assert below["interval"] == "1m" and below["point_count"] <= 21


def test_auto_resolution_boundary_of_minutes(client: TestClient, raw: psycopg.Connection) -> None:
    start, end = "2025-11-02T00:00:00Z", "2025-11-02T06:00:00Z"
    row = raw.execute(
        """SELECT count(DISTINCT date_trunc('minute', time)) FROM activities_heart_intraday
           WHERE user_id = 'kolkata' AND time >= %s AND time < %s""",
        (start, end),
    ).fetchone()
    assert row is not None
    minutes = int(row[0])
    assert _auto(client, "kolkata", start, end, max_points=minutes)["interval"] == "1m"
    coarser = _auto(client, "kolkata", start, end, max_points=minutes - 1)
    assert coarser["interval"] == "1h" and coarser["point_count"] == 6


def test_explicit_interval_is_served_from_its_own_level(client: TestClient, raw: psycopg.Connection) -> None:
    params = {"user_id": "kolkata", "start_date": "2025-03-30T06:00:00Z", "end_date": "2025-03-30T07:00:00Z"}
    minutes = _get(client, "/timeseries", interval="1m", **params)
    assert minutes["metadata"]["query_info"]["table_used"] == "activities_heart_intraday_1m"
    expected = raw.execute(
        """SELECT bucket, round(avg_bpm::numeric, 2)::float, min_bpm, max_bpm, sample_count
           FROM activities_heart_intraday_1m
           WHERE user_id = 'kolkata' AND bucket >= '2025-03-30 06:00Z' AND bucket < '2025-03-30 07:00Z'
           ORDER BY bucket"""
    ).fetchall()
    assert [(_instant(p["timestamp"]), p["value"], p["min"], p["max"], p["count"]) for p in minutes["data"]] == expected
    readings = _get(client, "/timeseries", interval="1s", max_points=20_000, **params)
    assert readings["metadata"]["query_info"]["table_used"] == "activities_heart_intraday"
    assert len(readings["data"]) == _raw_count(raw, "kolkata", params["start_date"], params["end_date"])


def test_explicit_interval_over_max_points_is_refused_with_the_count(client: TestClient) -> None:
    detail = _error(
        client,
        "/timeseries",
        422,
        user_id="berlin",
        start_date="2025-03-29",
        end_date="2025-04-01",
        interval="1m",
    )
    assert detail.startswith("interval: interval=1m: about ")
    assert "max_points=2,000" in detail
    count = int(detail.split("about ")[1].split(" points")[0].replace(",", ""))
    assert count > 2000


# --- local days -------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", sorted(USERS))
def test_daily_points_are_local_calendar_days(client: TestClient, raw: psycopg.Connection, user_id: str) -> None:
    zone = ZoneInfo(USERS[user_id])
    body = _get(
        client,
        "/timeseries",
        user_id=user_id,
        start_date=datetime(2025, 3, 1, tzinfo=zone).isoformat(),
        end_date=datetime(2025, 12, 1, tzinfo=zone).isoformat(),
        interval="1d",
    )
    expected = raw.execute(
        """SELECT (time AT TIME ZONE %(tz)s)::date AS day, round(avg(bpm), 2)::float, min(bpm), max(bpm), count(*)
           FROM activities_heart_intraday WHERE user_id = %(user)s GROUP BY 1 ORDER BY 1""",
        {"tz": USERS[user_id], "user": user_id},
    ).fetchall()
    assert len(expected) == len(DAYS)
    got = []
    for point in body["data"]:
        stamp = _instant(point["timestamp"])
        local = datetime.combine(stamp.date(), datetime.min.time(), zone)
        assert stamp.utcoffset() == local.utcoffset(), point["timestamp"]  # the local offset of that midnight
        assert stamp.time() == datetime.min.time()
        got.append((stamp.date(), point["value"], point["min"], point["max"], point["count"]))
    assert got == expected


def test_daily_points_carry_the_offset_of_each_day(client: TestClient) -> None:
    stamps = {
        point["timestamp"]
        for point in _get(
            client, "/timeseries", user_id="berlin", start_date="2025-03-29", end_date="2025-04-01", interval="1d"
        )["data"]
    }
    assert {"2025-03-29T00:00:00+01:00", "2025-03-30T00:00:00+01:00", "2025-03-31T00:00:00+02:00"} <= stamps
    kathmandu = _get(
        client, "/timeseries", user_id="kathmandu", start_date="2025-03-09", end_date="2025-03-10", interval="1d"
    )["data"]
    assert [p["timestamp"] for p in kathmandu] == ["2025-03-09T00:00:00+05:45", "2025-03-10T00:00:00+05:45"]


# --- summary ----------------------------------------------------------------------------------------


def test_summary_per_local_day(client: TestClient, raw: psycopg.Connection) -> None:
    body = _get(client, "/summary", user_id="newyork", start_date="2025-11-01", end_date="2025-11-03")
    assert body["user_id"] == "newyork" and body["timezone"] == "America/New_York"
    assert [d["date"] for d in body["data"]] == ["2025-11-01", "2025-11-02", "2025-11-03"]
    stored = {
        row[0].isoformat(): row[1:]
        for row in raw.execute(
            """SELECT s.date, s.resting_heart_rate, s.heart_rate_zones, p.covered_seconds::float / p.day_seconds
               FROM activities_heart_summary s JOIN partition_loads p
                 ON p.user_id = s.user_id AND p.date = s.date AND p.payload = 'intraday'
               WHERE s.user_id = 'newyork'"""
        )
    }
    for day in body["data"]:
        resting, zones, coverage = stored[day["date"]]
        assert day["resting_heart_rate"] == resting
        assert [(z["name"], z["min"], z["max"], z["minutes"]) for z in day["zones"]] == [
            (z["name"], z["min"], z["max"], z["minutes"]) for z in zones
        ]
        assert day["coverage"] == pytest.approx(coverage, abs=1e-4)
        assert day["rows_quarantined"] == 0
    # The fall-back day has 25 hours.
    fall_back = raw.execute(
        "SELECT day_seconds FROM partition_loads WHERE user_id = 'newyork' AND date = '2025-11-02' "
        "AND payload = 'intraday'"
    )
    assert fall_back.fetchone() == (25 * 3600,)


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"start_date": "yesterday", "end_date": "2025-03-10"}, "start_date"),
        ({"start_date": "2025-03-09", "end_date": "2025-13-40"}, "end_date"),
        ({"start_date": "2025-03-10", "end_date": "2025-03-10"}, "end_date"),
        ({"start_date": "2025-03-11", "end_date": "2025-03-10"}, "end_date"),
        ({"start_date": "2025-03-09", "end_date": "2025-03-10", "interval": "5m"}, "interval"),
        ({"start_date": "2025-03-09", "end_date": "2025-03-10", "max_points": 0}, "max_points"),
        ({"start_date": "2025-03-09", "end_date": "2025-03-10", "max_points": 20_001}, "max_points"),
        ({"start_date": "2025-03-09", "end_date": "2025-03-10", "max_points": "many"}, "max_points"),
        ({"end_date": "2025-03-10"}, "start_date"),
        ({"start_date": "2015-01-01", "end_date": "2025-12-01", "max_points": 5}, "max_points"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(client: TestClient, params: dict[str, Any], named: str) -> None:
    assert _error(client, "/timeseries", 422, user_id="berlin", **params).startswith(f"{named}:")


def test_more_than_20_users_is_422(client: TestClient) -> None:
    ids = ",".join(f"user{n}" for n in range(21))
    detail = _error(client, "/multi-user/timeseries", 422, user_ids=ids, start_date="2025-03-09", end_date="2025-03-10")
    assert detail.startswith("user_ids:") and "at most 20" in detail


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/users/nobody", {}),
        ("/timeseries", {"user_id": "nobody", "start_date": "2025-03-09", "end_date": "2025-03-10"}),
        ("/multi-user/timeseries", {"user_ids": "berlin,nobody", "start_date": "2025-03-09", "end_date": "2025-03-10"}),
        ("/summary", {"user_id": "nobody", "start_date": "2025-03-09", "end_date": "2025-03-10"}),
    ],
)
def test_unknown_user_is_404(client: TestClient, path: str, params: dict[str, Any]) -> None:
    assert _error(client, path, 404, **params) == "user_id: no user 'nobody'"


def test_malformed_user_ids_are_422(client: TestClient) -> None:
    assert _error(client, "/users/Robert'); DROP TABLE users;--", 422).startswith("user_id:")
    assert _error(client, "/summary", 422, user_id="x y", start_date="2025-03-09", end_date="x").startswith("user_id:")


# --- access control ---------------------------------------------------------------------------------


@pytest.fixture
def keyed(loaded_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An app with keys on, and keys: 'berlin' (that user only), 'all', 'metrics', 'revoked'."""
    with psycopg.connect(loaded_url, autocommit=True) as conn:
        registered = set(USERS)
        keys = {
            "berlin": create_key(conn, name="t", user_ids=["berlin"], registered=registered)[1],
            "all": create_key(conn, name="t", user_ids=[], all_users=True, registered=registered)[1],
            "metrics": create_key(conn, name="t", user_ids=[], metrics=True, registered=registered)[1],
        }
        revoked, keys["revoked"] = create_key(conn, name="t", user_ids=["berlin"], registered=registered)
        revoke_key(conn, revoked.id)
    settings = _settings(tmp_path, api_auth="keys", api_metrics_key="hr_from_the_environment")
    with TestClient(create_app(settings, database_url=loaded_url), base_url=LOOPBACK) as test_client:
        yield test_client, keys


def _as(client: TestClient, key: str | None, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(path, params=params, headers=headers)


def test_every_endpoint_but_health_needs_a_key(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = keyed
    for key in (None, "hr_not-a-key", keys["revoked"]):
        for path in ("/", "/users", "/users/berlin", "/metrics"):
            response = _as(client, key, path)
            assert response.status_code == 401, (key, path)
            assert response.headers["www-authenticate"] == "Bearer"
    assert _as(client, None, "/health").status_code == 200


def test_a_key_sees_only_its_users(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = keyed
    key = keys["berlin"]
    assert _as(client, key, "/users").json()["users"] == ["berlin"]
    assert _as(client, key, "/users/berlin").status_code == 200
    window = {"start_date": "2025-03-09", "end_date": "2025-03-10"}
    assert _as(client, key, "/timeseries", user_id="berlin", **window).status_code == 200
    for path, params in [
        ("/users/newyork", {}),
        ("/timeseries", {"user_id": "newyork", **window}),
        ("/multi-user/timeseries", {"user_ids": "berlin,newyork", **window}),
        ("/summary", {"user_id": "newyork", **window}),
    ]:
        other = _as(client, key, path, **params)
        unknown = _as(
            client,
            keys["all"],
            path.replace("newyork", "nobody"),
            **{k: v.replace("newyork", "nobody") for k, v in params.items()},
        )
        assert other.status_code == unknown.status_code == 404
        assert other.json()["detail"].replace("newyork", "nobody") == unknown.json()["detail"]
    assert _as(client, key, "/metrics").status_code == 403


def test_metrics_need_an_all_or_metrics_key(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = keyed
    for key in (keys["all"], keys["metrics"], "hr_from_the_environment"):
        response = _as(client, key, "/metrics")
        assert response.status_code == 200, key
        assert "hr_api_requests_total" in response.text
    # A metrics key reads no user's data.
    assert _as(client, keys["metrics"], "/users").json()["users"] == []
    assert _as(client, "hr_from_the_environment", "/users/berlin").status_code == 404


# --- CORS and metrics -------------------------------------------------------------------------------


def test_cors_allows_only_the_configured_origins(loaded_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, api_cors_origins="https://dash.example.org")
    with TestClient(create_app(settings, database_url=loaded_url), base_url=LOOPBACK) as client:
        allowed = client.get("/users", headers={"Origin": "https://dash.example.org"})
        assert allowed.headers["access-control-allow-origin"] == "https://dash.example.org"
        assert "access-control-allow-credentials" not in allowed.headers
        other = client.get("/users", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
        preflight = client.options(
            "/users",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers


def test_no_cors_headers_without_configured_origins(client: TestClient) -> None:
    assert "access-control-allow-origin" not in client.get("/users", headers={"Origin": "https://a.example"}).headers


def test_a_wildcard_origin_is_refused() -> None:
    with pytest.raises(ValueError, match="origins by name"):
        HrSettings(api_cors_origins="*")


def test_metrics_series(client: TestClient, raw: psycopg.Connection) -> None:
    client.get("/users")
    client.get("/users/berlin")
    client.get("/users/nobody")
    text = client.get("/metrics").text
    assert 'hr_api_requests_total{method="GET",route="/users",status="200"} 1.0' in text
    assert 'hr_api_requests_total{method="GET",route="/users/{user_id}",status="404"} 1.0' in text
    assert 'hr_api_request_duration_seconds_bucket{le="0.5",method="GET",route="/users"}' in text
    assert "hr_api_database_up 1.0" in text
    assert 'hr_api_db_pool_connections{state="in_use"}' in text and "hr_api_db_pool_max_connections 8.0" in text
    for user_id in USERS:
        newest = raw.execute("SELECT max(time) FROM activities_heart_intraday WHERE user_id = %s", (user_id,))
        row = newest.fetchone()
        assert row is not None
        assert f'hr_user_newest_reading_timestamp_seconds{{user_id="{user_id}"}} {row[0].timestamp():.9e}' in text
        assert f'hr_user_active{{user_id="{user_id}"}} 1.0' in text


def test_health_reports_the_schema(client: TestClient) -> None:
    body = _get(client, "/health")
    assert body["status"] == "healthy" and body["database_connected"] is True
    assert body["mode"] == "postgres" and body["schema_version"] >= 6


# --- the database going away and coming back ----------------------------------------------------------


def _eventually_healthy(client: TestClient, seconds: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        response = client.get("/health")
        if response.status_code == 200 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return dict(response.json())
        time.sleep(0.5)


def _assert_unavailable(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy" and health.json()["database_connected"] is False
    users = client.get("/users")
    assert users.status_code == 503 and users.json() == {"detail": "database unavailable"}


def test_health_follows_the_database_without_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "postgres"
    url = localdb.ensure_database(localdb.ensure_running(root), "hr")
    migrate(url)
    try:
        with TestClient(create_app(_settings(tmp_path), database_url=url), base_url=LOOPBACK) as client:
            assert client.get("/health").status_code == 200
            localdb.stop(root)
            _assert_unavailable(client)
            localdb.ensure_running(root)
            assert _eventually_healthy(client)["schema_version"] >= 6
            assert client.get("/users").status_code == 200
    finally:
        localdb.stop(root)


def test_the_api_may_start_before_its_database(tmp_path: Path) -> None:
    root = tmp_path / "postgres"
    url = localdb.ensure_database(localdb.ensure_running(root), "hr")
    migrate(url)
    localdb.stop(root)
    try:
        with TestClient(create_app(_settings(tmp_path), database_url=url), base_url=LOOPBACK) as client:
            _assert_unavailable(client)
            localdb.ensure_running(root)
            _eventually_healthy(client)
            assert client.get("/users").json()["users"] == []
    finally:
        localdb.stop(root)


@contextmanager
def _hr_api(loaded_url: str, tmp_path: Path, *args: str) -> Iterator[str]:
    """``hr api`` on a free loopback port, as a real server process; its base URL."""
    port = localdb.free_port()
    env = {**os.environ, "HR_DATABASE_URL": loaded_url, "HR_API_AUTH": "off", "HR_HOME": str(tmp_path / "hr")}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "hr"), "api", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "hr api did not start"
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_hr_api_serves_over_http(loaded_url: str, tmp_path: Path) -> None:
    with _hr_api(loaded_url, tmp_path) as base:
        assert httpx.get(f"{base}/health").json()["status"] == "healthy"
        body = httpx.get(
            f"{base}/multi-user/timeseries",
            params={"user_ids": "berlin,kolkata", "start_date": "2025-03-30", "end_date": "2025-03-31"},
        ).json()
        assert [s["user_id"] for s in body["data"]] == ["berlin", "kolkata"]
        assert body["metadata"]["query_info"]["interval"] == "1h"


def test_several_workers_add_up_their_request_metrics(loaded_url: str, tmp_path: Path) -> None:
    requests = 40
    with _hr_api(loaded_url, tmp_path, "--workers", "2") as base, httpx.Client() as client:
        for _ in range(requests):
            # A new connection each, so that both workers take some.
            assert client.get(f"{base}/users", headers={"Connection": "close"}).status_code == 200
        # Whichever worker answers the scrape counts every worker's requests.
        scrapes = [client.get(f"{base}/metrics", headers={"Connection": "close"}).text for _ in range(4)]
    for text in scrapes:
        [line] = [x for x in text.splitlines() if x.startswith('hr_api_requests_total{method="GET",route="/users"')]
        assert float(line.rsplit(" ", 1)[1]) == requests


def test_the_dashboard_is_served_as_soon_as_it_is_built_without_a_restart(loaded_url: str, tmp_path: Path) -> None:
    web_dir = tmp_path / "dist"
    settings = _settings(tmp_path, api_web_dir=web_dir)
    with TestClient(create_app(settings, database_url=loaded_url), base_url=LOOPBACK) as client:
        missing = client.get("/app/")
        assert missing.status_code == 404
        assert missing.json()["detail"].startswith(f"the dashboard is not built ({web_dir} has no index.html)")
        web_dir.mkdir()
        (web_dir / "index.html").write_text("<!doctype html><title>hr-pipeline</title>")
        (web_dir / "app.js").write_text("console.log(1)")
        assert client.get("/app/").text == "<!doctype html><title>hr-pipeline</title>"
        assert client.get("/app/app.js").text == "console.log(1)"
        # A path that is not a file is the app's own route: index.html.
        assert client.get("/app/study").text.startswith("<!doctype html>")
        assert client.get("/app", follow_redirects=False).headers["location"] == "/app/"
