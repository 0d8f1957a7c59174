"""A participant's withdrawal from their own link: the grant revoked at Google, the participant retired, and their
data kept or deleted (HR_WITHDRAWAL_DATA), checked in every table that holds a user_id."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from hr_assets.settings import get_settings
from hr_assets.warehouse.invitations import participant_states
from hr_assets.warehouse.migrations import migrate
from hr_assets_tests.browser.chromium import SimulatedUser, load_simulated
from hr_assets_tests.enrol.helpers import TEST_PUBLIC_URL, Enrolment, enrolment_environment, local
from hr_assets_tests.google_fake import serving

DAYS = [date(2026, 3, 1), date(2026, 3, 2)]
# Tables that keep a withdrawn participant's id by design: the withdrawal record itself (so the operator sees
# "withdrawn" and the link answers once). users has an id column, not user_id: the registry keeps the retired id.
KEEPS_THE_ID = {"enrolment_withdrawals"}


def _tables_with_user_id(conn: psycopg.Connection) -> list[str]:
    """Every table and continuous aggregate of the schema with a user_id column (views over them excluded)."""
    rows = conn.execute(
        """
        SELECT c.table_name FROM information_schema.columns AS c
        JOIN pg_class AS k ON k.relname = c.table_name AND k.relkind IN ('r', 'p')
        JOIN pg_namespace AS n ON n.oid = k.relnamespace AND n.nspname = c.table_schema
        WHERE c.table_schema = 'public' AND c.column_name = 'user_id'
        UNION
        SELECT view_name FROM timescaledb_information.continuous_aggregates
        WHERE to_regclass('timescaledb_information.continuous_aggregates') IS NOT NULL
        """
        if _has_timescale(conn)
        else """
        SELECT c.table_name FROM information_schema.columns AS c
        JOIN pg_class AS k ON k.relname = c.table_name AND k.relkind IN ('r', 'p')
        JOIN pg_namespace AS n ON n.oid = k.relnamespace AND n.nspname = c.table_schema
        WHERE c.table_schema = 'public' AND c.column_name = 'user_id'
        """
    ).fetchall()
    return sorted(row[0] for row in rows)


def _has_timescale(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone() == (1,)


def _rows_per_table(conn: psycopg.Connection, user_id: str) -> dict[str, int]:
    counts = {}
    for table in _tables_with_user_id(conn):
        statement = sql.SQL("SELECT count(*) FROM {} WHERE user_id = %s").format(sql.Identifier(table))
        row = conn.execute(statement, (user_id,)).fetchone()
        counts[table] = row[0] if row else 0
    return counts


def _enrol_two_with_data(enrolment: Enrolment) -> str:
    """alice and bob with two loaded days each (readings, summaries, aggregates, load records), a quarantined
    record each, both enrolled through their links; alice's withdrawal link."""
    load_simulated(enrolment.db_url, [SimulatedUser("alice", 1, "Europe/Berlin"), SimulatedUser("bob", 2, "UTC")], DAYS)
    enrolment.conn.execute("UPDATE users SET source = 'google_health', display_name = initcap(id) || ' Example'")
    for user_id in ("alice", "bob"):
        enrolment.conn.execute(
            "INSERT INTO quarantine (user_id, date, payload, source, record, reason) "
            "VALUES (%s, %s, 'intraday', 'google_health', '{}', 'bpm out of range')",
            (user_id, DAYS[0]),
        )
    client = enrolment.client()
    links = {user_id: enrolment.invite(user_id) for user_id in ("alice", "bob")}
    pages = {user_id: enrolment.connect(client, links[user_id], f"{user_id}@example.com") for user_id in links}
    found = re.search(r'href="(http://testserver/enroll/withdraw/[A-Za-z0-9_-]+)"', pages["alice"].text)
    assert found is not None
    return found[1]


def _withdraw(enrolment: Enrolment, link: str, **settings: str) -> str:
    client = enrolment.client(**settings)
    page = client.get(local(link))
    assert page.status_code == 200 and "Withdraw from the study" in page.text
    # Opening the page changed nothing: the participant is still connected.
    assert participant_states(enrolment.conn, ["alice"], datetime.now(UTC))["alice"].state == "connected"
    done = client.post(local(link))
    assert done.status_code == 200 and "You have withdrawn" in done.text
    # The link works once.
    assert client.get(local(link)).status_code == 404 and client.post(local(link)).status_code == 404
    return done.text


