"""Where the heart-rate assets' dates dimension starts: where the study's data can start.

Unless HR_PARTITIONS_START_DATE names a day, it is the earliest of the registered participants' start dates
and the days already loaded, read once when the definitions load (Dagster's processes get HR_DATABASE_URL
from ``hr serve`` / ``hr env``). Every partition key in use stays inside the space; a participant registered
later with an earlier start date widens it from the next load of the definitions on (a new run, ``hr backfill``,
or a reload of the code location in the UI). See docs/study.md.
"""

from __future__ import annotations

import logging
from datetime import date

from hr_assets.settings import HrSettings
from hr_assets.warehouse.db import Warehouse, WarehouseError, query

log = logging.getLogger(__name__)

# Without a warehouse to ask (no HR_DATABASE_URL when the definitions load, an empty registry, a server that does
# not answer): Fitbit's first wrist heart-rate trackers shipped in 2015.
FALLBACK_START = date(2015, 1, 1)


def earliest_day(warehouse: Warehouse) -> date | None:
    """The earliest start date or loaded day in the warehouse; None when it has neither."""
    with warehouse.connection(autocommit=True) as conn:
        row = conn.execute(query("partitions_earliest_day")).fetchone()
    return row[0] if row else None


def partitions_start(settings: HrSettings) -> date:
    """The first date of the partition space (see the module's description)."""
    if settings.partitions_start_date is not None:
        return settings.partitions_start_date
    if not settings.database_url:
        return FALLBACK_START  # the embedded server is not started as a side effect of loading definitions
    try:
        found = earliest_day(Warehouse(settings.database_url))
    except WarehouseError as exc:
        # Info, not a warning: a command that cannot read the warehouse says so itself, in one line.
        log.info("partitions start at %s: the warehouse could not be read (%s)", FALLBACK_START, exc)
        return FALLBACK_START
    return found or FALLBACK_START
