"""The operator's command line: users, database, partitions of recent days."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from hr_assets.cli import main
from hr_assets.domain.planning import backfill_ranges
from hr_assets.domain.user_day import UserDay, complete_days
from hr_assets.local import localdb


@pytest.fixture
def runner(hr_home: Path) -> CliRunner:
    return CliRunner()


def test_users_add_list_update_retire(runner: CliRunner, conn: psycopg.Connection) -> None:
    added = runner.invoke(
        main,
        [
            "users",
            "add",
            "alice",
            "--timezone",
            "Europe/Berlin",
            "--seed",
            "5",
            "--start-date",
            "2025-01-01",
            "--name",
            "Alice",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "added alice (Europe/Berlin, simulated, from 2025-01-01)" in added.output
    row = conn.execute("SELECT display_name, timezone, source, seed, start_date FROM users").fetchone()
    assert row == ("Alice", "Europe/Berlin", "simulated", 5, date(2025, 1, 1))

    assert runner.invoke(main, ["users", "update", "alice", "--timezone", "Asia/Tokyo"]).exit_code == 0
    listed = json.loads(runner.invoke(main, ["users", "list", "--json"]).output)
    assert [(u["id"], u["timezone"], u["retired_at"]) for u in listed] == [("alice", "Asia/Tokyo", None)]

    assert runner.invoke(main, ["users", "retire", "alice"]).exit_code == 0
    assert runner.invoke(main, ["users", "list"]).output == ""
    assert "retired" in runner.invoke(main, ["users", "list", "--all"]).output
    # Retiring keeps the row; reactivating schedules the user again.
    assert runner.invoke(main, ["users", "update", "alice", "--reactivate"]).exit_code == 0
    assert "alice" in runner.invoke(main, ["users", "list"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Alice", "--timezone", "UTC", "--seed", "1"], "invalid user id 'Alice'"),
        (["a b", "--timezone", "UTC", "--seed", "1"], "invalid user id 'a b'"),
        (["x" * 65, "--timezone", "UTC", "--seed", "1"], "1 to 64 lower-case letters"),
        (["bob", "--timezone", "Mars/Base", "--seed", "1"], "unknown IANA time zone 'Mars/Base'"),
        (["bob", "--timezone", "UTC", "--source", "garmin"], "unknown source 'garmin'"),
        (["bob", "--timezone", "UTC"], "a simulated user needs a seed"),
        (
            ["bob", "--timezone", "UTC", "--source", "fitbit_export", "--export-path", "/no/such/folder"],
            "is not a folder",
        ),
        (["bob", "--timezone", "UTC", "--seed", "1", "--config", "novalue"], "expected KEY=VALUE"),
    ],
)
def test_users_add_refuses_bad_input_with_a_clear_error(
    runner: CliRunner, conn: psycopg.Connection, args: list[str], message: str
) -> None:
    result = runner.invoke(main, ["users", "add", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_adding_a_user_twice_is_refused(runner: CliRunner) -> None:
    args = ["users", "add", "bob", "--timezone", "UTC", "--seed", "1"]
    assert runner.invoke(main, args).exit_code == 0
    again = runner.invoke(main, args)
    assert again.exit_code != 0 and "user 'bob' already exists" in again.output


def test_retiring_an_unknown_user_is_an_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["users", "retire", "nobody"])
    assert result.exit_code != 0 and "no user 'nobody'" in result.output


def test_export_user_starts_at_its_first_day_of_data(
    runner: CliRunner, conn: psycopg.Connection, tmp_path: Path
) -> None:
    folder = tmp_path / "Takeout" / "Fitbit" / "Global Export Data"
    folder.mkdir(parents=True)
    for day in ("2024-02-21", "2024-02-22"):
        (folder / f"heart_rate-{day}.json").write_text("[]")
    result = runner.invoke(
        main,
        [
            "users",
            "add",
            "carol",
            "--timezone",
            "Asia/Tokyo",
            "--source",
            "fitbit_export",
            "--export-path",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    # Tokyo is ahead of UTC: the first UTC file day starts on that same local date.
    row = conn.execute("SELECT start_date, source_config->>'path' FROM users WHERE id = 'carol'").fetchone()
    assert row == (date(2024, 2, 21), str(tmp_path))


def test_complete_days_are_per_time_zone() -> None:
    # At 02:00 UTC on 2025-06-10 it is 11:00 in Tokyo and still 19:00 on the 9th in Los Angeles.
    now = datetime(2025, 6, 10, 2, 0, tzinfo=UTC)
    assert complete_days("Asia/Tokyo", 2, now=now) == [date(2025, 6, 8), date(2025, 6, 9)]
    assert complete_days("America/Los_Angeles", 2, now=now) == [date(2025, 6, 7), date(2025, 6, 8)]


def test_planned_ranges_are_exactly_the_partitions_dagster_runs() -> None:
    """A range of two multi-partition keys is a rectangle to Dagster: dates x users in the users
    dimension's order, which is the order they were added in, not alphabetical."""
    import dagster as dg

    from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME, user_day_partitions

    order = ["user1", "user2", "alice"]
    requested = {"user2": [date(2025, 6, 1), date(2025, 6, 2)], "alice": [date(2025, 6, 2)], "user1": []}
    requested["user1"] = [date(2025, 6, 2), date(2025, 6, 3)]
    ranges = backfill_ranges(requested, {}, order)
    assert len(ranges) == 3
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(USERS_PARTITION_NAME, order)
        for partitions in ranges:
            key_range = dg.PartitionKeyRange(partitions.start.key, partitions.end.key)
            selected = user_day_partitions.get_partition_keys_in_range(key_range, dynamic_partitions_store=instance)
            assert sorted(selected) == sorted(p.key for p in partitions.partitions(order))
    covered = {p.key for r in ranges for p in r.partitions(order)}
    assert covered == {UserDay(u, d).key for u, days in requested.items() for d in days}


