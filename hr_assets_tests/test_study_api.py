"""The /study routes against a real PostgreSQL: the compliance grid (JSON and CSV), the participant list, the
cohort lines, their errors, and what cohort-scoped keys see on every endpoint."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hr_api.main import create_app
from hr_assets.settings import HrSettings
from hr_assets.study import StudyRules, participant_statuses
from hr_assets.warehouse.api_keys import ApiKeyError, create_key
from hr_assets.warehouse.study import Scope
from hr_assets_tests.study_data import register, wear

LOOPBACK = "http://127.0.0.1:8000"
TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)
START = YESTERDAY - timedelta(days=9)  # a 10-day range ending yesterday


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.fixture
def study(conn: psycopg.Connection) -> psycopg.Connection:
    """p1, p2 in site-a, p3 in site-b, p4 without a cohort, r1 retired in site-a; worn minutes in START..YESTERDAY."""
    register(conn, "p1", start=START, cohort="site-a")
    register(conn, "p2", start=START + timedelta(days=5), cohort="site-a")
    register(conn, "p3", start=START, cohort="site-b")
    register(conn, "p4", start=START)
    register(conn, "r1", start=START, cohort="site-a", retired_at=datetime.combine(START, datetime.min.time(), UTC))
    for n, day in enumerate(_days(START, YESTERDAY)):
        wear(conn, "p1", day, 600 if n % 2 == 0 else 599)  # valid, not valid, ... (the rule's edge)
        if day >= START + timedelta(days=5):
            wear(conn, "p2", day, 1440)
        if n < 3:
            wear(conn, "p3", day, 0)  # loaded, nothing worn
    return conn


def _client(url: str, tmp_path: Path, **overrides: Any) -> TestClient:
    values: dict[str, Any] = {"api_auth": "off", "api_web_dir": tmp_path / "no-dashboard", **overrides}
    return TestClient(create_app(HrSettings(**values), database_url=url), base_url=LOOPBACK)


@pytest.fixture
def client(study: psycopg.Connection, db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with _client(db_url, tmp_path) as test_client:
        yield test_client


def _get(client: TestClient, path: str, key: str | None = None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_grid_aligns_worn_minutes_and_the_valid_rule_with_the_days(client: TestClient) -> None:
    body = _get(client, "/study/compliance", start=START.isoformat(), end=YESTERDAY.isoformat())
    assert body["start"] == START.isoformat() and body["end"] == YESTERDAY.isoformat()
    assert body["days"] == [d.isoformat() for d in _days(START, YESTERDAY)]
    assert body["valid_day_minutes"] == 600
    rows = {p["user_id"]: p for p in body["participants"]}
    assert [p["user_id"] for p in body["participants"]] == ["p1", "p2", "p3", "p4", "r1"]
    assert rows["p1"]["worn_minutes"] == [600, 599] * 5
    assert rows["p1"]["valid"] == [True, False] * 5
    assert rows["p2"]["worn_minutes"] == [None] * 5 + [1440] * 5
    assert rows["p2"]["valid"] == [None] * 5 + [True] * 5
    assert rows["p3"]["worn_minutes"] == [0, 0, 0] + [None] * 7
    assert rows["p3"]["valid"] == [False, False, False] + [None] * 7
    assert rows["p2"]["first_due_day"] == (START + timedelta(days=5)).isoformat()
    assert rows["p1"]["last_due_day"] == YESTERDAY.isoformat()
    assert rows["p1"]["cohort"] == "site-a" and rows["p4"]["cohort"] is None
    # Retired on its start date: no day was ever due.
    assert rows["r1"]["last_due_day"] is None


def test_the_valid_rule_is_read_from_the_setting(study: psycopg.Connection, db_url: str, tmp_path: Path) -> None:
    with _client(db_url, tmp_path, valid_day_minutes=599) as client:
        body = _get(client, "/study/compliance", start=START.isoformat(), end=YESTERDAY.isoformat(), cohort="site-a")
    assert body["valid_day_minutes"] == 599
    assert body["participants"][0]["valid"] == [True] * 10


def test_the_default_range_is_the_last_30_complete_days(client: TestClient) -> None:
    body = _get(client, "/study/compliance")
    assert body["end"] == YESTERDAY.isoformat()
    assert body["start"] == (YESTERDAY - timedelta(days=29)).isoformat()
    assert len(body["days"]) == 30


def test_the_grid_as_csv_has_a_row_per_participant_and_day(client: TestClient) -> None:
    response = client.get(
        "/study/compliance", params={"start": START.isoformat(), "end": YESTERDAY.isoformat(), "format": "csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="compliance_{START}_{YESTERDAY}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["user_id", "cohort", "day", "worn_minutes", "valid", "first_reading", "last_reading"]
    assert len(rows) == 5 * 10
    first = rows[0]
    start_instant = datetime.combine(START, datetime.min.time(), UTC)
    assert first == {
        "user_id": "p1",
        "cohort": "site-a",
        "day": START.isoformat(),
        "worn_minutes": "600",
        "valid": "true",
        "first_reading": start_instant.isoformat().replace("+00:00", "Z"),
        "last_reading": (start_instant + timedelta(minutes=599)).isoformat().replace("+00:00", "Z"),
    }
    empty = next(r for r in rows if r["user_id"] == "p4")
    assert empty == {
        "user_id": "p4",
        "cohort": "",
        "day": START.isoformat(),
        "worn_minutes": "",
        "valid": "",
        "first_reading": "",
        "last_reading": "",
    }
    zero = next(r for r in rows if r["user_id"] == "p3")
    assert (zero["worn_minutes"], zero["valid"], zero["first_reading"]) == ("0", "false", "")


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"start": "2026-01-10", "end": "2026-01-09"}, "end: 2026-01-09 is before start 2026-01-10"),
        ({"start": "2023-01-01", "end": "2026-01-05"}, "end: at most 1100 days per request (1101 asked for)"),
        ({"start": "2026-13-01", "end": "2026-01-05"}, "start: '2026-13-01' is not a date (2025-06-01)"),
        ({"cohort": "Site A"}, "cohort: 'Site A' is not a cohort name (1 to 64 of a-z, 0-9, '_' and '-')"),
        ({"format": "xlsx"}, "format: Input should be 'json' or 'csv'"),
        ({"strat": "2026-01-01"}, "strat: not a parameter of /study/compliance (it takes cohort, end, format, start)"),
        ({"cohort": ["site-a", "site-b"]}, "cohort: given more than once"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(
    client: TestClient, params: dict[str, str | list[str]], detail: str
) -> None:
    response = client.get("/study/compliance", params=params)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_1100_days_are_allowed(client: TestClient) -> None:
    body = _get(client, "/study/compliance", start="2023-01-01", end="2026-01-04")
    assert len(body["days"]) == 1100


def test_the_participant_list_is_the_status_of_each_participant(client: TestClient, study: psycopg.Connection) -> None:
    body = _get(client, "/study/participants")
    assert (body["valid_day_minutes"], body["flag_no_valid_day_days"], body["flag_no_data_days"]) == (600, 3, 3)
    as_of = datetime.fromisoformat(body["as_of"])
    assert abs((datetime.now(UTC) - as_of).total_seconds()) < 60
    assert body["as_of"].endswith("Z")
    expected = participant_statuses(study, Scope(True, frozenset()), StudyRules(600, 3, 3), as_of)
    assert [p["user_id"] for p in body["participants"]] == [s.user_id for s in expected]
    rows = {p["user_id"]: p for p in body["participants"]}
    assert rows["p1"] == {
        "user_id": "p1",
        "cohort": "site-a",
        "source": "simulated",
        "timezone": "UTC",
        "retired": False,
        "connection": "not_applicable",
        "connection_since": None,
        "newest_reading": (datetime.combine(YESTERDAY, datetime.min.time(), UTC) + timedelta(minutes=598))
        .isoformat()
        .replace("+00:00", "Z"),
        "days_since_reading": 1,
        "valid_days_7": 3,  # of the last 7 days (YESTERDAY-6 .. YESTERDAY) the even ones from START are valid
        "valid_days_30": 5,
        "valid_days_total": 5,
        "flags": [],
    }
    assert rows["p3"]["flags"] == ["no_valid_day", "no_data"]
    assert rows["p4"]["flags"] == ["no_valid_day", "no_data"] and rows["p4"]["newest_reading"] is None
    assert rows["r1"]["connection"] == "withdrawn" and rows["r1"]["retired"] is True and rows["r1"]["flags"] == []


def test_the_cohort_lines_sum_up_the_participants(client: TestClient) -> None:
    body = _get(client, "/study/cohorts")
    lines = {c["cohort"]: c for c in body["cohorts"]}
    assert [c["cohort"] for c in body["cohorts"]] == ["site-a", "site-b", None]
    assert (lines["site-a"]["participants"], lines["site-a"]["flagged"]) == (3, 0)
    # p1: 3 valid days of the last 7, p2: 5, r1: none.
    assert lines["site-a"]["valid_days_7_mean"] == round((3 + 5 + 0) / 3, 2)
    assert (lines["site-b"]["participants"], lines["site-b"]["flagged"]) == (1, 1)
    assert lines[None]["newest_reading"] is None
    only = _get(client, "/study/cohorts", cohort="site-b")
    assert [c["cohort"] for c in only["cohorts"]] == ["site-b"]


def test_every_study_route_filters_by_cohort(client: TestClient) -> None:
    for path in ("/study/compliance", "/study/participants"):
        body = _get(client, path, cohort="site-a")
        assert [p["user_id"] for p in body["participants"]] == ["p1", "p2", "r1"]
        assert _get(client, path, cohort="nobody-here")["participants"] == []


def test_the_schema_documents_the_study_routes_with_examples(client: TestClient) -> None:
    schema = _get(client, "/openapi.json")
    for path, model in (
        ("/study/compliance", "Compliance"),
        ("/study/participants", "Participants"),
        ("/study/cohorts", "Cohorts"),
    ):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]
        assert ok["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
        assert schema["components"]["schemas"][model]["examples"]
    assert "text/csv" in schema["paths"]["/study/compliance"]["get"]["responses"]["200"]["content"]


# --- cohort-scoped keys ---------------------------------------------------------------------------


@pytest.fixture
def keyed(study: psycopg.Connection, db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    registered = {"p1", "p2", "p3", "p4", "r1"}
    keys = {
        "site-a": create_key(study, name="site a", user_ids=[], cohort="site-a", registered=registered)[1],
        "all": create_key(study, name="all", user_ids=[], all_users=True, registered=registered)[1],
        "p3": create_key(study, name="p3", user_ids=["p3"], registered=registered)[1],
    }
    with _client(db_url, tmp_path, api_auth="keys") as client:
        yield client, keys


def _readable(client: TestClient, key: str) -> dict[str, list[str]]:
    """The participants a key sees on each listing route."""
    day = {"start": START.isoformat(), "end": YESTERDAY.isoformat()}
    seen = {
        "/users": _get(client, "/users", key)["users"],
        "/study/compliance": [p["user_id"] for p in _get(client, "/study/compliance", key, **day)["participants"]],
        "/study/participants": [p["user_id"] for p in _get(client, "/study/participants", key)["participants"]],
    }
    seen["/study/cohorts"] = [c["cohort"] for c in _get(client, "/study/cohorts", key)["cohorts"]]
    return seen


def _one_user_status(client: TestClient, key: str, user_id: str) -> dict[str, int]:
    """The status of each route that names one participant, for ``user_id``."""
    headers = {"Authorization": f"Bearer {key}"}
    day = {"start_date": START.isoformat(), "end_date": YESTERDAY.isoformat()}
    answers = {
        "/users/{id}": client.get(f"/users/{user_id}", headers=headers),
        "/summary": client.get("/summary", params={"user_id": user_id, **day}, headers=headers),
        "/timeseries": client.get("/timeseries", params={"user_id": user_id, **day}, headers=headers),
        "/multi-user/timeseries": client.get(
            "/multi-user/timeseries", params={"user_ids": user_id, **day}, headers=headers
        ),
    }
    return {route: response.status_code for route, response in answers.items()}


def test_a_cohort_key_reads_exactly_its_cohort_on_every_endpoint(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = keyed
    seen = _readable(client, keys["site-a"])
    for route in ("/users", "/study/compliance", "/study/participants"):
        assert seen[route] == ["p1", "p2", "r1"], route
    assert seen["/study/cohorts"] == ["site-a"]
    assert set(_one_user_status(client, keys["site-a"], "p1").values()) == {200}
    assert set(_one_user_status(client, keys["site-a"], "r1").values()) == {200}  # retired, still in the cohort
    outside = _one_user_status(client, keys["site-a"], "p3")
    assert outside == _one_user_status(client, keys["site-a"], "nobody") == dict.fromkeys(outside, 404)
    # Asking for another cohort by name shows nothing, not another cohort's participants.
    assert _get(client, "/study/participants", keys["site-a"], cohort="site-b")["participants"] == []


def test_a_cohort_key_follows_participants_moved_added_and_retired(
    keyed: tuple[TestClient, dict[str, str]], study: psycopg.Connection
) -> None:
    client, keys = keyed
    assert _readable(client, keys["site-a"])["/users"] == ["p1", "p2", "r1"]
    study.execute("UPDATE users SET cohort = 'site-b' WHERE id = 'p2'")
    study.execute("UPDATE users SET cohort = 'site-a' WHERE id = 'p3'")
    register(study, "p5", start=START, cohort="site-a")
    study.execute("UPDATE users SET retired_at = now() WHERE id = 'p1'")
    seen = _readable(client, keys["site-a"])
    assert seen["/users"] == seen["/study/participants"] == seen["/study/compliance"] == ["p1", "p3", "p5", "r1"]
    assert _one_user_status(client, keys["site-a"], "p2") == dict.fromkeys(
        _one_user_status(client, keys["all"], "p2"), 404
    )
    assert set(_one_user_status(client, keys["site-a"], "p3").values()) == {200}


def test_user_and_all_keys_keep_their_meaning(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = keyed
    assert _readable(client, keys["p3"])["/study/participants"] == ["p3"]
    assert _readable(client, keys["all"])["/study/participants"] == ["p1", "p2", "p3", "p4", "r1"]


def test_a_key_for_a_cohort_and_users_at_once_is_refused(study: psycopg.Connection) -> None:
    with pytest.raises(ApiKeyError, match="not several"):
        create_key(study, name="x", user_ids=["p1"], cohort="site-a", registered={"p1"})
    with pytest.raises(ValueError, match="invalid cohort 'Site A'"):
        create_key(study, name="x", user_ids=[], cohort="Site A", registered=set())


def test_the_metrics_publish_each_flagged_participant_and_the_count_per_cohort_and_flag(client: TestClient) -> None:
    text = client.get("/metrics").text
    flags = sorted(line for line in text.splitlines() if line.startswith("hr_study_participant_flag{"))
    assert flags == [
        'hr_study_participant_flag{cohort="",flag="no_data",user_id="p4"} 1.0',
        'hr_study_participant_flag{cohort="",flag="no_valid_day",user_id="p4"} 1.0',
        'hr_study_participant_flag{cohort="site-b",flag="no_data",user_id="p3"} 1.0',
        'hr_study_participant_flag{cohort="site-b",flag="no_valid_day",user_id="p3"} 1.0',
    ]
    counts = {line for line in text.splitlines() if line.startswith("hr_study_flagged_participants{")}
    assert 'hr_study_flagged_participants{cohort="site-a",flag="no_valid_day"} 0.0' in counts
    assert 'hr_study_flagged_participants{cohort="site-b",flag="no_valid_day"} 1.0' in counts
    assert 'hr_study_flagged_participants{cohort="",flag="no_data"} 1.0' in counts
    assert len(counts) == 3 * 3  # three cohorts (none included) x three flags
