"""Freshness: is every active user's most recent complete local day loaded, and complete enough?

A check of the (unpartitioned) users registry, run by its own schedule after the nightly load:
never inside a partition run, and without Dagster enumerating the partitions of the heart-rate
assets. It reads the registry and one load record per user.
"""

from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg

from hr_assets.alerts import AlertResource
from hr_assets.defs.users.assets import USER_REGISTRY
from hr_assets.resources import WarehouseResource
from hr_assets.settings import get_settings
from hr_assets.study import FLAGS, StudyRules, participant_statuses
from hr_assets.user_day import UserDay, latest_complete_day
from hr_assets.warehouse.status import partition_loads
from hr_assets.warehouse.study import Scope
from hr_assets.warehouse.users import list_users

LATEST_DAY_LOADED_CHECK = "latest_day_loaded"
EVERYONE = Scope(all_users=True, user_ids=frozenset())


def late_partitions(
    warehouse: WarehouseResource, now: datetime, threshold: float
) -> tuple[list[UserDay], list[UserDay], int]:
    """(missing, incomplete, active users) for each active user's most recent complete local day."""
    with warehouse.connection() as conn:
        users = list_users(conn)
        latest = [UserDay(u.id, latest_complete_day(u.timezone, now)) for u in users]
        # A user whose start date is still ahead has no day to be late with.
        starts = {u.id: u.start_date for u in users}
        expected = [p for p in latest if p.day >= starts[p.user_id]]
        loads = partition_loads(conn, "intraday", expected)
    missing = [p for p in expected if p not in loads]
    incomplete = [
        p for p in expected if p in loads and loads[p].coverage is not None and (loads[p].coverage or 0) < threshold
    ]
    return missing, incomplete, len(users)


def _latest_day_loaded(now: Callable[[], datetime]) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=USER_REGISTRY,
        name=LATEST_DAY_LOADED_CHECK,
        description="For every active user, the most recent complete local day is loaded and covers at least "
        "HR_COVERAGE_WARN_THRESHOLD of the day. Runs on hr_freshness_schedule after the nightly load.",
    )
    def latest_day_loaded(warehouse: WarehouseResource, alerts: AlertResource) -> dg.AssetCheckResult:
        missing, incomplete, active = late_partitions(warehouse, now(), get_settings().coverage_warn_threshold)
        late = [p.key for p in missing + incomplete]
        with warehouse.connection() as conn:  # the study view's flags, listed alongside (docs/study.md)
            statuses = participant_statuses(conn, EVERYONE, StudyRules.from_settings(get_settings()), now())
        flagged = {flag: sorted(s.user_id for s in statuses if flag in s.flags) for flag in FLAGS}
        passed = not late
        description = (
            f"all {active} active users are up to date"
            if passed
            else f"{len(missing)} missing and {len(incomplete)} incomplete of {active} active users' latest day"
        )
        if not passed:
            alerts.send(
                "freshness",
                f"hr-pipeline: {description}: {', '.join(late)}",
                severity="error" if missing else "warn",
                missing=[p.key for p in missing],
                incomplete=[p.key for p in incomplete],
            )
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR if missing else dg.AssetCheckSeverity.WARN,
            description=description,
            metadata={
                "active_users": active,
                "missing": dg.MetadataValue.json([p.key for p in missing]),
                "incomplete": dg.MetadataValue.json([p.key for p in incomplete]),
                "late_users": ", ".join(sorted({p.user_id for p in missing + incomplete})),
                **{f"flagged_{flag}": ", ".join(user_ids) for flag, user_ids in flagged.items()},
            },
        )

    return latest_day_loaded


def _utc_now() -> datetime:
    return datetime.now(UTC)


latest_day_loaded_check = _latest_day_loaded(_utc_now)
