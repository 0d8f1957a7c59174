"""SQL injection in every parameter of the query API and in the registry's fields, read back from the server's log.

The injection strings go into every parameter of every operation of the API's OpenAPI schema (alone and
after a valid value), into the bearer key, and into every field of ``hr users add``, ``hr users import``
and ``hr api-keys create``. The database is a PostgreSQL server these tests start themselves, logging every
statement with its bound parameters (``log_statement = 'all'``). Each is refused or harmless:

- the API answers 401, 404 or 422, never a 5xx, and never with the driver's words;
- the commands refuse what the registry's rules refuse, and store the rest exactly as typed;
- the server's log holds only the statements the code runs (``sql/queries/*.sql`` with ``$n`` placeholders,
  and the driver's transaction control), no statement failed, and an injected string appears only in the
  ``Parameters:`` detail of a statement, never in a statement's text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import psycopg
import pytest
from click.testing import CliRunner

from hr_assets.cli import main
from hr_assets.local.localdb import ensure_database
from hr_assets.settings import get_settings
from hr_assets.warehouse.aggregates import LEVELS as AGGREGATE_LEVELS
from hr_assets.warehouse.aggregates import RAW
from hr_assets.warehouse.api_keys import create_key
from hr_assets.warehouse.db import QUERY_DIR
from hr_assets_tests.api.api_helpers import (
    FIGURES,
    LiveApi,
    LoggedServer,
    ServerLogRecord,
    api_schema,
    api_settings,
    internals_in,
    running_api,
)

# Each holds {tag}, replaced by a tag unique to the string, the parameter and the field, to find it in the log.
INJECTIONS = (
    "{tag}' OR '1'='1",
    "{tag}' OR 1=1 --",
    "{tag}'; DROP TABLE users; --",
    "{tag}'); DELETE FROM api_keys; --",
    "{tag}' UNION SELECT key_hash::text FROM api_keys --",
    "{tag}'; SELECT pg_sleep(10); --",
    "{tag}'||pg_sleep(10)||'",
    "{tag}' AND 1=CAST((SELECT version()) AS int) --",
    '{tag}" OR ""="',
    "{tag}\\'; DROP TABLE users; --",
    "{tag}$$; DROP TABLE users; $$",
    "{tag}') OR ('1'='1",
    "{tag}%' OR 1=1 --",
    "{tag}%(user_ids)s",
    "{tag}{{relation}}",
    "{tag} $1 $2",
    "{tag}\n' OR 1=1 --",
    "{tag}\u02bc OR 1=1 --",  # a modifier letter apostrophe
    "{tag}; COPY users TO '/tmp/users.csv'",
    "{tag}' /*",
)
# Valid values of the API's parameters: an injection replaces one of them, or follows it.
VALID = {
    "user_id": "user1",
    "user_ids": "user1,user2",
    "start_date": "2025-06-01",
    "end_date": "2025-06-02",
    "interval": "1h",
    "max_points": "2000",
    "start": "2025-06-01",
    "end": "2025-06-02",
    "cohort": "site-a",
    "format": "csv",  # the study grid's and the export download's
    "level": "day",
}
# Statements the driver sends on its own: transaction control.
DRIVER_STATEMENTS = re.compile(
    r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT \S+|RELEASE SAVEPOINT \S+|ROLLBACK TO SAVEPOINT \S+|)$"
)
# The inline statements of the warehouse boundary (hr_assets/warehouse/db.py's schema check).
INLINE_STATEMENTS = {"SELECT to_regclass('schema_migrations') IS NOT NULL"}


def _tagged(template: str, tag: str) -> str:
    return template.replace("{tag}", tag).replace("{{relation}}", "{relation}")


def _normalized(statement: str) -> str:
    """A statement with its placeholders (psycopg's %(name)s, or the $n the server sees) as one mark."""
    return re.sub(r"%\(\w+\)s|\$\d+", "$?", statement).strip()


@pytest.fixture(scope="module")
def known_statements() -> set[str]:
    """Every statement the code may send: sql/queries/*.sql, its relations from the fixed mappings."""
    relations = [RAW, *(level.relation for level in AGGREGATE_LEVELS.values())]
    known = set(INLINE_STATEMENTS)
    for path in QUERY_DIR.glob("*.sql"):
        text = path.read_text()
        names = set(re.findall(r"\{(\w+)\}", text))
        if not names:
            known.add(_normalized(text))
            continue
        for relation in relations:
            identifiers = {name: f'"{relation}"' for name in names}
            known.add(_normalized(text.format(**identifiers)))
    return known


def _statements(records: list[ServerLogRecord]) -> list[tuple[ServerLogRecord, str]]:
    """(record, statement text) of every statement logged, simple ("statement:") or extended ("execute <name>:")."""
    found = []
    for record in records:
        match = re.match(r"^(?:statement: |execute [^:]*: )(.*)$", record.text, re.DOTALL)
        if record.level == "LOG" and match:
            found.append((record, match[1]))
    return found


def _parameters(records: list[ServerLogRecord]) -> str:
    return "\n".join(r.text for r in records if r.level == "DETAIL" and r.text.startswith("Parameters: "))


def assert_only_known_statements(records: list[ServerLogRecord], known: set[str], tags: list[str]) -> None:
    """Every statement is one of ``known``; no statement failed; the tags appear in no statement's text."""
    statements = _statements(records)
    assert statements, "the server logged no statement: is log_statement on?"
    unknown = {text for _, text in statements if _normalized(text) not in known and not DRIVER_STATEMENTS.match(text)}
    assert not unknown, unknown
    failed = [r for r in records if r.level in ("ERROR", "FATAL", "PANIC")]
    assert not failed, failed
    logged_text = "\n".join(text for _, text in statements)
    assert not [tag for tag in tags if tag in logged_text]


# --- the API ----------------------------------------------------------------------------------------


@pytest.fixture
def logged_api(logged_server: LoggedServer, tmp_path: Path) -> Iterator[tuple[LiveApi, str]]:
    """The API with keys on over the logged server, and an --all key (so that requests pass the key check)."""
    with psycopg.connect(logged_server.url, autocommit=True) as conn:
        key = create_key(conn, name="all", user_ids=[], all_users=True, registered=set())[1]
    settings = api_settings(tmp_path, api_auth="keys")
    with running_api(settings, logged_server.url) as live:
        yield live, key


def _api_attempts() -> list[tuple[str, dict[str, str], str, str]]:
    """(path, query, the injected parameter, its tag) for every parameter of every operation, every injection."""
    attempts = []
    for path, methods in api_schema("keys")["paths"].items():
        parameters = methods["get"].get("parameters", [])
        for parameter in parameters:
            name = parameter["name"]
            assert name in VALID, f"{path}: a new parameter {name!r} needs a valid value here"
            for n, template in enumerate(INJECTIONS):
                for position, prefix in enumerate(("", VALID[name] + ("," if name == "user_ids" else ""))):
                    tag = f"zq{name[:4]}{n:02d}{position}q"
                    values = {p["name"]: VALID[p["name"]] for p in parameters}
                    values[name] = prefix + _tagged(template, tag)
                    attempts.append((path, values, name, tag))
    return attempts


def test_injection_into_the_api_is_refused_and_reaches_no_statement(
    logged_server: LoggedServer, logged_api: tuple[LiveApi, str], known_statements: set[str]
) -> None:
    live, key = logged_api
    mark = logged_server.mark()
    attempts = _api_attempts()
    statuses: dict[int, int] = {}
    for path, values, name, _ in attempts:
        url_path = path.replace("{user_id}", quote(values.pop("user_id"), safe="")) if "{user_id}" in path else path
        response = live.client.get(url_path, params=values, headers={"Authorization": f"Bearer {key}"})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (404, 422), (path, name, values, response.text)
        assert not internals_in(response.text, [*values.values(), unquote(url_path.rsplit("/", 1)[-1])]), response.text
    tags = [tag for *_, tag in attempts]
    for n, template in enumerate(INJECTIONS):
        for scheme in ("Bearer hr_", "Bearer ", "Basic "):
            tag = f"zqkey{n:02d}{len(scheme)}q"
            tags.append(tag)
            # A header is one line of Latin-1: a newline becomes a space, other letters their UTF-8 bytes.
            header = (scheme + _tagged(template, tag)).replace("\n", " ").encode()
            response = live.client.get("/users", headers={"Authorization": header})
            assert response.status_code == 401, response.text
    records = [r for r in logged_server.records(mark) if r.database == "hr"]
    assert_only_known_statements(records, known_statements, tags)
    # Injected strings that reached no statement at all: the API refused them before any SQL, or hashed them.
    assert not [tag for tag in tags if tag in _parameters(records)]
    FIGURES["injection attempts on the API (parameters x strings x positions, and keys)"] += len(tags)


# --- the registry's commands ------------------------------------------------------------------------


@pytest.fixture
def cli_env(logged_server: LoggedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HR_DATABASE_URL", logged_server.url)
    # Dagster's own tables (users import syncs its partitions) in a database whose statements are not logged.
    monkeypatch.setenv("HR_DAGSTER_STORAGE_URL", ensure_database(logged_server.server, "dagster"))
    monkeypatch.setenv("HR_HOME", str(tmp_path / "hr"))
    get_settings.cache_clear()
    return tmp_path


# Commands with an injection where the registry's rules refuse it ({value}: the injection; {n}: its number).
REFUSING_COMMANDS = [
    ("id", ["users", "add", "{value}", "--timezone", "Europe/Berlin", "--seed", "1"]),
    ("tz", ["users", "add", "tz{n}", "--timezone", "{value}", "--seed", "1"]),
    ("src", ["users", "add", "src{n}", "--timezone", "UTC", "--source", "{value}", "--seed", "1"]),
    ("start", ["users", "add", "start{n}", "--timezone", "UTC", "--seed", "1", "--start-date", "{value}"]),
    ("keyuser", ["api-keys", "create", "--user", "{value}"]),
]


@dataclass(frozen=True)
class Typed:
    """A value typed into a command: the injection, its tag, and (when the registry keeps it) where it is kept."""

    value: str
    tag: str
    user_id: str | None = None  # the user whose display name or settings hold it
    kind: str = ""  # "name" or "settings"


def _hr(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _typed(template: str, field: str, n: int, user_id: str | None = None, kind: str = "") -> Typed:
    tag = f"zq{field}{n:02d}q"
    return Typed(_tagged(template, tag), tag, user_id, kind)


def test_injection_into_the_registry_is_refused_or_stored_as_typed(
    logged_server: LoggedServer, cli_env: Path, known_statements: set[str]
) -> None:
    mark = logged_server.mark()
    refused: list[Typed] = []
    kept: list[Typed] = []
    key_names: list[Typed] = []
    for n, template in enumerate(INJECTIONS):
        for field, args in REFUSING_COMMANDS:
            typed = _typed(template, field, n)
            result = _hr(*(typed.value if arg == "{value}" else arg.format(n=n) for arg in args))
            assert result.exit_code != 0, (field, typed.value, result.output)
            assert not internals_in(result.output, [typed.value]), result.output
            refused.append(typed)
        name = _typed(template, "name", n, f"name{n}", "name")
        config = _typed(template, "cfg", n, f"cfg{n}", "settings")
        for typed, option in [(name, ["--name", name.value]), (config, ["--config", f"note={config.value}"])]:
            result = _hr("users", "add", str(typed.user_id), "--timezone", "UTC", "--seed", "1", *option)
            assert result.exit_code == 0, result.output
            kept.append(typed)
        key_name = _typed(template, "keyname", n)
        result = _hr("api-keys", "create", "--all", "--name", key_name.value)
        assert result.exit_code == 0, result.output
        key_names.append(key_name)
    roster_kept, roster_refused = _import_roster(cli_env / "roster.csv")
    kept += roster_kept
    refused += roster_refused

    # The commands' statements, before this test's own queries below.
    records = [r for r in logged_server.records(mark) if r.database == "hr"]
    with psycopg.connect(logged_server.url, autocommit=True) as conn:
        users = {row[0]: row[1:] for row in conn.execute("SELECT id, display_name, source_config FROM users")}
        names = {row[0] for row in conn.execute("SELECT name FROM api_keys")}
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"users", "api_keys", "activities_heart_intraday", "partition_loads"} <= tables
    for typed in kept:
        display_name, settings = users[str(typed.user_id)]
        assert (display_name if typed.kind == "name" else settings["note"]) == typed.value, typed
    assert {typed.value for typed in key_names} <= names
    assert not [user_id for user_id in users if "zq" in user_id]

    stored = kept + key_names
    assert_only_known_statements(records, known_statements, [t.tag for t in refused + stored])
    parameters = _parameters(records)
    # What the registry keeps reached the server as a bound parameter; what it refused never reached it.
    assert not [t.tag for t in stored if t.tag not in parameters]
    assert not [t.tag for t in refused if t.tag in parameters]
    FIGURES["injection attempts on the registry (fields x strings)"] += len(refused) + len(stored)


def _import_roster(path: Path) -> tuple[list[Typed], list[Typed]]:
    """A roster with an injection in each column of a row: (what is kept, what is refused) once imported."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "timezone", "source", "settings", "start_date", "seed", "name"])
    kept: list[Typed] = []
    refused: list[Typed] = []
    for n, template in enumerate(INJECTIONS):
        for column in ("id", "timezone", "source", "start_date", "seed"):
            typed = _typed(template, f"r{column[:2]}", n)
            row = {"id": f"r{column[:2]}{n}", "timezone": "UTC", "source": "simulated", "settings": ""}
            row |= {"start_date": "", "seed": "1", "name": "", column: typed.value}
            writer.writerow(row.values())
            refused.append(typed)
        name = _typed(template, "rname", n, f"rname{n}", "name")
        config = _typed(template, "rset", n, f"rset{n}", "settings")
        writer.writerow([name.user_id, "UTC", "simulated", "", "", "1", name.value])
        writer.writerow([config.user_id, "UTC", "simulated", json.dumps({"note": config.value}), "", "1", ""])
        kept += [name, config]
    path.write_text(out.getvalue(), encoding="utf-8")
    result = _hr("users", "import", str(path))
    assert result.exit_code == 1, result.output  # some rows were refused
    assert f"registered {len(kept)} user(s); {len(refused)} row(s) refused" in result.output, result.output
    return kept, refused


def test_a_user_id_with_a_trailing_newline_is_refused(logged_server: LoggedServer, cli_env: Path) -> None:
    # A regex ending in $ also matches before a final newline.
    result = _hr("users", "add", "alice\n", "--timezone", "UTC", "--seed", "1")
    assert result.exit_code != 0 and "invalid user id 'alice\\n'" in result.output, result.output
    with psycopg.connect(logged_server.url, autocommit=True) as conn:
        assert conn.execute("SELECT id FROM users WHERE id LIKE 'alice%'").fetchall() == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/users/user1%0A", {}),
        ("/summary", {"user_id": "user1\n", "start_date": "2025-06-01", "end_date": "2025-06-02"}),
    ],
)
def test_the_api_refuses_a_user_id_with_a_trailing_newline(
    logged_server: LoggedServer, tmp_path: Path, path: str, params: dict[str, str]
) -> None:
    with running_api(api_settings(tmp_path), logged_server.url) as live:
        response = live.client.get(path, params=params)
    assert response.status_code == 422 and response.json()["detail"].startswith("user_id: 'user1\\n'"), response.text
