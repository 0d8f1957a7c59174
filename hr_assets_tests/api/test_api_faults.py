"""The query API under faults of its database, each on a PostgreSQL server or database the test controls.

- A migration that takes the locks real ones take runs while threads hammer the API over loopback: every
  request succeeds (some wait on the migration's locks, which the server shows), and so does a fresh
  database migrated under load, where requests before its schema exists are 503, never 500.
- While the database cannot be reached, every query is 503 with a generic message (never a 500).
- A statement that runs into HR_API_STATEMENT_TIMEOUT_MS (a table locked by another session) answers 503
  with the generic message; the API's log names the request and PostgreSQL's log the statement.
- Every status the schema of a server with keys documents is answered by some request.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from hr_api.main import create_app
from hr_assets.local import localdb
from hr_assets.warehouse.migrations import MIGRATIONS_DIR, latest_version, migrate
from hr_assets.warehouse.users import NewUser
from hr_assets_tests.api.api_helpers import (
    DAYS,
    FIGURES,
    WINDOW,
    ZONES,
    LoggedServer,
    api_schema,
    api_settings,
    make_keys,
    one_request_per_operation,
    running_api,
)
from hr_assets_tests.conftest import TEMPLATE, create_database, drop_database
from hr_assets_tests.warehouse_data import load_simulated

pytestmark = pytest.mark.faults

# Requests the hammer repeats: what a dashboard asks for.
DASHBOARD = [
    ("/health", {}),
    ("/users", {}),
    ("/users/user1", {}),
    ("/timeseries", {"user_id": "user1", **WINDOW}),
    ("/timeseries", {"user_id": "user1", "start_date": "2025-06-01", "end_date": "2025-06-02"}),
    ("/multi-user/timeseries", {"user_ids": "user1,user2", **WINDOW, "interval": "1m"}),
    ("/summary", {"user_id": "user1", "start_date": "2025-06-01", "end_date": "2025-06-01"}),
]
FAULTS_SURVIVED = "API faults survived (migration under load, fresh database under load, unreachable, timeout)"
# At most this many requests per hammering thread, and this many more once the fault is over.
HAMMER_LIMIT = 2_000
HAMMER_AFTER = 20
# Test-only migrations after the project's own: they take the locks real migrations take on what the API
# reads (ACCESS EXCLUSIVE for ALTER TABLE, SHARE for CREATE INDEX) and hold them a second each.
TEST_MIGRATIONS = {
    "lock_what_the_api_reads": """-- Test only: columns added to what the API reads, the locks held a while.
ALTER TABLE users ADD COLUMN test_note text;
ALTER TABLE partition_loads ADD COLUMN test_note text;
ALTER TABLE activities_heart_summary ADD COLUMN test_note text;
SELECT pg_sleep(1);
""",
    "index_the_readings": """-- Test only: an index on the readings and a column on a rollup, the locks held a while.
CREATE INDEX test_intraday_bpm ON activities_heart_intraday (user_id, bpm);
ALTER TABLE activities_heart_intraday_1h ADD COLUMN test_note text DEFAULT 'test';
SELECT pg_sleep(1);
""",
}


@dataclass
class Hammer:
    """Threads sending DASHBOARD's requests over loopback until stopped (bounded), every answer kept."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    threads: int = 3
    answers: list[tuple[float, float, str, int, str]] = field(default_factory=list)  # start, end, path, status, body
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._workers = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def _run(self, offset: int) -> None:
        after = 0
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30) as client:
            for n in range(HAMMER_LIMIT):
                path, params = DASHBOARD[(n + offset) % len(DASHBOARD)]
                started = time.monotonic()
                response = client.get(path, params=params)
                with self._lock:
                    self.answers.append((started, time.monotonic(), path, response.status_code, response.text))
                after += self._stop.is_set()
                if after >= HAMMER_AFTER:
                    return

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.answers) < count:
            assert time.monotonic() < deadline, "the hammer got no answers"
            time.sleep(0.01)

    def stop(self) -> list[tuple[float, float, str, int, str]]:
        self._stop.set()
        for worker in self._workers:
            worker.join(60)
        return sorted(self.answers)


