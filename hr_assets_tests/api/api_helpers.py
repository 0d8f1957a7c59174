"""Helpers of the query API's reliability tests: the users and days loaded, keys, the API in uvicorn with its log
captured, PostgreSQL's statement log read back, and what must never reach a client.

The API runs in uvicorn on 127.0.0.1 in a thread of the test process, so that its log records (uvicorn's,
the app's, the pool's) are captured as the server writes them. The fixtures are in ``api_fixtures``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn

from hr_api.main import create_app
from hr_assets.local import localdb
from hr_assets.settings import HrSettings
from hr_assets.warehouse.api_keys import create_key, revoke_key
from hr_assets_tests.figures import section

# user id -> time zone; "user1,user2" and 2025-06-01 are the API's documented examples.
ZONES = {
    "user1": "Europe/Berlin",
    "user2": "America/New_York",
    "user3": "Asia/Kolkata",
    "user4": "Asia/Kathmandu",
    "retired1": "Europe/Berlin",
}
RETIRED = "retired1"
DAYS = [date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 2)]
# A UTC window in which every user has readings.
WINDOW = {"start_date": "2025-06-01T06:00:00Z", "end_date": "2025-06-01T09:00:00Z"}
# The loggers whose records are captured: the server, the app, the warehouse boundary, the driver and its pool.
CAPTURED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "hr_api", "hr_assets", "psycopg", "psycopg.pool")
# How long a live server may take to start or stop.
SERVER_SECONDS = 30.0


# Words of the driver, the database server or Python (as they write them), and places in the code: none may
# reach a client.
INTERNALS = (
    "Traceback",
    'File "',
    "psycopg",
    "SQLSTATE",
    "syntax error",
    "site-packages",
    ".py",
    "sql/queries",
    "postgresql://",
    "SELECT ",
    "ERROR:",
    "LINE 1",
    "Internal Server Error",
    "Exception",
)
# What the tests of this kind did, by name, printed at the end of the run (the README quotes them).
FIGURES: Counter[str] = section("the query API under hostile input and faults")


def internals_in(body: str, sent: Iterable[str] = ()) -> list[str]:
    """The INTERNALS words in ``body`` once the values the client sent (echoed in error messages) are taken out."""
    for value in sorted({v for text in sent for v in _echoes(text)}, key=len, reverse=True):
        body = body.replace(value, "")
    return [word for word in INTERNALS if word in body]


def _echoes(value: str) -> set[str]:
    """How a sent value can come back in an error message: as sent, stripped, in a repr, JSON-escaped, and its
    comma-separated parts."""
    forms = {value, value.strip(), *(part.strip() for part in value.split(","))}
    forms |= {repr(form) for form in forms} | {json.dumps(repr(form))[1:-1] for form in forms}
    return {form for form in forms if form}


@dataclass(frozen=True)
class ServerLogRecord:
    """One message of PostgreSQL's log: the database and application it came from, its level and text."""

    pid: int
    database: str
    application: str
    level: str  # LOG, DETAIL, ERROR, STATEMENT, ...
    text: str


# log_line_prefix of the logged server, and a message's first line under it (continuation lines start with a tab).
LOG_LINE_PREFIX = "%m [%p] db=%d app=%a "
_RECORD_START = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[(?P<pid>\d+)\] db=(?P<db>\S*) app=(?P<app>\S*) "
    r"(?P<level>[A-Z]+):  (?P<text>.*)$"
)


@dataclass(frozen=True)
class LoggedServer:
    """A PostgreSQL server of its own whose database ``hr`` logs every statement with its parameters."""

    server: localdb.LocalServer
    url: str

    @property
    def log_file(self) -> Path:
        return self.server.root / "server.log"

    def mark(self) -> int:
        """Where the log ends now: :meth:`records` after it are what happened since."""
        return self.log_file.stat().st_size

    def records(self, since: int) -> list[ServerLogRecord]:
        with self.log_file.open("rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", errors="replace")
        records: list[ServerLogRecord] = []
        for line in text.splitlines():
            start = _RECORD_START.match(line)
            if start:
                records.append(
                    ServerLogRecord(int(start["pid"]), start["db"], start["app"], start["level"], start["text"])
                )
            elif records and line.startswith("\t"):
                last = records[-1]
                records[-1] = ServerLogRecord(
                    last.pid, last.database, last.application, last.level, f"{last.text}\n{line[1:]}"
                )
        return records


