"""The study's commands against a real PostgreSQL: cohorts in the registry, the roster and keys; ``hr study status``
and ``hr study compliance``; ``hr audit`` and its retention."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from hr_assets.cli import main
from hr_assets.domain.roster import parse_roster
from hr_assets.sources import SOURCES
from hr_assets.warehouse.audit import AuditEntry, record
from hr_assets_tests.study_data import register, wear

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def _hr(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_cohorts_are_set_moved_and_left_from_the_command_line(hr_home: Path, conn: psycopg.Connection) -> None:
    added = _hr("users", "add", "p1", "-z", "UTC", "--seed", "1", "--start-date", "2026-01-01", "--cohort", "site-a")
    assert added.exit_code == 0, added.output
    _hr("users", "add", "p2", "-z", "UTC", "--seed", "2", "--start-date", "2026-01-01")
    listed = _hr("users", "list").output.splitlines()
    assert listed[0].split()[:4] == ["id", "timezone", "source", "cohort"]  # the header row
    assert listed[1].split()[:4] == ["p1", "UTC", "simulated", "site-a"]
    assert listed[2].split()[:4] == ["p2", "UTC", "simulated", "-"]
    assert _hr("users", "update", "p1", "--cohort", "site-b").exit_code == 0
    assert conn.execute("SELECT cohort FROM users WHERE id = 'p1'").fetchone() == ("site-b",)
    assert _hr("users", "update", "p1", "--no-cohort").exit_code == 0
    assert conn.execute("SELECT cohort FROM users WHERE id = 'p1'").fetchone() == (None,)
    refused = _hr("users", "update", "p1", "--cohort", "Site B")
    assert refused.exit_code == 1 and "invalid cohort 'Site B'" in refused.output
    both = _hr("users", "update", "p1", "--cohort", "x", "--no-cohort")
    assert both.exit_code == 1 and "give a cohort or leave the cohort, not both" in both.output


def test_a_roster_names_each_participants_cohort() -> None:
    header = "id,timezone,source,settings,start_date,seed,cohort\n"
    rows = "p1,UTC,simulated,,2026-01-01,1,site-a\np2,UTC,simulated,,2026-01-01,2,\np3,UTC,simulated,,2026-01-01,3,A!\n"
    users, errors = parse_roster(header + rows, SOURCES, set())
    assert [(u.id, u.cohort) for u in users] == [("p1", "site-a"), ("p2", None)]
    assert [str(e) for e in errors] == [
        "line 4 (p3): invalid cohort 'A!': use 1 to 64 lower-case letters, digits, '_' or '-'"
    ]


def test_a_cohort_key_is_made_and_listed(hr_home: Path, conn: psycopg.Connection) -> None:
    made = _hr("api-keys", "create", "--cohort", "site-a")
    assert made.exit_code == 0, made.output
    assert conn.execute("SELECT cohort, all_users, user_ids FROM api_keys").fetchone() == ("site-a", False, [])
    assert "cohort site-a  (cohort site-a;" in _hr("api-keys", "list").output
    refused = _hr("api-keys", "create", "--cohort", "site-a", "--all")
    assert refused.exit_code == 1 and "not several" in refused.output


def test_study_status_lists_flagged_participants_first(hr_home: Path, conn: psycopg.Connection) -> None:
    start = YESTERDAY - timedelta(days=9)
    for user_id in ("a-fine", "b-flagged", "c-fine"):
        register(conn, user_id, start=start, cohort="site-a" if user_id != "c-fine" else "site-b")
    for n in range(10):
        day = start + timedelta(days=n)
        wear(conn, "a-fine", day, 700)
        wear(conn, "c-fine", day, 700)
        wear(conn, "b-flagged", day, 700 if n < 5 else 100)
    out = _hr("study", "status").output.splitlines()
    assert out[0] == "valid day: >= 600 worn minutes; flags after 3 days without a valid day, 3 without data"
    rows = [line.split() for line in out[2:-1]]
    assert [r[0] for r in rows] == ["b-flagged", "a-fine", "c-fine"]
    assert rows[0][-1] == "no_valid_day" and rows[1][-1] == "-"
    assert rows[1][1:3] == ["site-a", "not_applicable"]
    assert rows[1][5:9] == ["1", "7", "10", "10"]  # days since the reading, valid days of 7, 30, all
    assert out[-1] == "3 participant(s), 1 flagged"
    # --days moves the edge: five days without a valid day are fewer than six.
    assert _hr("study", "status", "--days", "6").output.splitlines()[-1] == "3 participant(s), 0 flagged"
    only = _hr("study", "status", "--cohort", "site-b").output.splitlines()
    assert [line.split()[0] for line in only[2:-1]] == ["c-fine"]


def test_study_compliance_prints_the_grid_as_csv(hr_home: Path, conn: psycopg.Connection) -> None:
    day = date(2026, 1, 5)
    register(conn, "p1", start=day)
    wear(conn, "p1", day, 601)
    result = _hr("study", "compliance", "--from", "2026-01-05", "--to", "2026-01-06")
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows == [
        ["user_id", "cohort", "day", "worn_minutes", "valid", "first_reading", "last_reading"],
        ["p1", "", "2026-01-05", "601", "true", "2026-01-05T00:00:00Z", "2026-01-05T10:00:00Z"],
        ["p1", "", "2026-01-06", "", "", "", ""],
    ]


def test_hr_audit_filters_by_participant_key_and_day_and_prunes(
    hr_home: Path, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(conn, AuditEntry(7, "/timeseries", ["p1"], "2026-01-05", "2026-01-06", 200))
    record(conn, AuditEntry(8, "/study/participants", ["p1", "p2"], None, None, 200))
    record(conn, AuditEntry(None, "/users/{user_id}", ["p2"], None, None, 404))
    conn.execute("UPDATE api_audit_log SET at = now() - interval '40 days' WHERE key_id = 7")
    everything = [line.split()[2:] for line in _hr("audit").stdout.splitlines()]
    assert everything == [
        ["no", "key", "404", "/users/{user_id}", "p2"],
        ["key", "8", "200", "/study/participants", "p1,p2"],
        ["key", "7", "200", "/timeseries", "2026-01-05..2026-01-06", "p1"],
    ]
    assert [line.split()[-1] for line in _hr("audit", "--user", "p2").stdout.splitlines()] == ["p2", "p1,p2"]
    assert [line.split()[3] for line in _hr("audit", "--key", "7").stdout.splitlines()] == ["7"]
    recent = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    assert len(_hr("audit", "--since", recent).stdout.splitlines()) == 2
    refused = _hr("audit", "--prune")
    assert refused.exit_code == 1 and "HR_AUDIT_RETENTION_DAYS is not set" in refused.output
    monkeypatch.setenv("HR_AUDIT_RETENTION_DAYS", "30")
    from hr_assets.settings import get_settings

    get_settings.cache_clear()
    assert _hr("audit", "--prune").output == "deleted 1 audit row(s) older than 30 days\n"
    assert conn.execute("SELECT count(*) FROM api_audit_log").fetchone() == (2,)