class LockWaits:
    """Samples, while running, how many of the API's sessions wait on a lock (pg_stat_activity)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self.most = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'hr-api' AND wait_event_type = 'Lock'"
                ).fetchone()
                self.most = max(self.most, int(row[0]) if row else 0)
                time.sleep(0.02)


@pytest.fixture
def small_warehouse(pg_server: localdb.LocalServer, template_url: str) -> Iterator[str]:
    """A database of its own (this test migrates it), user1 and user2 loaded for one day."""
    name = f"hr_api_faults_{os.getpid()}"
    url = create_database(pg_server, name, template=TEMPLATE)
    users = [NewUser(uid, ZONES[uid], DAYS[1], seed=n + 41) for n, uid in enumerate(("user1", "user2"))]
    load_simulated(url, users, DAYS[1:2])
    yield url
    drop_database(pg_server, name)


def _test_migrations(folder: Path) -> Path:
    """The project's migrations and TEST_MIGRATIONS after them, in one folder."""
    folder.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, folder / path.name)
    for n, (name, text) in enumerate(TEST_MIGRATIONS.items(), start=latest_version() + 1):
        (folder / f"{n:04d}_{name}.sql").write_text(text)
    return folder


def test_a_migration_that_locks_what_the_api_reads_fails_no_request(small_warehouse: str, tmp_path: Path) -> None:
    migrations = _test_migrations(tmp_path / "migrations")
    with running_api(api_settings(tmp_path), small_warehouse) as live:
        hammer = Hammer(live.url)
        hammer.start()
        hammer.wait_for(30)
        with LockWaits(small_warehouse) as waits:
            began = time.monotonic()
            _, applied = migrate(small_warehouse, directory=migrations)
            ended = time.monotonic()
        answers = hammer.stop()
    assert [name.split("_", 1)[1] for name in applied] == list(TEST_MIGRATIONS)
    failed = [(path, status, body[:200]) for _, _, path, status, body in answers if status != 200]
    assert not failed, failed
    during = [a for a in answers if a[0] < ended and a[1] > began]
    assert len(during) > 10, "requests were in flight during the migration"
    assert waits.most > 0, "some of the API's queries waited on the migration's locks"
    FIGURES["requests served while a migration took locks (all 200)"] += len(answers)
    FIGURES[FAULTS_SURVIVED] += 1


@pytest.mark.parametrize("auth", ["off", "keys"])
def test_a_fresh_database_migrated_under_load_is_503_until_its_schema_exists_never_500(
    empty_db_url: str, tmp_path: Path, auth: str
) -> None:
    with running_api(api_settings(tmp_path, api_auth=auth), empty_db_url) as live:
        # With keys, a key that no schema knows yet: 503 while the schema is missing, then 401.
        hammer = Hammer(live.url, headers={"Authorization": "Bearer hr_" + "k" * 43} if auth == "keys" else {})
        hammer.start()
        hammer.wait_for(30)
        migrate(empty_db_url)
        migrated = time.monotonic()
        answers = hammer.stop()
    assert not [(path, status, body) for _, _, path, status, body in answers if status >= 500 and status != 503]
    unavailable = [body for _, _, path, status, body in answers if status == 503 and path != "/health"]
    assert unavailable and set(unavailable) == {'{"detail":"database unavailable"}'}
    after = {(path, status) for started, _, path, status, _ in answers if started > migrated}
    expected_after = {
        "off": {("/health", 200), ("/users", 200), ("/users/user1", 404), ("/timeseries", 404), ("/summary", 404)},
        "keys": {("/health", 200), *((path, 401) for path, _ in DASHBOARD if path != "/health")},
    }[auth]
    assert expected_after <= after, after
    assert not {a for a in after if a[1] == 503}, after
    FIGURES[FAULTS_SURVIVED] += 1


@pytest.mark.parametrize("auth", ["off", "keys"])
def test_while_the_database_cannot_be_reached_every_query_is_503(tmp_path: Path, short_waits: None, auth: str) -> None:
    url = f"postgresql://postgres:unused@127.0.0.1:{localdb.free_port()}/hr"
    metrics_key = "hr_metrics-key-of-the-tests"
    settings = api_settings(tmp_path, api_auth=auth, api_metrics_key=metrics_key)
    key = {"Authorization": f"Bearer hr_{'k' * 43}"} if auth == "keys" else {}
    answered = 0
    with running_api(settings, url) as live:
        for _, path, query in one_request_per_operation():
            response = live.client.get(path, params=query, headers=key)
            answered += 1
            if path == "/health":
                assert response.status_code == 503 and response.json()["database_connected"] is False
            elif path in ("/", "/limits") and auth == "off":  # read no database without keys
                assert response.status_code == 200
            elif path == "/metrics" and auth == "off":  # a scrape reports the database down
                assert response.status_code == 200 and "hr_api_database_up 0.0" in response.text
            else:
                assert response.status_code == 503, (path, response.text)
                assert response.json() == {"detail": "database unavailable"}
                assert response.headers["retry-after"] == "5"
        scrape = live.get("/metrics", metrics_key)
        assert scrape.status_code == 200 and "hr_api_database_up 0.0" in scrape.text
    FIGURES["requests answered while the database was unreachable (none a 500)"] += answered + 1
    FIGURES[FAULTS_SURVIVED] += 1