def _assert_withdrawn(enrolment: Enrolment, data: str) -> None:
    conn = enrolment.conn
    assert enrolment.fake.live_grants("alice@example.com") == 0 and enrolment.fake.live_grants("bob@example.com") == 1
    [(retired_at,)] = conn.execute("SELECT retired_at FROM users WHERE id = 'alice'").fetchall()
    assert retired_at is not None
    state = participant_states(conn, ["alice", "bob"], datetime.now(UTC))
    assert state["alice"].state == "withdrawn" and state["alice"].withdrawal_data == data
    assert state["bob"].state == "connected"
    assert conn.execute("SELECT user_id FROM google_health_tokens").fetchall() == [("bob",)]


def test_withdrawing_with_keep_revokes_the_grant_retires_and_keeps_the_data(enrolment: Enrolment) -> None:
    link = _enrol_two_with_data(enrolment)
    before = _rows_per_table(enrolment.conn, "alice")

    page = _withdraw(enrolment, link)

    assert "stays with the study" in page
    _assert_withdrawn(enrolment, "keep")
    after = _rows_per_table(enrolment.conn, "alice")
    collected = ("activities_heart_intraday", "activities_heart_summary", "partition_loads", "quarantine")
    assert all(after[table] == before[table] > 0 for table in collected)


def _withdraw_deleting(enrolment: Enrolment) -> None:
    link = _enrol_two_with_data(enrolment)
    bob_before = _rows_per_table(enrolment.conn, "bob")
    alice_before = _rows_per_table(enrolment.conn, "alice")
    assert all(alice_before[t] > 0 for t in alice_before if t.startswith("activities_heart"))

    page = _withdraw(enrolment, link, withdrawal_data="delete")

    assert "has been deleted" in page
    _assert_withdrawn(enrolment, "delete")
    left = {table: count for table, count in _rows_per_table(enrolment.conn, "alice").items() if count}
    assert set(left) <= KEEPS_THE_ID, left
    assert _rows_per_table(enrolment.conn, "bob") == bob_before
    # The registry keeps the retired id only: no name, no source settings.
    names = dict(enrolment.conn.execute("SELECT id, display_name || ' ' || source_config::text FROM users").fetchall())
    assert names == {"alice": "alice {}", "bob": "Bob Example {}"}


def test_withdrawing_with_delete_leaves_nothing_of_the_participant_in_any_table(enrolment: Enrolment) -> None:
    _withdraw_deleting(enrolment)


@pytest.fixture
def timescale_enrolment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Enrolment]:
    base = os.environ.get("HR_TEST_TIMESCALE_URL")
    if not base:
        pytest.skip("HR_TEST_TIMESCALE_URL is not set (a TimescaleDB server; .ci/run starts one)")
    name = f"hr_enrol_{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(base, dbname=name)
    try:
        migrate(url, "timescaledb")
        monkeypatch.setenv("HR_DATABASE_URL", url)
        monkeypatch.setenv("HR_HOME", str(tmp_path / "hr"))
        with serving() as fake, psycopg.connect(url, autocommit=True, options="-c timezone=UTC") as conn:
            enrolment_environment(monkeypatch, fake, TEST_PUBLIC_URL)
            yield Enrolment(fake, url, conn, TEST_PUBLIC_URL)
    finally:
        get_settings.cache_clear()
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.timescale
def test_withdrawing_with_delete_clears_the_continuous_aggregates_too(timescale_enrolment: Enrolment) -> None:
    _withdraw_deleting(timescale_enrolment)
    assert {"activities_heart_intraday_1m", "activities_heart_intraday_1d"} <= set(
        _tables_with_user_id(timescale_enrolment.conn)
    )


def test_retiring_a_participant_enrolled_by_link_revokes_with_the_web_client(
    enrolment: Enrolment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from hr_assets.cli import main

    enrolment.register("alice")
    enrolment.connect(enrolment.client(), enrolment.invite("alice"), "alice@example.com")
    # A deployment that enrols by link only has no Desktop app client.
    for name in ("HR_GOOGLE_CLIENT_ID", "HR_GOOGLE_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    get_settings.cache_clear()

    retired = CliRunner().invoke(main, ["users", "retire", "alice"])

    assert retired.exit_code == 0, retired.output
    assert enrolment.fake.live_grants("alice@example.com") == 0
    assert enrolment.conn.execute("SELECT count(*) FROM google_health_tokens").fetchone() == (0,)
