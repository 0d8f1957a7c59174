"""The audit log against a real PostgreSQL: a row for every request of every data route (key, route, participants,
range, status), none for the others, and a data answer withheld (503) when its row cannot be written."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hr_api.audit import NOT_AUDITED
from hr_api.main import create_app
from hr_assets.settings import HrSettings
from hr_assets.warehouse.api_keys import create_key
from hr_assets_tests.conftest import TEMPLATE, create_database, drop_database
from hr_assets_tests.study_data import register, wear

LOOPBACK = "http://127.0.0.1:8000"
DAY = date(2026, 1, 5)
RANGE = {"start_date": "2026-01-05", "end_date": "2026-01-06"}
STUDY_RANGE = {"start": "2026-01-05", "end": "2026-01-06"}
AUDIT_ROWS = "SELECT key_id, route, participants, range_start, range_end, status FROM api_audit_log ORDER BY id"
# A trigger that refuses every audit row, as a full disk or a lost privilege would.
REFUSE_AUDIT = """
CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit row refused'; END $$;
CREATE TRIGGER refuse_audit BEFORE INSERT ON api_audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();
"""


@pytest.fixture
def study(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """p1, p2 in site-a, p3 in site-b, each with a worn day; keys by name: (id, secret)."""
    for user_id, cohort in (("p1", "site-a"), ("p2", "site-a"), ("p3", "site-b")):
        register(conn, user_id, start=DAY, cohort=cohort)
        wear(conn, user_id, DAY, 700)
    registered = {"p1", "p2", "p3"}
    made = {
        "all": create_key(conn, name="all", user_ids=[], all_users=True, registered=registered),
        "site-a": create_key(conn, name="site a", user_ids=[], cohort="site-a", registered=registered),
    }
    return {name: (key.id, secret) for name, (key, secret) in made.items()}


def _client(url: str, tmp_path: Path, **overrides: Any) -> TestClient:
    values: dict[str, Any] = {"api_auth": "keys", "api_web_dir": tmp_path / "no-dashboard", **overrides}
    return TestClient(create_app(HrSettings(**values), database_url=url), base_url=LOOPBACK)


@pytest.fixture
def client(study: dict[str, tuple[int, str]], db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with _client(db_url, tmp_path) as test_client:
        yield test_client


def _get(client: TestClient, secret: str, path: str, **params: str) -> Any:
    return client.get(path, params=params, headers={"Authorization": f"Bearer {secret}"})


# (path, query, participants, range) of a request to each data route, for the --all key.
DATA_REQUESTS = [
    ("/timeseries", {"user_id": "p1", **RANGE}, ["p1"], RANGE),
    ("/multi-user/timeseries", {"user_ids": "p2,p1,p2", **RANGE}, ["p2", "p1"], RANGE),
    ("/summary", {"user_id": "p3", **RANGE}, ["p3"], RANGE),
    ("/users/p2", {}, ["p2"], None),
    ("/study/compliance", STUDY_RANGE, ["p1", "p2", "p3"], STUDY_RANGE),
    ("/study/compliance", {**STUDY_RANGE, "format": "csv", "cohort": "site-b"}, ["p3"], STUDY_RANGE),
    ("/study/participants", {"cohort": "site-a"}, ["p1", "p2"], None),
    ("/study/cohorts", {}, ["p1", "p2", "p3"], None),
    ("/export/p1", {"level": "day", "format": "csv", **RANGE}, ["p1"], RANGE),
]
# The routes that name or list participants, as the schema has them: each must be in DATA_REQUESTS.
PARTICIPANT_PARAMETERS = {"user_id", "user_ids"}


def test_every_route_that_reads_participants_is_in_the_audit_walk(tmp_path: Path) -> None:
    schema = create_app(HrSettings(api_auth="keys", api_web_dir=tmp_path)).openapi()
    reading = {
        path
        for path, operations in schema["paths"].items()
        for operation in operations.values()
        if path.startswith("/study/")
        or PARTICIPANT_PARAMETERS & {parameter["name"] for parameter in operation.get("parameters", [])}
    }
    walked = {
        "/users/{user_id}" if p.startswith("/users/") else "/export/{user_id}" if p.startswith("/export/") else p
        for p, *_ in DATA_REQUESTS
    }
    assert reading == walked


def test_every_data_route_writes_an_audit_row(
    client: TestClient, conn: psycopg.Connection, study: dict[str, tuple[int, str]]
) -> None:
    key_id, secret = study["all"]
    expected = []
    for path, query, participants, window in DATA_REQUESTS:
        response = _get(client, secret, path, **query)
        assert response.status_code == 200, (path, response.text)
        route = next((r for r in ("/users/{user_id}", "/export/{user_id}") if path.startswith(r.split("{")[0])), path)
        start, end = list(window.values()) if window else [None, None]
        expected.append((key_id, route, participants, start, end, 200))
    assert conn.execute(AUDIT_ROWS).fetchall() == expected


def test_routes_without_participant_data_write_none(
    client: TestClient, conn: psycopg.Connection, study: dict[str, tuple[int, str]]
) -> None:
    _, secret = study["all"]
    for path in ("/", "/health", "/users", "/openapi.json"):
        assert _get(client, secret, path).status_code == 200, path
    assert _get(client, "hr_unknown", "/timeseries", user_id="p1", **RANGE).status_code == 401
    assert conn.execute(AUDIT_ROWS).fetchall() == []


def test_refused_and_invalid_requests_are_audited_with_their_status(
    client: TestClient, conn: psycopg.Connection, study: dict[str, tuple[int, str]]
) -> None:
    key_id, secret = study["site-a"]
    assert _get(client, secret, "/timeseries", user_id="p3", **RANGE).status_code == 404  # outside the cohort
    assert _get(client, secret, "/summary", user_id="p1", start_date="2026-01-05").status_code == 422
    assert _get(client, secret, "/study/compliance", start="2026-01-09", end="2026-01-01").status_code == 422
    # Values the API refuses are not copied into the log.
    assert (
        _get(client, secret, "/timeseries", user_id="p1'--", start_date="x", end_date="2026-01-06").status_code == 422
    )
    assert conn.execute(AUDIT_ROWS).fetchall() == [
        (key_id, "/timeseries", ["p3"], RANGE["start_date"], RANGE["end_date"], 404),
        (key_id, "/summary", ["p1"], "2026-01-05", None, 422),
        (key_id, "/study/compliance", [], "2026-01-09", "2026-01-01", 422),
        (key_id, "/timeseries", [], None, "2026-01-06", 422),
    ]


def test_a_data_answer_that_cannot_be_audited_is_withheld(
    client: TestClient, conn: psycopg.Connection, study: dict[str, tuple[int, str]]
) -> None:
    _, secret = study["all"]
    conn.execute(REFUSE_AUDIT)
    for path, query, _, _ in DATA_REQUESTS:
        response = _get(client, secret, path, **query)
        assert (response.status_code, response.json()) == (503, {"detail": NOT_AUDITED}), path
    # An error answer carries no data: it goes out as it is.
    assert _get(client, secret, "/users/nobody").status_code == 404
    conn.execute("DROP TRIGGER refuse_audit ON api_audit_log")
    assert _get(client, secret, "/timeseries", user_id="p1", **RANGE).status_code == 200
    assert conn.execute("SELECT count(*) FROM api_audit_log").fetchone() == (1,)


def test_the_audit_can_be_switched_off_to_measure_it(
    study: dict[str, tuple[int, str]], conn: psycopg.Connection, db_url: str, tmp_path: Path
) -> None:
    _, secret = study["all"]
    with _client(db_url, tmp_path, api_audit="off") as client:
        assert _get(client, secret, "/timeseries", user_id="p1", **RANGE).status_code == 200
    assert conn.execute(AUDIT_ROWS).fetchall() == []


def test_without_keys_the_rows_have_no_key(
    study: dict[str, tuple[int, str]], conn: psycopg.Connection, db_url: str, tmp_path: Path
) -> None:
    with _client(db_url, tmp_path, api_auth="off") as client:
        assert client.get("/users/p1").status_code == 200
    assert conn.execute(AUDIT_ROWS).fetchall() == [(None, "/users/{user_id}", ["p1"], None, None, 200)]


def test_an_api_reading_a_replica_writes_its_audit_rows_to_the_primary(
    study: dict[str, tuple[int, str]], conn: psycopg.Connection, db_url: str, tmp_path: Path, pg_server: Any
) -> None:
    # A second database stands for the primary: the API reads db_url and audits there.
    name = f"hr_audit_primary_{os.getpid()}"
    primary = create_database(pg_server, name, template=TEMPLATE)
    try:
        key_id, secret = study["all"]
        with _client(db_url, tmp_path, api_audit_database_url=primary) as client:
            assert _get(client, secret, "/users/p1").status_code == 200
        assert conn.execute(AUDIT_ROWS).fetchall() == []
        with psycopg.connect(primary) as audited:
            assert audited.execute(AUDIT_ROWS).fetchall() == [(key_id, "/users/{user_id}", ["p1"], None, None, 200)]
    finally:
        drop_database(pg_server, name)
