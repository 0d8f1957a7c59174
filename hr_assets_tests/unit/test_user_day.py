"""hr_assets.domain.user_day: the partition type every schedule, sensor, check and load speaks in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hr_assets.domain.user_day import PartitionKeyError, UserDay, complete_days, latest_complete_day, parse_keys

BERLIN = "Europe/Berlin"
SPRING_FORWARD = date(2026, 3, 29)  # Berlin: 02:00 CET -> 03:00 CEST, a 23-hour day
FALL_BACK = date(2026, 10, 25)  # Berlin: 03:00 CEST -> 02:00 CET, a 25-hour day


def test_the_key_is_dagsters_multi_partition_key_and_parses_back() -> None:
    partition = UserDay("user-1", date(2025, 6, 1))
    assert partition.key == str(partition) == "2025-06-01|user-1"
    assert UserDay.parse(partition.key) == partition


def test_a_user_id_keeps_everything_after_the_first_separator() -> None:
    # User ids never hold "|" (USER_ID_RE); the parser splits once all the same, at the first one.
    assert UserDay.parse("2025-06-01|a|b") == UserDay("a|b", date(2025, 6, 1))


@pytest.mark.parametrize(
    "key", ["2025-06-01", "2025-06-01|", "|user1", "2025-13-01|user1", "user1|2025-06-01", "", "01.06.2025|user1"]
)
def test_what_is_not_a_partition_key_is_refused_naming_it(key: str) -> None:
    with pytest.raises(PartitionKeyError) as refused:
        UserDay.parse(key)
    assert str(refused.value) == f"{key!r} is not a partition key (YYYY-MM-DD|user)"
    assert isinstance(refused.value, ValueError)


def test_partitions_sort_by_user_then_day_unlike_their_keys() -> None:
    keys = ["2025-06-02|alice", "2025-06-01|bob", "2025-06-01|alice"]
    assert parse_keys(keys) == [
        UserDay("alice", date(2025, 6, 1)),
        UserDay("alice", date(2025, 6, 2)),
        UserDay("bob", date(2025, 6, 1)),
    ]
    assert sorted(keys) != [p.key for p in parse_keys(keys)]  # the key's own order is by day first


@pytest.mark.parametrize(
    ("day", "hours", "start_utc"),
    [
        (date(2026, 6, 1), 24, datetime(2026, 5, 31, 22, tzinfo=UTC)),  # CEST, UTC+2
        (SPRING_FORWARD, 23, datetime(2026, 3, 28, 23, tzinfo=UTC)),  # starts in CET, UTC+1
        (FALL_BACK, 25, datetime(2026, 10, 24, 22, tzinfo=UTC)),  # starts in CEST
    ],
)
def test_the_window_is_the_local_day_in_utc(day: date, hours: int, start_utc: datetime) -> None:
    start, end = UserDay("u", day).window(BERLIN)
    assert (start, end - start) == (start_utc, timedelta(hours=hours))
    assert start.utcoffset() == timedelta(0)
    assert UserDay("u", day + timedelta(days=1)).window(BERLIN)[0] == end  # days tile the timeline


def test_the_latest_complete_day_depends_on_the_users_time_zone() -> None:
    now = datetime(2025, 6, 10, 2, 0, tzinfo=UTC)  # Tokyo 11:00 on the 10th, Los Angeles 19:00 on the 9th
    assert latest_complete_day("Asia/Tokyo", now) == date(2025, 6, 9)
    assert latest_complete_day("America/Los_Angeles", now) == date(2025, 6, 8)
    assert latest_complete_day("UTC", now) == date(2025, 6, 9)


def test_complete_days_are_the_last_n_ended_days_oldest_first() -> None:
    now = datetime(2025, 6, 10, 2, 0, tzinfo=UTC)
    assert complete_days("America/Los_Angeles", 3, now) == [date(2025, 6, 6), date(2025, 6, 7), date(2025, 6, 8)]
    assert complete_days("UTC", 1, now) == [date(2025, 6, 9)]
    assert complete_days("UTC", 0, now) == []
