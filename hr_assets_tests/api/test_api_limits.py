"""GET /limits: the limits the API publishes are the ones it enforces, at their edges.

Clients (the dashboard) size their requests from this endpoint instead of repeating the numbers,
so a published limit that drifted from the enforced one would break them. Runs against a real,
migrated and empty PostgreSQL warehouse: every refusal here happens before any data is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hr_api.main import create_app
from hr_assets.local import localdb
from hr_assets.settings import HrSettings
from hr_assets_tests.conftest import TEMPLATE, create_database, drop_database

LOOPBACK = "http://127.0.0.1:8000"
START = "2025-06-01T00:00:00Z"
END = "2025-06-02T00:00:00Z"


@pytest.fixture(scope="module")
def empty_url(pg_server: localdb.LocalServer, template_url: str) -> Iterator[str]:
    name = "hr_api_limits"
    yield create_database(pg_server, name, template=TEMPLATE)
    drop_database(pg_server, name)


@pytest.fixture
def client(empty_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = HrSettings(api_auth="off", api_web_dir=tmp_path / "no-dashboard")
    with TestClient(create_app(settings, database_url=empty_url), base_url=LOOPBACK) as test_client:
        yield test_client


def _status(client: TestClient, path: str, **params: Any) -> tuple[int, str]:
    response = client.get(path, params=params)
    return response.status_code, str(response.json().get("detail", ""))


def test_limits_are_published_and_documented(client: TestClient) -> None:
    body = client.get("/limits").json()
    assert set(body) == {"max_users", "max_points", "default_max_points", "max_summary_days", "max_compliance_days"}
    assert all(isinstance(value, int) and value > 0 for value in body.values())
    assert body["default_max_points"] <= body["max_points"]
    schema = client.get("/openapi.json").json()
    content = schema["paths"]["/limits"]["get"]["responses"]["200"]["content"]["application/json"]
    assert content["schema"]["$ref"].endswith("/Limits")
    assert "/limits" in client.get("/").json()["endpoints"]


def test_max_points_is_enforced_at_the_published_limit(client: TestClient) -> None:
    limit = client.get("/limits").json()["max_points"]
    series = {"user_ids": "nobody", "start_date": START, "end_date": END}
    # At the limit the parameter is accepted (the unknown user is what is refused); one more is not.
    assert _status(client, "/multi-user/timeseries", **series, max_points=limit)[0] == 404
    status, detail = _status(client, "/multi-user/timeseries", **series, max_points=limit + 1)
    assert status == 422 and detail.startswith("max_points:")


def test_max_users_is_enforced_at_the_published_limit(client: TestClient) -> None:
    limit = client.get("/limits").json()["max_users"]

    def ids(count: int) -> str:
        return ",".join(f"u{n}" for n in range(count))

    assert _status(client, "/multi-user/timeseries", user_ids=ids(limit), start_date=START, end_date=END)[0] == 404
    status, detail = _status(client, "/multi-user/timeseries", user_ids=ids(limit + 1), start_date=START, end_date=END)
    assert status == 422 and f"at most {limit} per request" in detail


def test_max_summary_days_is_enforced_at_the_published_limit(client: TestClient) -> None:
    limit = client.get("/limits").json()["max_summary_days"]
    first = date(2015, 1, 1)

    def summary(days: int) -> tuple[int, str]:
        last = first + timedelta(days=days - 1)
        return _status(client, "/summary", user_id="nobody", start_date=first.isoformat(), end_date=last.isoformat())

    assert summary(limit)[0] == 404
    status, detail = summary(limit + 1)
    assert status == 422 and detail == f"end_date: at most {limit} days per request"


def test_max_compliance_days_is_enforced_at_the_published_limit(client: TestClient) -> None:
    limit = client.get("/limits").json()["max_compliance_days"]
    first = date(2024, 1, 1)

    def compliance(days: int) -> tuple[int, str]:
        last = first + timedelta(days=days - 1)
        return _status(client, "/study/compliance", start=first.isoformat(), end=last.isoformat())

    assert compliance(limit)[0] == 200
    status, detail = compliance(limit + 1)
    assert status == 422 and detail.startswith(f"end: at most {limit} days per request")
