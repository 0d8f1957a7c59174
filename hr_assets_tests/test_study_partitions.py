"""Where the partition space starts (the study's earliest day, not a fixed year), and what ``hr backfill`` says when
participants' start dates cut the range asked for."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
from click.testing import CliRunner

from hr_assets import localdb
from hr_assets.cli import main
from hr_assets.partition_space import FALLBACK_START, partitions_start
from hr_assets.settings import HrSettings
from hr_assets_tests.study_data import register, wear


def test_the_space_starts_at_the_earliest_start_date_or_loaded_day(db_url: str, conn: psycopg.Connection) -> None:
    settings = HrSettings(database_url=db_url)
    assert partitions_start(settings) == FALLBACK_START  # nobody registered yet
    register(conn, "late", start=date(2026, 11, 20))
    register(conn, "early", start=date(2026, 10, 1))
    assert partitions_start(settings) == date(2026, 10, 1)
    # A day loaded before a start date that was moved later stays inside the space (its keys keep working).
    wear(conn, "late", date(2026, 9, 15), 700)
    assert partitions_start(settings) == date(2026, 9, 15)
    # An explicit setting is taken as it is.
    assert partitions_start(HrSettings(database_url=db_url, partitions_start_date=date(2026, 12, 1))) == date(
        2026, 12, 1
    )


def test_without_a_warehouse_to_ask_the_space_starts_in_2015(empty_db_url: str) -> None:
    assert partitions_start(HrSettings(database_url=None)) == FALLBACK_START
    unreachable = f"postgresql://postgres@127.0.0.1:{localdb.free_port()}/hr"
    assert partitions_start(HrSettings(database_url=unreachable)) == FALLBACK_START
    assert partitions_start(HrSettings(database_url=empty_db_url)) == FALLBACK_START  # not migrated yet


def test_backfill_names_the_participants_whose_start_date_cuts_the_range(
    hr_home: Path, conn: psycopg.Connection
) -> None:
    register(conn, "user1", start=date(2025, 7, 20), seed=1)
    register(conn, "user2", start=date(2025, 1, 1), seed=2)
    result = CliRunner().invoke(main, ["backfill", "--user", "user1", "--from", "2025-07-05", "--to", "2025-07-10"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "user1 starts on 2025-07-20: no day before it is loaded (hr users update user1 --start-date YYYY-MM-DD "
        "moves it)",
        "no complete days to load for the users and dates asked for",
    ]