def test_embedded_server_is_reused_and_stopped(tmp_path: Path) -> None:
    root = tmp_path / "pg"
    first = localdb.ensure_running(root)
    try:
        again = localdb.ensure_running(root)
        assert again.port == first.port
        with psycopg.connect(first.url()) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert (root / "password").stat().st_mode & 0o077 == 0
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(first.url().replace(first.password, "wrong"))
    finally:
        assert localdb.stop(root)
    assert localdb.running_server(root) is None
    assert not localdb.stop(root)


def test_api_keys_create_list_revoke(runner: CliRunner, conn: psycopg.Connection) -> None:
    assert runner.invoke(main, ["users", "add", "alice", "-z", "UTC", "--seed", "1"]).exit_code == 0
    made = runner.invoke(main, ["api-keys", "create", "--user", "alice", "--name", "alice's phone"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("hr_") and len(secret) == 46
    stored = conn.execute("SELECT key_hash, prefix, user_ids FROM api_keys").fetchone()
    assert stored is not None and secret not in str(stored) and stored[1] == secret[:9] and stored[2] == ["alice"]
    listed = runner.invoke(main, ["api-keys", "list"]).output
    assert f"{secret[:9]}..." in listed and "alice's phone" in listed and secret not in listed
    assert runner.invoke(main, ["api-keys", "revoke", "1"]).exit_code == 0
    assert runner.invoke(main, ["api-keys", "list"]).output == ""
    assert "revoked" in runner.invoke(main, ["api-keys", "list", "--revoked"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody"], "no user 'nobody'"),
        ([], "say what the key may read"),
        (["--all", "--user", "alice"], "not several"),
    ],
)
def test_api_keys_create_refuses(runner: CliRunner, conn: psycopg.Connection, args: list[str], message: str) -> None:
    runner.invoke(main, ["users", "add", "alice", "-z", "UTC", "--seed", "1"])
    result = runner.invoke(main, ["api-keys", "create", *args])
    assert result.exit_code != 0 and message in result.output


def test_api_without_keys_refuses_a_public_address(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    from hr_assets.settings import get_settings

    monkeypatch.setenv("HR_API_AUTH", "off")
    get_settings.cache_clear()
    result = runner.invoke(main, ["api", "--host", "0.0.0.0"])
    assert result.exit_code != 0 and "allowed only on loopback, not 0.0.0.0" in result.output


def test_backfill_of_users_and_dates_in_ranged_runs_with_a_summary(runner: CliRunner, conn: psycopg.Connection) -> None:
    import dagster as dg

    for user_id, zone, seed in (("alice", "Europe/Berlin", 1), ("bob", "Europe/Berlin", 2), ("carol", "UTC", 3)):
        assert (
            runner.invoke(
                main, ["users", "add", user_id, "-z", zone, "--seed", str(seed), "--start-date", "2025-01-01"]
            ).exit_code
            == 0
        )
    first = runner.invoke(
        main, ["backfill", "--user", "alice", "--user", "bob", "--from", "2025-06-01", "--to", "2025-06-03"]
    )
    assert first.exit_code == 0, first.output
    assert "loading 6 partition(s) in 1 run(s)" in first.output
    assert "[1/1] 2025-06-01|alice...2025-06-03|bob (6 partitions" in first.output
    assert "landed 6 of 6 partition(s)" in first.output
    loaded = conn.execute("SELECT user_id, count(*) FROM activities_heart_summary GROUP BY 1 ORDER BY 1").fetchall()
    assert loaded == [("alice", 3), ("bob", 3)]
    # Loaded days are skipped; a day between two that are not is loaded again rather than split.
    again = runner.invoke(main, ["backfill", "--from", "2025-06-01", "--to", "2025-06-04"])
    assert again.exit_code == 0, again.output
    assert "loading 6 partition(s) in 2 run(s)" in again.output
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
    assert all(run.tags["hr/purpose"] == "backfill" for run in runs) and len(runs) == 3
    assert (
        "are loaded already" in runner.invoke(main, ["backfill", "--from", "2025-06-01", "--to", "2025-06-04"]).output
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody"], "no active user nobody"),
        (["--last-days", "2", "--from", "2025-06-01"], "--last-days or --from/--to, not both"),
        (["--from", "2025-06-05", "--to", "2025-06-01"], "--to is before --from"),
        (["--from", "June"], "'June' does not match the format"),
    ],
)
def test_backfill_refuses_bad_options(
    runner: CliRunner, conn: psycopg.Connection, args: list[str], message: str
) -> None:
    result = runner.invoke(main, ["backfill", *args])
    assert result.exit_code != 0 and message in result.output, result.output


def test_backfill_says_how_many_records_went_to_quarantine_and_hr_quarantine_lists_them(
    runner: CliRunner, conn: psycopg.Connection, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    good = [{"dateTime": f"06/01/25 10:00:{s:02d}", "value": {"bpm": 60 + s, "confidence": 2}} for s in range(10)]
    bad = {"dateTime": "06/01/25 10:00:30", "value": {"bpm": 999, "confidence": 2}}
    (folder / "heart_rate-2025-06-01.json").write_text(json.dumps([*good, bad]))
    (folder / "heart_rate_2025-06-01.csv").write_text(
        "timestamp,beats per minute,data source\n2025-06-01T11:00:00Z,70,Watch\n2025-06-01T11:00:05Z,abc,Watch\n"
    )
    added = runner.invoke(
        main, ["users", "add", "dana", "-z", "UTC", "--source", "fitbit_export", "--export-path", str(folder)]
    )
    assert added.exit_code == 0, added.output

    done = runner.invoke(main, ["backfill", "--user", "dana", "--from", "2025-06-01", "--to", "2025-06-01"])
    assert done.exit_code == 0, done.output
    assert "landed 1 of 1 partition(s)" in done.output
    summary = done.output.strip().splitlines()[-1]
    assert summary.startswith("2 record(s) went to quarantine: hr quarantine --since "), done.output
    since = summary.split("--since ")[1].split()[0]

    listed = runner.invoke(main, ["quarantine", "--since", since])
    assert listed.exit_code == 0, listed.output
    # Each record names its file and its place in it: the JSON element, the CSV line.
    assert "dana 2025-06-01 intraday (fitbit_export:" in listed.output
    assert "(heart_rate-2025-06-01.json[10]): impossible bpm 999" in listed.output
    assert "(heart_rate_2025-06-01.csv:3):" in listed.output
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (2,)
    assert (
        runner.invoke(main, ["quarantine", "--user", "nobody"]).output == "nothing in quarantine for that selection\n"
    )


def test_commands_before_setup_say_to_run_it_without_creating_a_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hr_assets.settings import get_settings

    monkeypatch.delenv("HR_DATABASE_URL", raising=False)
    monkeypatch.setenv("HR_HOME", str(tmp_path / "hr"))
    get_settings.cache_clear()
    added = CliRunner().invoke(main, ["users", "add", "alice", "--timezone", "Europe/Berlin", "--seed", "5"])
    assert added.exit_code == 1
    assert added.output == (
        f"Error: there is no warehouse yet: run `hr setup` first (it creates the embedded database under "
        f"{tmp_path / 'hr'})\n"
    )
    assert not (tmp_path / "hr" / "postgres").exists()
    # `hr db status` says so and exits 3 (not running), as pg_ctl status does.
    status = CliRunner().invoke(main, ["db", "status"])
    assert (status.exit_code, status.output) == (3, "not running\n")


def test_a_schema_behind_is_one_sentence_without_sql(runner: CliRunner, conn: psycopg.Connection) -> None:
    conn.execute("DROP TABLE users CASCADE")
    result = runner.invoke(main, ["users", "add", "alice", "--timezone", "Europe/Berlin", "--seed", "5"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: the warehouse has no schema yet, or an older one than this code: run `hr setup`\n"
    ), result.output


def test_users_and_keys_lists_have_a_header_row(runner: CliRunner, conn: psycopg.Connection) -> None:
    assert runner.invoke(main, ["users", "add", "alice", "-z", "Europe/Berlin", "--seed", "5"]).exit_code == 0
    assert runner.invoke(main, ["api-keys", "create", "--user", "alice"]).exit_code == 0
    users = runner.invoke(main, ["users", "list"]).output.splitlines()
    assert users[0].split() == ["id", "timezone", "source", "cohort", "first", "day", "state"]
    assert users[1].startswith("alice ")
    keys = runner.invoke(main, ["api-keys", "list"]).output.splitlines()
    assert keys[0].split()[:3] == ["id", "key", "reads"] and "alice" in keys[1]
