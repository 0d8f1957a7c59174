"""``hr backfill``: ranged runs of the heart-rate job in this process, with progress and a summary.

The ranges come from :mod:`hr_assets.planning`; each is one run (``execute_in_process``) on the
project's instance, so it appears in the Dagster UI like a run the daemon launched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg

from hr_assets.alerts import action_hints
from hr_assets.defs.common import PURPOSE_TAG, range_tags
from hr_assets.planning import PartitionRange


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