@dataclass
class Keys:
    """Keys by what they may read: a user id, "pair" (user1 and user2), "all", "metrics", "revoked"."""

    secrets: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.secrets[name]


def make_keys(url: str) -> Keys:
    """A key for each user, one for user1 and user2, --all, --metrics, and a revoked key for user1."""
    with psycopg.connect(url, autocommit=True) as conn:
        registered = set(ZONES)
        secrets = {uid: create_key(conn, name=f"{uid} only", user_ids=[uid], registered=registered)[1] for uid in ZONES}
        secrets["pair"] = create_key(conn, name="pair", user_ids=["user1", "user2"], registered=registered)[1]
        secrets["all"] = create_key(conn, name="all", user_ids=[], all_users=True, registered=registered)[1]
        secrets["metrics"] = create_key(conn, name="metrics", user_ids=[], metrics=True, registered=registered)[1]
        revoked, secrets["revoked"] = create_key(conn, name="revoked", user_ids=["user1"], registered=registered)
        revoke_key(conn, revoked.id)
    return Keys(secrets)


class LogCapture(logging.Handler):
    """Every record of CAPTURED_LOGGERS, formatted as a log file would hold it (with tracebacks)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self._records: list[tuple[logging.LogRecord, str]] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        with self._lock:
            self._records.append((record, text))

    @property
    def text(self) -> str:
        with self._lock:
            return "\n".join(text for _, text in self._records)

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request the server answered, from its access log."""
        with self._lock:
            access = [record.args for record, _ in self._records if record.name == "uvicorn.access"]
        # uvicorn's access record: (client address, method, path with query, HTTP version, status)
        return [
            (str(args[1]), str(args[2]).partition("?")[0], int(args[4])) for args in access if isinstance(args, tuple)
        ]


@dataclass
class LiveApi:
    """A running API: its base URL, the log it has written, and a client."""

    url: str
    log: LogCapture
    client: httpx.Client = field(repr=False)

    def get(self, path: str, key: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.get(path, params=params, headers=headers)


def api_schema(auth: str) -> dict[str, Any]:
    """The OpenAPI schema a server with HR_API_AUTH=``auth`` publishes (no database needed)."""
    return create_app(HrSettings(api_auth=auth, api_web_dir=Path("/nonexistent"))).openapi()


def one_request_per_operation(auth: str = "keys") -> list[tuple[str, str, dict[str, str]]]:
    """(path template, path, query) of a valid request for user1 (and user2) in WINDOW, per operation of the schema."""
    valid = {"user_id": "user1", "user_ids": "user1,user2", **WINDOW}
    # Routes that read whole local days (end exclusive) need the window as days: the day of WINDOW.
    whole_days = {"/export/{user_id}": {"start_date": "2025-06-01", "end_date": "2025-06-02"}}
    requests = []
    for template, methods in api_schema(auth)["paths"].items():
        names = {p["name"] for p in methods["get"].get("parameters", []) if p["in"] == "query"}
        path = template.replace("{user_id}", "user1")
        values = {**valid, **whole_days.get(template, {})}
        requests.append((template, path, {name: value for name, value in values.items() if name in names}))
    return requests


def api_settings(tmp_path: Path, **overrides: Any) -> HrSettings:
    values: dict[str, Any] = {"api_auth": "off", "api_web_dir": tmp_path / "no-dashboard", **overrides}
    return HrSettings(**values)


@contextmanager
def running_api(settings: HrSettings, database_url: str) -> Iterator[LiveApi]:
    """The API for ``settings`` in uvicorn on 127.0.0.1 (a free port) for the block, its log captured."""
    capture = LogCapture()
    loggers = [logging.getLogger(name) for name in CAPTURED_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(capture)
        logger.setLevel(logging.DEBUG)
    port = localdb.free_port()
    app = create_app(settings, database_url=database_url)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=True, lifespan="on")
    )
    stopped: list[BaseException] = []

    def serve() -> None:
        try:
            server.run()
        except BaseException as exc:  # uvicorn exits when the app fails to start: the test says why
            stopped.append(exc)

    thread = threading.Thread(target=serve, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_SECONDS
        while not server.started:
            alive = thread.is_alive() and time.monotonic() < deadline
            assert alive, f"the API did not start ({stopped}):\n{capture.text}"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=SERVER_SECONDS) as client:
            yield LiveApi(url, capture, client)
    finally:
        server.should_exit = True
        thread.join(SERVER_SECONDS)
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(capture)
            logger.setLevel(level)
