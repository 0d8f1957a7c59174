"""``hr users import``: a roster checked row by row before anything is written."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from hr_assets.cli import main
from hr_assets.domain.roster import RosterError, parse_roster
from hr_assets.sources import SOURCES

HEADER = "id,timezone,source,settings,start_date,seed,name\n"
TODAY = date(2025, 6, 10)


def _parse(rows: str, registered: set[str] | None = None) -> tuple[list[str], list[str]]:
    users, errors = parse_roster(HEADER + rows, SOURCES, registered or set(), today=TODAY)
    return [u.id for u in users], [str(e) for e in errors]


def test_good_rows_become_users(tmp_path: Path) -> None:
    rows = (
        "p001,Europe/Berlin,simulated,,2025-01-01,5,Participant 1\n"
        f'p002,America/New_York,fitbit_export,"{{""path"": ""{tmp_path}""}}",,,\n'
        "p003,Asia/Kathmandu,simulated,{},,7,\n"
    )
    users, errors = parse_roster(HEADER + rows, SOURCES, set(), today=TODAY)
    assert errors == []
    assert [(u.id, u.timezone, u.source, u.start_date, u.seed, u.display_name) for u in users] == [
        ("p001", "Europe/Berlin", "simulated", date(2025, 1, 1), 5, "Participant 1"),
        ("p002", "America/New_York", "fitbit_export", date(2025, 5, 11), None, None),  # an empty export folder
        ("p003", "Asia/Kathmandu", "simulated", date(2025, 5, 11), 7, None),
    ]
    assert users[1].source_config == {"path": str(tmp_path)}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("Alice,UTC,simulated,,,1,", "invalid user id 'Alice'"),
        ("a b,UTC,simulated,,,1,", "invalid user id 'a b'"),
        ("p1,Mars/Base,simulated,,,1,", "unknown IANA time zone 'Mars/Base'"),
        ("p1,UTC,garmin,,,1,", "unknown source 'garmin'"),
        ("p1,UTC,simulated,,,,", "a simulated user needs a seed"),
        ("p1,UTC,simulated,,,one,", "seed 'one' is not an integer"),
        ("p1,UTC,simulated,not json,,1,", "settings: not JSON"),
        ('p1,UTC,simulated,"[1, 2]",,1,', "settings: not a JSON object"),
        ("p1,UTC,simulated,,2025-13-01,1,", "start_date '2025-13-01' is not a date (YYYY-MM-DD)"),
        ("p1,UTC,simulated,,01/02/2025,1,", "start_date '01/02/2025' is not a date"),
        (
            'p1,UTC,fitbit_export,"{""path"": ""/no/such/folder""}",,,',
            "settings: path '/no/such/folder' is not a folder",
        ),
        ("p1,UTC,fitbit_export,,,,", "settings: path None is not a folder"),
        ("p1,UTC,simulated,,,1,name,extra", "more fields than the header"),
    ],
)
def test_each_bad_row_is_reported_with_its_line_and_reason(row: str, reason: str) -> None:
    users, errors = _parse("ok1,UTC,simulated,,,1,\n" + row + "\nok2,UTC,simulated,,,2,\n")
    assert users == ["ok1", "ok2"]
    [error] = errors
    assert error.startswith("line 3") and reason in error, error


def test_every_reason_of_a_row_is_listed() -> None:
    _, [error] = _parse("Bad Id,Mars/Base,garmin,{,x,,\n")
    assert error.startswith("line 2 (Bad Id): ")
    for reason in (
        "invalid user id",
        "unknown IANA time zone",
        "unknown source 'garmin'",
        "settings: not JSON",
        "start_date 'x'",
    ):
        assert reason in error


def test_duplicates_in_the_file_and_ids_already_registered_are_refused() -> None:
    users, errors = _parse("p1,UTC,simulated,,,1,\np2,UTC,simulated,,,2,\np1,UTC,simulated,,,3,\n", {"p2"})
    assert users == ["p1"]
    assert errors == [
        "line 3 (p2): user 'p2' is already registered (hr users update p2 ...)",
        "line 4 (p1): id 'p1' is also on line 2",
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,timezone,source,start_date\n", "missing column(s) settings"),
        ("id,timezone,source,settings,start_date,colour\n", "unknown column(s) colour"),
        ("", "missing column(s) id, timezone, source, settings, start_date"),
    ],
)
def test_a_file_without_the_columns_is_refused_whole(header: str, message: str) -> None:
    with pytest.raises(RosterError, match="line 1: " + message.replace("(", r"\(").replace(")", r"\)")):
        parse_roster(header + "p1,UTC,simulated,,\n", SOURCES, set())


def test_import_registers_the_good_rows_in_one_go_and_syncs_the_partitions(
    hr_home: Path, conn: psycopg.Connection, tmp_path: Path
) -> None:
    import dagster as dg

    from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME

    roster = tmp_path / "roster.csv"
    good = [
        f"p{n:03d},{zone},simulated,,2025-06-01,{n},"
        for n, zone in enumerate(["Europe/Berlin", "America/Chicago", "Europe/Berlin", "Asia/Tokyo"] * 25)
    ]
    roster.write_text(HEADER + "\n".join([*good[:50], "bad,Nowhere/Else,simulated,,,1,", *good[50:]]) + "\n")
    result = CliRunner().invoke(main, ["users", "import", str(roster)])
    assert result.exit_code == 1  # a row was bad
    assert f"{roster}: line 52 (bad): unknown IANA time zone 'Nowhere/Else'" in result.output
    assert "registered 100 user(s); 1 row(s) refused" in result.output
    assert conn.execute("SELECT count(*) FROM users").fetchone() == (100,)
    with dg.DagsterInstance.get() as instance:
        order = instance.get_dynamic_partitions(USERS_PARTITION_NAME)
    assert len(order) == 100
    # Users of one zone next to each other, east to west.
    zones = [conn.execute("SELECT timezone FROM users WHERE id = %s", (u,)).fetchone()[0] for u in order]  # type: ignore[index]
    assert zones == ["Asia/Tokyo"] * 25 + ["Europe/Berlin"] * 50 + ["America/Chicago"] * 25
    again = CliRunner().invoke(main, ["users", "import", str(roster)])
    assert "registered 0 user(s); 101 row(s) refused" in again.output
