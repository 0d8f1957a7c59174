"""``hr backfill``: ranged runs of the heart-rate job in this process, with progress and a summary.

The ranges come from :mod:`hr_assets.domain.planning`; each is one run (``execute_in_process``) on the
project's instance, so it appears in the Dagster UI like a run the daemon launched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import dagster as dg

from hr_assets.defs.common import PURPOSE_TAG, range_tags
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.domain.planning import PartitionRange, backfill_ranges, requested_days
from hr_assets.local.alerts import action_hints
from hr_assets.local.instance import sync_partitions
from hr_assets.warehouse.db import Warehouse
from hr_assets.warehouse.status import loaded_days
from hr_assets.warehouse.users import User

# Days `hr backfill` loads when neither --last-days nor --from/--to is given.
DEFAULT_BACKFILL_DAYS = 7


class UnknownUsers(ValueError):
    """Users asked for by id that are not active; ``user_ids`` names them."""

    def __init__(self, user_ids: list[str]) -> None:
        super().__init__(f"no active user {', '.join(user_ids)}")
        self.user_ids = user_ids


@dataclass(frozen=True)
class BackfillPlan:
    """What a backfill asks for (each user's days) and the ranged runs that load the days not loaded yet."""

    requested: dict[str, list[date]]
    ranges: list[PartitionRange]
    user_order: list[str]

    @property
    def day_count(self) -> int:
        return sum(len(days) for days in self.requested.values())

    @property
    def partition_count(self) -> int:
        return sum(len(r.partitions(self.user_order)) for r in self.ranges)


def plan_backfill(
    warehouse: Warehouse,
    instance: dg.DagsterInstance,
    active: list[User],
    *,
    user_ids: Sequence[str] = (),
    first: date | None = None,
    last: date | None = None,
    last_days: int | None = None,
    force: bool = False,
    now: datetime,
) -> BackfillPlan:
    """The runs that load ``user_ids``' (default: every active user's) complete days in [first, last], or their
    last ``last_days`` (default :data:`DEFAULT_BACKFILL_DAYS` when no date is given); days already loaded are
    skipped unless ``force``. Adds the users partitions ``active`` needs to ``instance``.

    Raises :class:`UnknownUsers` for ids that are not active users.
    """
    unknown = sorted(set(user_ids) - {u.id for u in active})
    if unknown:
        raise UnknownUsers(unknown)
    chosen = [u for u in active if not user_ids or u.id in user_ids]
    if last_days is None and not (first or last):
        last_days = DEFAULT_BACKFILL_DAYS
    requested = requested_days(chosen, first, last, last_days, now)
    days = [d for ds in requested.values() for d in ds]
    if not days:
        return BackfillPlan(requested, [], [])
    with warehouse.connection() as conn:
        loaded = {} if force else loaded_days(conn, sorted(requested), min(days), max(days))
    sync_partitions(instance, active)
    order = instance.get_dynamic_partitions(USERS_PARTITION_NAME)
    return BackfillPlan(requested, backfill_ranges(requested, loaded, order), list(order))


@dataclass(frozen=True)
class RangeRun:
    partitions: PartitionRange
    count: int
    run_id: str
    success: bool
    seconds: float
    error: str | None = None


@dataclass
class BackfillReport:
    runs: list[RangeRun] = field(default_factory=list)

    @property
    def landed(self) -> int:
        return sum(r.count for r in self.runs if r.success)

    @property
    def failed(self) -> list[RangeRun]:
        return [r for r in self.runs if not r.success]


def failure_summary(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            lines = event.step_failure_data.error.message.strip().splitlines()
            # The first line says what failed; what to do about it (reconnect, re-invite) may be further down.
            hints = [hint for hint in action_hints("\n".join(lines[1:])) if hint not in lines[0]]
            return f"{event.step_key}: {lines[0]}" + "".join(f"; {hint}" for hint in hints)
    return "the run failed; see the Dagster UI"


def run_ranges(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    ranges: Sequence[PartitionRange],
    user_order: Sequence[str],
    progress: Callable[[RangeRun, int, int], None] | None = None,
) -> BackfillReport:
    """Run ``job`` once per range, in order, going on after a failed run; ``progress`` after each run."""
    report = BackfillReport()
    for index, partitions in enumerate(ranges, start=1):
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            tags={**range_tags(partitions), PURPOSE_TAG: "backfill"},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
        run = RangeRun(
            partitions,
            len(partitions.partitions(user_order)),
            result.run_id,
            result.success,
            time.perf_counter() - started,
            None if result.success else failure_summary(result),
        )
        report.runs.append(run)
        if progress:
            progress(run, index, len(ranges))
    return report