def test_a_statement_timeout_is_503_and_the_logs_say_what_timed_out(
    logged_server: LoggedServer, tmp_path: Path
) -> None:
    settings = api_settings(tmp_path, api_statement_timeout_ms=300)
    query = {"user_id": "user1", **WINDOW}
    with running_api(settings, logged_server.url) as live, psycopg.connect(logged_server.url) as locker:
        assert live.get("/timeseries", **query).status_code == 200
        mark = logged_server.mark()
        # Another session holds the table every time series reads first, as a long maintenance job would.
        locker.execute("LOCK TABLE partition_loads IN ACCESS EXCLUSIVE MODE")
        began = time.monotonic()
        timed_out = live.get("/timeseries", **query)
        waited = time.monotonic() - began
        locker.rollback()
        assert live.get("/timeseries", **query).status_code == 200
        api_log = live.log.text
    assert timed_out.status_code == 503 and timed_out.json() == {"detail": "database unavailable"}
    assert timed_out.headers["retry-after"] == "5"
    assert waited >= 0.3
    target = "GET /timeseries?user_id=user1&start_date=2025-06-01T06%3A00%3A00Z&end_date=2025-06-01T09%3A00%3A00Z"
    assert f"WARNING hr_api.main: {target}: QueryCanceled: canceling statement due to statement timeout" in api_log
    records = logged_server.records(mark)
    error = next(n for n, r in enumerate(records) if r.text == "canceling statement due to statement timeout")
    statement = next(r for r in records[error + 1 :] if r.pid == records[error].pid and r.level == "STATEMENT")
    assert "FROM partition_loads" in statement.text and statement.text.startswith("-- Registered users")
    FIGURES[FAULTS_SURVIVED] += 1


# --- every documented status ------------------------------------------------------------------------


def _status_requests(path: str, query: dict[str, str]) -> dict[str, tuple[str, dict[str, str], str]]:
    """For each status: (path, query, key name) that should answer it, on a warehouse that works (503: one
    that cannot be reached)."""
    key = "metrics" if path == "/metrics" else "all"
    invalid = {**query, "end_date": query.get("start_date", ""), "user_id": "x y", "cohort": "Not A Cohort"}
    return {
        "200": (path, query, key),
        "401": (path, query, "none"),
        "404": (path.replace("user1", "nobody"), {k: v.replace("user1", "nobody") for k, v in query.items()}, key),
        "422": (path.replace("user1", "Nobody"), invalid, key),
        "403": (path, query, "user1"),
        "503": (path, query, "all"),
    }


def test_every_status_the_schema_documents_is_answered(api_warehouse: str, tmp_path: Path, short_waits: None) -> None:
    keys = make_keys(api_warehouse).secrets
    schema = api_schema("keys")
    settings = api_settings(tmp_path, api_auth="keys")
    unreachable = f"postgresql://postgres:unused@127.0.0.1:{localdb.free_port()}/hr"
    answered = 0
    with running_api(settings, api_warehouse) as live, running_api(settings, unreachable) as down:
        for template, path, query in one_request_per_operation():
            documented = schema["paths"][template]["get"]["responses"]
            for status, (asked, params, key_name) in _status_requests(path, query).items():
                if status not in documented:
                    continue
                server = down if status == "503" else live
                names = {p["name"] for p in schema["paths"][template]["get"].get("parameters", [])}
                params = {k: v for k, v in params.items() if k in names}
                response = server.get(asked, keys.get(key_name), **params)
                answered += 1
                assert response.status_code == int(status), (template, status, response.text)
    assert answered == sum(len(op["get"]["responses"]) for op in schema["paths"].values())


def test_a_server_without_keys_on_an_address_that_is_not_loopback_refuses_every_keyed_operation(
    api_warehouse: str, tmp_path: Path
) -> None:
    schema = api_schema("off")
    # The address the request arrived at, as the ASGI server reports it: nothing listens beyond loopback here.
    app = create_app(api_settings(tmp_path), database_url=api_warehouse)
    with TestClient(app, base_url="http://192.0.2.10") as client:
        for template, path, query in one_request_per_operation("off"):
            response = client.get(path, params=query)
            if "403" in schema["paths"][template]["get"]["responses"]:
                assert response.status_code == 403, (path, response.text)
                assert response.json() == {"detail": "HR_API_AUTH=off is allowed only on a loopback address"}
            else:
                assert response.status_code == 200, path
