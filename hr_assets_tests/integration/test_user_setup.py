"""The defaults ``hr`` gives users (hr_assets.domain.user_setup): demo users, the first date to load."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg

from hr_assets.domain.user_setup import DEFAULT_USERS_HISTORY_DAYS, default_start_date, register_default_users
from hr_assets.sources import UserProfile
from hr_assets.warehouse.users import NewUser, add_user, list_users
from hr_assets_tests.unit.test_fitbit_export import WRITERS, utc

TODAY = date(2025, 6, 30)


def test_a_source_without_a_range_starts_the_default_history_back() -> None:
    simulated = UserProfile("alice", "UTC", "simulated", 1)
    assert default_start_date(simulated, TODAY) == date(2025, 5, 31)
    assert (TODAY - default_start_date(simulated, TODAY)).days == DEFAULT_USERS_HISTORY_DAYS


def test_an_unknown_source_starts_the_default_history_back() -> None:
    assert default_start_date(UserProfile("alice", "UTC", "no-such-source"), TODAY) == date(2025, 5, 31)


def test_an_export_starts_at_its_first_day(tmp_path: Path) -> None:
    writer = WRITERS[sorted(WRITERS)[0]]
    writer(tmp_path, [(utc(2024, 1, 5, 12, 0, 0), 60), (utc(2024, 3, 1, 12, 0, 0), 61)])
    export = UserProfile("alice", "UTC", "fitbit_export", source_config={"path": str(tmp_path)})
    assert default_start_date(export, TODAY) == date(2024, 1, 5)


def test_demo_users_go_into_an_empty_registry_once(conn: psycopg.Connection) -> None:
    assert register_default_users(conn, TODAY) == ["user1", "user2"]
    users = {u.id: u for u in list_users(conn)}
    assert {u: (users[u].timezone, users[u].seed, users[u].start_date) for u in users} == {
        "user1": ("Europe/Berlin", 23, date(2025, 5, 31)),
        "user2": ("America/New_York", 37, date(2025, 5, 31)),
    }
    assert register_default_users(conn, TODAY) == []


def test_demo_users_stay_out_of_a_registry_an_operator_filled(conn: psycopg.Connection) -> None:
    add_user(conn, NewUser("carol", "UTC", date(2025, 1, 1), seed=1), known_sources={"simulated"})
    assert register_default_users(conn, TODAY) == []
    assert [u.id for u in list_users(conn)] == ["carol"]
