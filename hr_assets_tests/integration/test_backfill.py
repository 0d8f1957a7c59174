"""Planning a backfill (hr_assets.local.backfill.plan_backfill) against a real warehouse and a Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import psycopg
import pytest

from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.local.backfill import DEFAULT_BACKFILL_DAYS, UnknownUsers, plan_backfill
from hr_assets.warehouse.db import Warehouse
from hr_assets.warehouse.users import NewUser, User, add_user, list_users

NOW = datetime(2025, 1, 20, 12, tzinfo=UTC)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def active(conn: psycopg.Connection) -> list[User]:
    for user_id in ("alice", "bob"):
        add_user(conn, NewUser(user_id, "UTC", date(2025, 1, 1), seed=1), known_sources={"simulated"})
    return list_users(conn)


def test_the_last_days_of_the_users_asked_for(db_url: str, instance: dg.DagsterInstance, active: list[User]) -> None:
    plan = plan_backfill(Warehouse(db_url), instance, active, user_ids=["alice"], last_days=3, now=NOW)
    assert plan.requested == {"alice": [date(2025, 1, 17), date(2025, 1, 18), date(2025, 1, 19)]}
    assert plan.day_count == plan.partition_count == 3
    # The users partitions of every active user are registered on the way.
    assert sorted(instance.get_dynamic_partitions(USERS_PARTITION_NAME)) == ["alice", "bob"]


def test_without_dates_the_default_days_of_every_active_user(
    db_url: str, instance: dg.DagsterInstance, active: list[User]
) -> None:
    plan = plan_backfill(Warehouse(db_url), instance, active, now=NOW)
    assert {user: len(days) for user, days in plan.requested.items()} == {
        "alice": DEFAULT_BACKFILL_DAYS,
        "bob": DEFAULT_BACKFILL_DAYS,
    }
    assert plan.partition_count == 2 * DEFAULT_BACKFILL_DAYS


def test_dates_before_the_start_date_ask_for_nothing(
    db_url: str, instance: dg.DagsterInstance, active: list[User]
) -> None:
    plan = plan_backfill(Warehouse(db_url), instance, active, first=date(2024, 1, 1), last=date(2024, 12, 31), now=NOW)
    assert plan.day_count == 0 and plan.ranges == []


def test_users_that_are_not_active_are_named(db_url: str, instance: dg.DagsterInstance, active: list[User]) -> None:
    with pytest.raises(UnknownUsers, match="no active user carol, dave") as raised:
        plan_backfill(Warehouse(db_url), instance, active, user_ids=["alice", "dave", "carol"], now=NOW)
    assert raised.value.user_ids == ["carol", "dave"]
