"""The participant status rules against a real PostgreSQL at a fixed instant: every flag at its edge (exactly N
days), due days in the participant's zone, the valid-day windows, and the connection states."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from hr_assets.study import StudyRules, participant_statuses
from hr_assets.warehouse.study import Scope
from hr_assets_tests.study_data import register, wear

AS_OF = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
LAST_DUE = date(2026, 3, 9)  # the newest complete day in UTC at AS_OF
START = date(2026, 2, 1)
RULES = StudyRules(valid_day_minutes=600, flag_no_valid_day_days=3, flag_no_data_days=3)
EVERYONE = Scope(all_users=True, user_ids=frozenset())


def _status(conn: psycopg.Connection, rules: StudyRules = RULES) -> dict[str, dict[str, object]]:
    return {s.user_id: vars(s) for s in participant_statuses(conn, EVERYONE, rules, AS_OF)}


def _worn_until(conn: psycopg.Connection, user_id: str, last_valid: date, then: int, timezone: str = "UTC") -> None:
    """600 worn minutes each day from START to ``last_valid``, then ``then`` minutes each day up to LAST_DUE."""
    day = START
    while day <= LAST_DUE:
        wear(conn, user_id, day, 600 if day <= last_valid else then, timezone)
        day += timedelta(days=1)


def test_no_valid_day_is_raised_after_exactly_n_days_without_one(conn: psycopg.Connection) -> None:
    register(conn, "at-edge", start=START)
    register(conn, "before-edge", start=START)
    _worn_until(conn, "at-edge", LAST_DUE - timedelta(days=3), then=599)  # 3 days of 599 minutes
    _worn_until(conn, "before-edge", LAST_DUE - timedelta(days=2), then=599)
    status = _status(conn)
    assert status["at-edge"]["flags"] == ("no_valid_day",)
    assert status["before-edge"]["flags"] == ()
    # The same days under a rule of 599 minutes are all valid.
    assert _status(conn, StudyRules(599, 3, 3))["at-edge"]["flags"] == ()
    # And with N = 4 the edge moves by a day.
    assert _status(conn, StudyRules(600, 4, 3))["at-edge"]["flags"] == ()


def test_no_data_is_raised_after_exactly_n_days_without_a_reading(conn: psycopg.Connection) -> None:
    register(conn, "at-edge", start=START)
    register(conn, "before-edge", start=START)
    _worn_until(conn, "at-edge", LAST_DUE - timedelta(days=3), then=0)  # loaded, no readings
    _worn_until(conn, "before-edge", LAST_DUE - timedelta(days=2), then=0)
    status = _status(conn)
    assert status["at-edge"]["flags"] == ("no_valid_day", "no_data")
    assert status["before-edge"]["flags"] == ()
    # The newest reading is the last worn minute of the last day with readings; today counts as day 0.
    newest = datetime.combine(LAST_DUE - timedelta(days=3), datetime.min.time(), UTC) + timedelta(minutes=599)
    assert (status["at-edge"]["newest_reading"], status["at-edge"]["days_since_reading"]) == (newest, 4)
    assert _status(conn, StudyRules(600, 3, 4))["at-edge"]["flags"] == ("no_valid_day",)


def test_a_new_participant_is_flagged_only_once_n_of_its_days_were_due(conn: psycopg.Connection) -> None:
    register(conn, "three-days", start=LAST_DUE - timedelta(days=2))
    register(conn, "two-days", start=LAST_DUE - timedelta(days=1))
    register(conn, "starts-tomorrow", start=LAST_DUE + timedelta(days=2))
    status = _status(conn)
    assert status["three-days"]["flags"] == ("no_valid_day", "no_data")
    assert status["two-days"]["flags"] == status["starts-tomorrow"]["flags"] == ()
    assert status["three-days"]["newest_reading"] is None and status["three-days"]["days_since_reading"] is None


def test_valid_days_count_the_last_7_and_30_due_days_and_all_since_the_start(conn: psycopg.Connection) -> None:
    register(conn, "p1", start=START)
    day = START - timedelta(days=5)  # loaded before the start date: not due, not counted
    while day <= LAST_DUE:
        wear(conn, "p1", day, 600)
        day += timedelta(days=1)
    wear(conn, "p1", LAST_DUE - timedelta(days=6), 10)  # one invalid day inside the last 7
    wear(conn, "p1", LAST_DUE - timedelta(days=29), 10)  # one inside the last 30, outside the last 7
    wear(conn, "p1", LAST_DUE - timedelta(days=30), 10)  # just outside the last 30
    status = _status(conn)["p1"]
    due = (LAST_DUE - START).days + 1
    assert (status["valid_days_7"], status["valid_days_30"], status["valid_days_total"]) == (6, 28, due - 3)


def test_due_days_end_at_yesterday_in_the_participants_zone(conn: psycopg.Connection) -> None:
    # At AS_OF (12:00 UTC) it is already 2026-03-11 02:00 at +14: its 2026-03-10 is complete and due.
    register(conn, "kiritimati", start=START, timezone="Pacific/Kiritimati")
    register(conn, "honolulu", start=START, timezone="Pacific/Honolulu")  # 02:00 on 2026-03-10: 03-09 is its last
    for user_id, zone in (("kiritimati", "Pacific/Kiritimati"), ("honolulu", "Pacific/Honolulu")):
        _worn_until(conn, user_id, LAST_DUE - timedelta(days=2), then=0, timezone=zone)
    status = _status(conn)
    assert status["kiritimati"]["flags"] == ("no_valid_day", "no_data")  # 03-08, 03-09, 03-10 without
    assert status["honolulu"]["flags"] == ()  # 03-08, 03-09 without
    assert status["kiritimati"]["days_since_reading"] == 4 and status["honolulu"]["days_since_reading"] == 3


def test_a_retired_participant_is_withdrawn_and_raises_no_flag(conn: psycopg.Connection) -> None:
    retired = datetime(2026, 2, 20, 9, 0, tzinfo=UTC)
    register(conn, "gone", start=START, retired_at=retired)
    status = _status(conn)["gone"]
    assert (status["connection"], status["connection_since"], status["retired"], status["flags"]) == (
        "withdrawn",
        retired,
        True,
        (),
    )


def test_the_google_health_connection_states_and_the_reconnect_flag(conn: psycopg.Connection) -> None:
    for user_id in ("never", "connected", "refused"):
        register(conn, user_id, start=LAST_DUE, source="google_health")
        wear(conn, user_id, LAST_DUE, 700)
    connected_at = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    refused_at = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
    grant = "INSERT INTO google_health_tokens VALUES (%s, 'x', 'scope', %s, %s, %s)"
    conn.execute(grant, ("connected", connected_at, connected_at, None))
    conn.execute(grant, ("refused", connected_at, connected_at, refused_at))
    status = _status(conn)
    assert (status["never"]["connection"], status["never"]["connection_since"]) == ("never_connected", None)
    assert (status["connected"]["connection"], status["connected"]["connection_since"]) == ("connected", connected_at)
    assert (status["refused"]["connection"], status["refused"]["connection_since"]) == ("needs_reconnect", refused_at)
    assert status["refused"]["flags"] == ("needs_reconnect",)
    assert status["connected"]["flags"] == status["never"]["flags"] == ()


def test_a_fitbit_export_folder_missing_or_present(conn: psycopg.Connection, tmp_path: Path) -> None:
    register(conn, "here", start=LAST_DUE, source="fitbit_export", source_config=_config(tmp_path))
    register(conn, "gone", start=LAST_DUE, source="fitbit_export", source_config=_config(tmp_path / "moved"))
    (tmp_path / "file").write_text("not a folder")
    register(conn, "file", start=LAST_DUE, source="fitbit_export", source_config=_config(tmp_path / "file"))
    status = _status(conn)
    assert [status[u]["connection"] for u in ("here", "gone", "file")] == [
        "connected",
        "folder_missing",
        "folder_missing",
    ]
    assert _status(conn)["here"]["connection_since"] is None


def _config(path: Path) -> psycopg.types.json.Jsonb:
    return psycopg.types.json.Jsonb({"path": str(path)})


@pytest.mark.parametrize("cohort", ["site-a", None])
def test_the_cohort_scope_selects_its_participants(conn: psycopg.Connection, cohort: str | None) -> None:
    register(conn, "a1", start=START, cohort="site-a")
    register(conn, "b1", start=START, cohort="site-b")
    register(conn, "none", start=START)
    found = participant_statuses(conn, Scope(True, frozenset(), cohort), RULES, AS_OF)
    assert [s.user_id for s in found] == (["a1"] if cohort else ["a1", "b1", "none"])
    named = participant_statuses(conn, Scope(False, frozenset({"b1", "none"}), cohort), RULES, AS_OF)
    assert [s.user_id for s in named] == ([] if cohort else ["b1", "none"])
