"""Which runs load which partitions: the planning functions with exact expected ranges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hr_assets.domain.planning import (
    HISTORY_DAYS_PER_RUN,
    PartitionRange,
    backfill_ranges,
    history_due,
    history_ranges,
    nightly_ranges,
    partition_changes,
    partition_order,
    plan_ranges,
    ration_history,
    requested_days,
)
from hr_assets.domain.user_day import UserDay
from hr_assets.warehouse.users import User


def _user(user_id: str, timezone: str = "UTC", start: date = date(2025, 1, 1), retired: bool = False) -> User:
    retired_at = datetime(2025, 6, 1, tzinfo=UTC) if retired else None
    return User(user_id, user_id, timezone, "simulated", {}, 1, start, retired_at=retired_at)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _r(first_day: str, first_user: str, last_day: str, last_user: str) -> PartitionRange:
    return PartitionRange(date.fromisoformat(first_day), first_user, date.fromisoformat(last_day), last_user)


def _covered(ranges: list[PartitionRange], order: list[str]) -> list[UserDay]:
    return sorted(p for r in ranges for p in r.partitions(order))


# --- plan_ranges ------------------------------------------------------------------------------------


def test_a_rectangle_of_wanted_partitions_is_one_range() -> None:
    order = ["a", "b", "c"]
    wanted = [UserDay(u, d) for u in order for d in _days(date(2025, 6, 1), date(2025, 6, 7))]
    assert plan_ranges(wanted, order) == [_r("2025-06-01", "a", "2025-06-07", "c")]


def test_a_gap_in_the_users_order_splits_a_day_unless_the_user_between_may_be_loaded() -> None:
    order = ["a", "b", "c"]
    wanted = [UserDay("a", date(2025, 6, 1)), UserDay("c", date(2025, 6, 1))]
    assert plan_ranges(wanted, order) == [
        _r("2025-06-01", "a", "2025-06-01", "a"),
        _r("2025-06-01", "c", "2025-06-01", "c"),
    ]
    allowed = {UserDay("b", date(2025, 6, 1))}
    assert plan_ranges(wanted, order, allowed.__contains__) == [_r("2025-06-01", "a", "2025-06-01", "c")]


def test_days_with_different_users_stay_separate_and_the_same_users_merge_across_days() -> None:
    order = ["a", "b"]
    wanted = [
        UserDay("a", date(2025, 6, 1)),
        UserDay("a", date(2025, 6, 2)),
        UserDay("b", date(2025, 6, 2)),
        UserDay("a", date(2025, 6, 3)),
        UserDay("b", date(2025, 6, 3)),
        UserDay("a", date(2025, 6, 5)),
    ]
    assert plan_ranges(wanted, order) == [
        _r("2025-06-01", "a", "2025-06-01", "a"),
        _r("2025-06-02", "a", "2025-06-03", "b"),
        _r("2025-06-05", "a", "2025-06-05", "a"),
    ]


def test_ranges_are_cut_to_their_size_limits() -> None:
    order = [f"u{n}" for n in range(5)]
    wanted = [UserDay(u, d) for u in order for d in _days(date(2025, 6, 1), date(2025, 6, 10))]
    # 5 users x 10 days in pieces of at most 20 partitions: 4 days at a time.
    assert plan_ranges(wanted, order, max_partitions=20) == [
        _r("2025-06-01", "u0", "2025-06-04", "u4"),
        _r("2025-06-05", "u0", "2025-06-08", "u4"),
        _r("2025-06-09", "u0", "2025-06-10", "u4"),
    ]
    # More users than fit in one range for one day: the users are cut too.
    assert plan_ranges(wanted[:1] + [UserDay(u, date(2025, 6, 1)) for u in order], order, max_partitions=2) == [
        _r("2025-06-01", "u0", "2025-06-01", "u1"),
        _r("2025-06-01", "u2", "2025-06-01", "u3"),
        _r("2025-06-01", "u4", "2025-06-01", "u4"),
    ]
    assert plan_ranges(wanted[:10], order, max_days=3) == [
        _r("2025-06-01", "u0", "2025-06-03", "u0"),
        _r("2025-06-04", "u0", "2025-06-06", "u0"),
        _r("2025-06-07", "u0", "2025-06-09", "u0"),
        _r("2025-06-10", "u0", "2025-06-10", "u0"),
    ]


def test_every_range_covers_only_wanted_or_allowed_partitions_and_every_wanted_one_once() -> None:
    order = [f"u{n}" for n in range(7)]
    days = _days(date(2025, 6, 1), date(2025, 6, 9))
    wanted = {UserDay(u, d) for i, u in enumerate(order) for j, d in enumerate(days) if (i * 3 + j * 5) % 4 != 0}
    allowed = {UserDay(u, d) for i, u in enumerate(order) for j, d in enumerate(days) if (i + j) % 3 == 0}
    ranges = plan_ranges(wanted, order, allowed.__contains__, max_partitions=8)
    covered = _covered(ranges, order)
    assert len(covered) == len(set(covered))
    assert wanted <= set(covered) <= wanted | allowed
    assert all(len(r.partitions(order)) <= 8 for r in ranges)


def test_a_user_outside_the_users_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="'ghost' is not a partition of the users dimension"):
        plan_ranges([UserDay("ghost", date(2025, 6, 1))], ["a"])


# --- history ----------------------------------------------------------------------------------------


def test_a_new_users_history_runs_from_its_start_to_its_latest_complete_day() -> None:
    tokyo, angeles = (
        _user("tokyo", "Asia/Tokyo", date(2025, 5, 1)),
        _user("angeles", "America/Los_Angeles", date(2025, 5, 1)),
    )
    now = datetime(2025, 6, 10, 2, tzinfo=UTC)  # Tokyo 11:00 on the 10th, Los Angeles 19:00 on the 9th
    due, cursor = history_due([tokyo, angeles], {}, now)
    assert due == {"tokyo": (date(2025, 5, 1), date(2025, 6, 9)), "angeles": (date(2025, 5, 1), date(2025, 6, 8))}
    assert cursor == {
        "tokyo": {"until": "2025-06-09", "start": "2025-05-01"},
        "angeles": {"until": "2025-06-08", "start": "2025-05-01"},
    }
    # Once asked for, nothing more: later days are the nightly load's.
    assert history_due([tokyo, angeles], cursor, now + timedelta(days=3)) == ({}, cursor)


def test_a_user_added_mid_history_gets_its_own_window_and_retired_users_leave_the_cursor() -> None:
    first = _user("first", start=date(2025, 1, 1))
    now = datetime(2025, 6, 10, 12, tzinfo=UTC)
    _, cursor = history_due([first], {}, now)
    later = _user("later", start=date(2025, 3, 1))
    due, cursor = history_due([first, later], cursor, now + timedelta(days=20))
    assert due == {"later": (date(2025, 3, 1), date(2025, 6, 29))}
    due, cursor = history_due([later], cursor, now + timedelta(days=21))
    assert due == {} and set(cursor) == {"later"}


def test_a_start_date_moved_earlier_opens_the_days_before_it() -> None:
    now = datetime(2025, 6, 5, 12, tzinfo=UTC)
    _, cursor = history_due([_user("mover", start=date(2025, 6, 3))], {}, now)
    due, cursor = history_due([_user("mover", start=date(2025, 6, 1))], cursor, now)
    assert due == {"mover": (date(2025, 6, 1), date(2025, 6, 2))}
    assert cursor == {"mover": {"until": "2025-06-04", "start": "2025-06-01"}}
    # Moving it later and back to where it was asks for nothing again.
    _, cursor = history_due([_user("mover", start=date(2025, 6, 4))], cursor, now)
    assert history_due([_user("mover", start=date(2025, 6, 1))], cursor, now)[0] == {}


def test_a_user_starting_in_the_future_has_no_history_yet() -> None:
    due, cursor = history_due([_user("soon", start=date(2025, 7, 1))], {}, datetime(2025, 6, 5, tzinfo=UTC))
    assert due == {} and cursor == {"soon": {"until": "2025-06-04", "start": "2025-07-01"}}


def test_a_tick_asks_for_a_ration_of_history_cutting_only_its_first_user_newest_days_first() -> None:
    users = [_user("ann", start=date(2025, 1, 1)), _user("bob", start=date(2025, 5, 1)), _user("cy")]
    now = datetime(2025, 6, 10, 12, tzinfo=UTC)  # the latest complete day is 9 June: 160, 40, 160 days due
    ticks: list[dict[str, tuple[date, date]]] = []
    cursor: dict[str, dict[str, str]] = {}
    for minute in range(6):
        due, after = history_due(users, cursor, now + timedelta(minutes=minute))
        taken, cursor = ration_history(due, cursor, after, days=100)
        ticks.append(taken)
    assert ticks == [
        {"ann": (date(2025, 3, 2), date(2025, 6, 9))},  # ann's newest 100; bob and cy wait whole
        {"ann": (date(2025, 1, 1), date(2025, 3, 1)), "bob": (date(2025, 5, 1), date(2025, 6, 9))},
        {"cy": (date(2025, 3, 2), date(2025, 6, 9))},
        {"cy": (date(2025, 1, 1), date(2025, 3, 1))},
        {},
        {},
    ]
    assert cursor == {
        uid: {"until": "2025-06-09", "start": f"2025-0{m}-01"} for uid, m in (("ann", 1), ("bob", 5), ("cy", 1))
    }


def test_a_user_not_reached_keeps_what_was_asked_for_before() -> None:
    # mover's start moved earlier (2 days due again), but the ration is spent before it.
    before = {"mover": {"until": "2025-06-04", "start": "2025-06-03"}}
    users = [_user("ann", start=date(2025, 6, 1)), _user("mover", start=date(2025, 6, 1))]
    due, after = history_due(users, before, datetime(2025, 6, 5, 12, tzinfo=UTC))
    assert due == {"ann": (date(2025, 6, 1), date(2025, 6, 4)), "mover": (date(2025, 6, 1), date(2025, 6, 2))}
    taken, cursor = ration_history(due, before, after, days=4)
    assert taken == {"ann": (date(2025, 6, 1), date(2025, 6, 4))}
    assert cursor == {"ann": {"until": "2025-06-04", "start": "2025-06-01"}, **before}


def test_a_future_start_moved_earlier_but_still_ahead_asks_for_nothing_and_is_recorded() -> None:
    before = {"soon": {"until": "2025-06-04", "start": "2025-07-10"}}
    due, after = history_due([_user("soon", start=date(2025, 7, 1))], before, datetime(2025, 6, 5, 12, tzinfo=UTC))
    assert ration_history(due, before, after, days=4) == ({}, {"soon": {"until": "2025-06-04", "start": "2025-07-01"}})


def test_a_user_retired_while_cut_short_leaves_the_cursor() -> None:
    now = datetime(2025, 6, 10, 12, tzinfo=UTC)
    due, after = history_due([_user("ann")], {}, now)
    _, cursor = ration_history(due, {}, after, days=10)
    assert cursor == {"ann": {"until": "2025-06-09", "start": "2025-05-31"}}
    due, after = history_due([], cursor, now + timedelta(minutes=1))
    assert ration_history(due, cursor, after, days=10) == ({}, {})


def test_history_ranges_skip_loaded_days_and_take_a_year_per_run() -> None:
    user = _user("alice")
    loaded = {date(2025, 1, 3), date(2025, 1, 4)}
    assert history_ranges(user, loaded, date(2025, 1, 1), date(2025, 1, 10)) == [
        _r("2025-01-01", "alice", "2025-01-02", "alice"),
        _r("2025-01-05", "alice", "2025-01-10", "alice"),
    ]
    assert HISTORY_DAYS_PER_RUN == 366  # a leap year of an export is one run
    two_years = history_ranges(user, set(), date(2024, 1, 1), date(2025, 12, 31))
    assert two_years == [
        _r("2024-01-01", "alice", "2024-12-31", "alice"),
        _r("2025-01-01", "alice", "2025-12-31", "alice"),
    ]
    assert len(history_ranges(user, set(), date(2025, 1, 1), date(2025, 2, 9))) == 1  # 40 days: one run


# --- nightly ----------------------------------------------------------------------------------------

# Summer offsets: Tokyo +9, Berlin +2, Los Angeles -7.
ZONES = {"tokyo": "Asia/Tokyo", "berlin": "Europe/Berlin", "angeles": "America/Los_Angeles"}


def _world(order: list[str]) -> list[User]:
    return [_user(u, ZONES[u.rstrip("0123456789")]) for u in order]


@pytest.mark.parametrize(
    ("tick", "expected"),
    [
        # 02:00 UTC: Tokyo 11:00 and Berlin 04:00 on the 10th (their latest day the 9th), Los Angeles
        # 19:00 on the 9th (its latest the 8th).
        (
            datetime(2025, 6, 10, 2, tzinfo=UTC),
            [
                _r("2025-06-07", "angeles", "2025-06-07", "angeles"),
                _r("2025-06-08", "tokyo", "2025-06-08", "angeles"),
                _r("2025-06-09", "tokyo", "2025-06-09", "berlin"),
            ],
        ),
        # 02:00 in Tokyo (17:00 UTC on the 9th): Tokyo's latest day is the 9th, Berlin's (19:00) and
        # Los Angeles's (10:00) the 8th.
        (
            datetime(2025, 6, 10, 2, tzinfo=ZoneInfo("Asia/Tokyo")),
            [
                _r("2025-06-07", "berlin", "2025-06-07", "angeles"),
                _r("2025-06-08", "tokyo", "2025-06-08", "angeles"),
                _r("2025-06-09", "tokyo", "2025-06-09", "tokyo"),
            ],
        ),
    ],
    ids=["02:00 UTC", "02:00 Tokyo"],
)
def test_nightly_ranges_cover_each_users_last_two_complete_local_days(
    tick: datetime, expected: list[PartitionRange]
) -> None:
    order = ["tokyo", "berlin", "angeles"]
    ranges = nightly_ranges(_world(order), tick, order)
    assert ranges == expected
    covered = set(_covered(ranges, order))
    for user in _world(order):
        latest = tick.astimezone(ZoneInfo(user.timezone)).date() - timedelta(days=1)
        assert {UserDay(user.id, latest), UserDay(user.id, latest - timedelta(days=1))} <= covered
        # Never a day that has not ended where the user is.
        assert all(p.day <= latest for p in covered if p.user_id == user.id)


def test_nightly_ranges_of_a_study_in_two_zones_are_three_runs_whatever_its_size() -> None:
    order = [f"berlin{n}" for n in range(150)] + [f"angeles{n}" for n in range(150)]
    ranges = nightly_ranges(_world(order), datetime(2025, 6, 10, 2, tzinfo=UTC), order)
    assert ranges == [
        _r("2025-06-07", "angeles0", "2025-06-07", "angeles149"),
        _r("2025-06-08", "berlin0", "2025-06-08", "angeles149"),
        _r("2025-06-09", "berlin0", "2025-06-09", "berlin149"),
    ]


def test_nightly_ranges_skip_users_not_in_the_dimension_yet_and_days_before_a_start_date() -> None:
    order = ["tokyo", "berlin"]
    users = [*_world(order), _user("late"), _user("newcomer", "Europe/Berlin", start=date(2025, 6, 9))]
    order_with_newcomer = [*order, "newcomer"]
    tick = datetime(2025, 6, 10, 2, tzinfo=UTC)
    assert nightly_ranges(users, tick, order) == [_r("2025-06-08", "tokyo", "2025-06-09", "berlin")]
    # The newcomer started on the 9th: only that day, and no run over its 8th.
    assert nightly_ranges(users, tick, order_with_newcomer) == [
        _r("2025-06-08", "tokyo", "2025-06-08", "berlin"),
        _r("2025-06-09", "tokyo", "2025-06-09", "newcomer"),
    ]


def test_partition_order_puts_users_of_a_zone_together() -> None:
    users = [
        _user("b2", "Europe/Berlin"),
        _user("a1", "America/Los_Angeles"),
        _user("b1", "Europe/Berlin"),
        _user("t1", "Asia/Tokyo"),
    ]
    assert partition_order(users, datetime(2025, 6, 1, tzinfo=UTC)) == ["t1", "b1", "b2", "a1"]
    added, removed = partition_changes(users[:3], ["b2", "gone"], datetime(2025, 6, 1, tzinfo=UTC))
    assert (added, removed) == (["b1", "a1"], ["gone"])


# --- backfill ---------------------------------------------------------------------------------------


def test_requested_days_of_last_days_and_of_a_date_range() -> None:
    now = datetime(2025, 6, 10, 2, tzinfo=UTC)
    users = [_user("tokyo", "Asia/Tokyo"), _user("angeles", "America/Los_Angeles", start=date(2025, 6, 8))]
    assert requested_days(users, None, None, 2, now) == {
        "tokyo": [date(2025, 6, 8), date(2025, 6, 9)],
        "angeles": [date(2025, 6, 8)],
    }
    assert requested_days(users, date(2025, 6, 7), date(2025, 6, 30), None, now) == {
        "tokyo": _days(date(2025, 6, 7), date(2025, 6, 9)),
        "angeles": [date(2025, 6, 8)],
    }
    assert requested_days(users[:1], None, date(2025, 1, 2), None, now) == {
        "tokyo": _days(date(2025, 1, 1), date(2025, 1, 2))
    }


def test_backfill_ranges_skip_loaded_days_but_do_not_split_for_one_in_the_middle() -> None:
    order = ["a", "b", "c"]
    requested = {u: _days(date(2025, 6, 1), date(2025, 6, 2)) for u in order}
    loaded = {"b": {date(2025, 6, 1)}, "c": {date(2025, 6, 1), date(2025, 6, 2)}}
    assert backfill_ranges(requested, loaded, order) == [
        _r("2025-06-01", "a", "2025-06-01", "a"),
        _r("2025-06-02", "a", "2025-06-02", "b"),
    ]
    loaded["b"] = {date(2025, 6, 1), date(2025, 6, 2)}
    loaded["a"] = set()
    requested["c"] = [date(2025, 6, 1), date(2025, 6, 2), date(2025, 6, 3)]
    assert backfill_ranges(requested, loaded, order) == [
        _r("2025-06-01", "a", "2025-06-02", "a"),
        _r("2025-06-03", "c", "2025-06-03", "c"),
    ]
    assert backfill_ranges(requested, {u: set(d) for u, d in requested.items()}, order) == []
