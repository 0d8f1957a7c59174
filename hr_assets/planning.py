"""Which runs load which partitions: ranges of user x day for history, the nightly load and backfills.

A Dagster run of the heart-rate job covers a *range* of partition keys, which Dagster reads as a
rectangle: the dates between the two keys' dates times the users between their users, in the
order the users were added to the ``users`` dimension. :func:`plan_ranges` covers a set of wanted
partitions with few such rectangles: per date, the wanted users in that order joined into runs
where every partition in between may be loaded too ("allowed"), the same run on consecutive
dates merged into one rectangle, and rectangles cut to a bounded size. Pure functions: the
schedules, sensors and ``hr backfill`` call them with what they read, and tests with exact cases.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hr_assets.user_day import UserDay, complete_days, latest_complete_day
from hr_assets.warehouse.users import User

# Partitions one run covers at most: a dense day is ~86,400 readings and its rollups, so a run
# stays within minutes and a failed run is retried in reasonable time.
MAX_PARTITIONS_PER_RUN = 2_000
# A user's history in runs of at most this many days: a year of an export is one run (each run
# pays a process start and its refreshes; measured, two half-year runs took 1.7x the CLI's one).
HISTORY_DAYS_PER_RUN = 366
# History days the users sensor asks for in one tick: one run's worth. Creating a run writes an
# event per asset and partition, so a study's whole history in one tick would hold the tick for
# an hour; in rations, each tick stays within seconds and the queue stays fed.
HISTORY_DAYS_PER_TICK = HISTORY_DAYS_PER_RUN
# The nightly load: each user's most recent complete day, and the day before it again (devices
# sync late).
NIGHTLY_DAYS = 2

Allowed = Callable[[UserDay], bool]


@dataclass(frozen=True, order=True)
class PartitionRange:
    """The partitions ``first_day..last_day`` x users ``first_user..last_user`` (in the users dimension's order)."""

    first_day: date
    first_user: str
    last_day: date
    last_user: str

    @property
    def start(self) -> UserDay:
        return UserDay(self.first_user, self.first_day)

    @property
    def end(self) -> UserDay:
        return UserDay(self.last_user, self.last_day)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def users(self, user_order: Sequence[str]) -> list[str]:
        return list(user_order[user_order.index(self.first_user) : user_order.index(self.last_user) + 1])

    def partitions(self, user_order: Sequence[str]) -> list[UserDay]:
        """Every partition of the rectangle, sorted by user then day."""
        days = [self.first_day + timedelta(days=n) for n in range(self.days)]
        return sorted(UserDay(user, day) for user in self.users(user_order) for day in days)

    def __str__(self) -> str:
        return f"{self.start.key}...{self.end.key}"


def plan_ranges(
    wanted: Iterable[UserDay],
    user_order: Sequence[str],
    allowed: Allowed | None = None,
    *,
    max_partitions: int = MAX_PARTITIONS_PER_RUN,
    max_days: int | None = None,
) -> list[PartitionRange]:
    """Ranges that cover every ``wanted`` partition and, besides them, only ``allowed`` ones.

    Sorted by first day, then by the first user's position. Every user of ``wanted`` must be in
    ``user_order`` (the users dimension), else ``ValueError``.
    """
    position = {user: i for i, user in enumerate(user_order)}
    is_allowed = allowed or (lambda partition: False)
    by_day: dict[date, set[int]] = defaultdict(set)
    for partition in wanted:
        if partition.user_id not in position:
            raise ValueError(f"user {partition.user_id!r} is not a partition of the users dimension yet")
        by_day[partition.day].add(position[partition.user_id])
    # Runs of users per day: consecutive wanted users joined where every user between them is allowed.
    days_of_run: dict[tuple[int, int], list[date]] = defaultdict(list)
    for day, users in sorted(by_day.items()):
        ordered = sorted(users)
        first = last = ordered[0]
        for following in ordered[1:]:
            between = range(last + 1, following)
            if all(is_allowed(UserDay(user_order[p], day)) for p in between):
                last = following
            else:
                days_of_run[first, last].append(day)
                first = last = following
        days_of_run[first, last].append(day)
    ranges: list[PartitionRange] = []
    for (first, last), days in days_of_run.items():
        for first_day, last_day in _consecutive(days):
            ranges.extend(_cut(first, last, first_day, last_day, user_order, max_partitions, max_days))
    return sorted(ranges, key=lambda r: (r.first_day, position[r.first_user]))


def _consecutive(days: list[date]) -> list[tuple[date, date]]:
    blocks: list[tuple[date, date]] = []
    for day in sorted(days):
        if blocks and day == blocks[-1][1] + timedelta(days=1):
            blocks[-1] = (blocks[-1][0], day)
        else:
            blocks.append((day, day))
    return blocks


def _cut(
    first: int,
    last: int,
    first_day: date,
    last_day: date,
    user_order: Sequence[str],
    max_partitions: int,
    max_days: int | None,
) -> list[PartitionRange]:
    """The rectangle in pieces of at most ``max_partitions`` partitions and ``max_days`` days."""
    users = last - first + 1
    user_step = min(users, max_partitions)
    day_step = max(1, max_partitions // user_step)
    if max_days is not None:
        day_step = min(day_step, max_days)
    pieces = []
    for low in range(first, last + 1, user_step):
        high = min(low + user_step, last + 1) - 1
        day = first_day
        while day <= last_day:
            end = min(day + timedelta(days=day_step - 1), last_day)
            pieces.append(PartitionRange(day, user_order[low], end, user_order[high]))
            day = end + timedelta(days=1)
    return pieces


# --- what each launcher wants ----------------------------------------------------------------------


def nightly_ranges(users: Iterable[User], tick: datetime, user_order: Sequence[str]) -> list[PartitionRange]:
    """The nightly load at ``tick``: each user's last NIGHTLY_DAYS complete local days from its start date.

    Users not in ``user_order`` yet (registered after the users sensor's last tick) wait for the
    next night. A range may also cover, between wanted partitions, a user's day before its nightly
    window (loaded again, harmlessly), but never a day that has not ended in the user's zone.
    """
    known = {u.id: u for u in users if u.id in user_order}
    wanted = [
        UserDay(u.id, day)
        for u in known.values()
        for day in complete_days(u.timezone, NIGHTLY_DAYS, now=tick)
        if day >= u.start_date
    ]

    def allowed(partition: UserDay) -> bool:
        user = known.get(partition.user_id)
        if user is None:
            return False
        latest = latest_complete_day(user.timezone, tick)
        return max(user.start_date, latest - timedelta(days=NIGHTLY_DAYS)) <= partition.day <= latest

    return plan_ranges(wanted, user_order, allowed)


def requested_days(
    users: Iterable[User], first: date | None, last: date | None, last_days: int | None, now: datetime
) -> dict[str, list[date]]:
    """Each user's complete local days in [first, last] (or its last ``last_days``), from its start date."""
    days: dict[str, list[date]] = {}
    for user in users:
        latest = latest_complete_day(user.timezone, now)
        if last_days is not None:
            start, end = latest - timedelta(days=last_days - 1), latest
        else:
            start, end = first or user.start_date, min(last or latest, latest)
        start = max(start, user.start_date)
        days[user.id] = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return days


def start_date_cuts(users: Iterable[User], first: date | None, last: date | None) -> list[User]:
    """The users whose start date is after ``first`` (or, without one, after ``last``): their days begin later
    than the range asked for, or the range holds none of them."""
    since = first or last
    return [u for u in users if since is not None and u.start_date > since]


def backfill_ranges(
    requested: Mapping[str, list[date]], loaded: Mapping[str, set[date]], user_order: Sequence[str]
) -> list[PartitionRange]:
    """Ranges for the ``requested`` days that are not ``loaded``; a loaded day between two that are not
    is loaded again rather than splitting the range."""
    wanted = [UserDay(u, d) for u, days in requested.items() for d in days if d not in loaded.get(u, set())]
    asked = {UserDay(u, d) for u, days in requested.items() for d in days}
    return plan_ranges(wanted, user_order, asked.__contains__)


def history_ranges(user: User, loaded: set[date], first: date, until: date) -> list[PartitionRange]:
    """One user's days in [first, until] that are not ``loaded``, in runs of HISTORY_DAYS_PER_RUN days at most."""
    days = [first + timedelta(days=n) for n in range((until - first).days + 1)]
    wanted = [UserDay(user.id, day) for day in days if day not in loaded]
    return plan_ranges(wanted, [user.id], max_days=HISTORY_DAYS_PER_RUN)


def partition_order(users: Iterable[User], now: datetime) -> list[str]:
    """New users in the order to add them to the users dimension: east to west by UTC offset, then by id.

    Users of one time zone then sit next to each other, so the nightly load of a study with
    participants in a few zones is a few ranges rather than a run per user.
    """

    def offset(user: User) -> timedelta:
        return now.astimezone(ZoneInfo(user.timezone)).utcoffset() or timedelta(0)

    return [u.id for u in sorted(users, key=lambda u: (-offset(u), u.id))]


# The users sensor's memory of each user's history: {"until": the latest complete day when the
# sensor first asked for the user's history (later days are the nightly load's), "start": the
# earliest day its history was requested from}.
HistoryCursor = dict[str, dict[str, str]]


def history_due(
    users: Iterable[User], cursor: HistoryCursor, now: datetime
) -> tuple[dict[str, tuple[date, date]], HistoryCursor]:
    """Per user, the window of history not requested yet, and the cursor with those windows requested.

    A new user's window runs from its start date to its latest complete local day now; a start
    date moved earlier than any requested before opens the days before it. Users not in ``users``
    (retired) leave the cursor.
    """
    due: dict[str, tuple[date, date]] = {}
    updated: HistoryCursor = {}
    for user in users:
        state = cursor.get(user.id)
        if state is None:
            until = latest_complete_day(user.timezone, now)
            if user.start_date <= until:
                due[user.id] = (user.start_date, until)
            updated[user.id] = {"until": until.isoformat(), "start": user.start_date.isoformat()}
            continue
        requested_from = date.fromisoformat(state.get("start", state["until"]))
        until = date.fromisoformat(state["until"])
        if user.start_date < requested_from:
            due[user.id] = (user.start_date, min(requested_from - timedelta(days=1), until))
        updated[user.id] = {"until": state["until"], "start": min(user.start_date, requested_from).isoformat()}
    return due, updated


def ration_history(
    due: dict[str, tuple[date, date]], before: HistoryCursor, after: HistoryCursor, days: int = HISTORY_DAYS_PER_TICK
) -> tuple[dict[str, tuple[date, date]], HistoryCursor]:
    """The part of ``due`` (from :func:`history_due`) one tick asks for, and the cursor saying so.

    Up to ``days`` days in all: users' whole windows while they fit, and where the first user's
    window is longer, its newest ``days`` days (recent data is what a participant looks at first).
    Only the first user is ever cut, so each tick's runs are as long as a run may be: a user cut
    short is recorded as asked for from the first day taken, is the first due on the next tick
    and continues there; a user not reached keeps the state it had ``before``.
    """
    rationed: dict[str, tuple[date, date]] = {}
    cursor = dict(after)
    left = days
    for user_id, (first, last) in due.items():
        window = (last - first).days + 1
        if window <= 0:
            continue  # a start moved earlier but still after its latest complete day: nothing yet
        if window > left and rationed:
            # Not reached this tick: as if not seen (a new user is planned afresh next tick).
            if user_id in before:
                cursor[user_id] = before[user_id]
            else:
                cursor.pop(user_id, None)
            continue
        take = min(window, left)
        start = last - timedelta(days=take - 1)
        rationed[user_id] = (start, last)
        cursor[user_id] = {**after[user_id], "start": start.isoformat()}
        left -= take
    return rationed, cursor


def partition_changes(active: Iterable[User], present: Sequence[str], now: datetime) -> tuple[list[str], list[str]]:
    """(to add, in :func:`partition_order`; to remove, sorted) to make the users partitions ``present``
    equal the ``active`` users."""
    wanted = {u.id: u for u in active}
    added = partition_order([u for uid, u in wanted.items() if uid not in set(present)], now)
    return added, sorted(set(present) - set(wanted))
