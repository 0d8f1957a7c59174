"""Loading partitions end to end: fetch from the user's source, parse, write. No Dagster here.

The assets call :func:`ingest` with the partitions of a run; everything it does is tested
without Dagster. While one day is written, the next days are fetched, parsed and encoded for
COPY on other threads (mostly polars and numpy, which release the GIL), so the server and
the parser work side by side and the writing thread only waits for the server.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime

from hr_assets.domain.quality import CheckOutcome
from hr_assets.domain.transform import ParsedIntraday, ParsedSummary, PayloadError, parse_intraday, parse_summary
from hr_assets.domain.user_day import UserDay
from hr_assets.sources import PayloadKind, SourceError, SourceRegistry, TransientSourceError
from hr_assets.warehouse.db import Connection, Warehouse, WarehouseError, WarehouseUnavailable, translated_errors
from hr_assets.warehouse.loads import LoadResult, copy_data, load_intraday, load_summary, quarantine_payload
from hr_assets.warehouse.users import User

log = logging.getLogger(__name__)

# Quality checks of a parsed partition, run on the parsing threads (see quality.py).
Inspector = Callable[[ParsedIntraday | ParsedSummary], dict[str, CheckOutcome]]
# Partitions fetched and parsed ahead of the one being written, each on its own thread: a dense
# day's preparation (~70 ms) is about as long as its COPY, and two threads keep the writer fed
# when one is held up (measured on 2 cores: 5.5 s instead of 5.9 s for 60 dense days). At most
# this many prepared partitions wait in memory.
PARSE_AHEAD = 2
# A progress line at most this often: with Dagster's managed loggers every line is an event
# in the run's storage, so a line per partition of a long backfill would cost more than it tells.
PROGRESS_SECONDS = 10.0


@dataclass(frozen=True)
class PartitionOutcome:
    user_id: str
    day: date
    result: LoadResult | None = None
    error: str | None = None
    checks: dict[str, CheckOutcome] = field(default_factory=dict)
    # The payload was refused whole and kept in the quarantine table.
    quarantined_whole: bool = False

    @property
    def rows(self) -> int:
        return self.result.rows_written if self.result else 0

    @property
    def partition(self) -> UserDay:
        return UserDay(self.user_id, self.day)


@dataclass
class IngestReport:
    payload: PayloadKind
    outcomes: list[PartitionOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[PartitionOutcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def loaded(self) -> list[PartitionOutcome]:
        return [o for o in self.outcomes if o.result is not None]

    def total(self, name: str) -> int:
        return sum(int(getattr(o.result, name)) for o in self.loaded)

    def totals(self) -> dict[str, int]:
        names = ("rows_written", "rows_inserted", "rows_updated", "rows_deleted", "rows_quarantined")
        return {name: self.total(name) for name in names}


@dataclass(frozen=True)
class _Prepared:
    user_id: str
    day: date
    source: str
    parsed: ParsedIntraday | ParsedSummary | None = None
    refused_payload: bytes | None = None
    error: str | None = None
    checks: dict[str, CheckOutcome] = field(default_factory=dict)
    # The intraday readings as COPY data, encoded here rather than on the writing thread.
    encoded: bytes | None = None


def _prepare(
    sources: SourceRegistry,
    user: User | None,
    partition: UserDay,
    payload: PayloadKind,
    inspect: Inspector | None = None,
) -> _Prepared:
    """Fetch, parse, check and encode one partition; errors become part of the result, not exceptions."""
    user_id, day = partition.user_id, partition.day
    if user is None:
        return _Prepared(user_id, day, "", error=f"no user {user_id!r} in the registry (hr users add {user_id} ...)")
    try:
        payloads = sources[user.source].fetch_day(user.profile(), day, only=payload)
    except TransientSourceError:
        raise  # the run's retry policy takes it from here, as for transient database errors
    except SourceError as exc:
        return _Prepared(user_id, day, user.source, error=f"source {user.source}: {exc}")
    origin = f"{user.source}:{payloads.origin}" if payloads.origin else user.source
    where = f"{payload} payload of {user_id} on {day.isoformat()} ({origin})"
    raw = payloads.intraday if payload == "intraday" else payloads.summary
    try:
        parsed: ParsedIntraday | ParsedSummary
        if payload == "intraday":
            parsed = parse_intraday(
                raw, user_id=user_id, day=day, timezone=user.timezone, where=where, refs=payloads.intraday_refs
            )
        else:
            parsed = parse_summary(raw, user_id=user_id, day=day, where=where)
    except PayloadError as exc:
        return _Prepared(user_id, day, origin, refused_payload=raw, error=str(exc))
    encoded = copy_data(parsed.readings) if isinstance(parsed, ParsedIntraday) else None
    return _Prepared(user_id, day, origin, parsed=parsed, checks=inspect(parsed) if inspect else {}, encoded=encoded)


def _prefetched(
    sources: SourceRegistry,
    users: Mapping[str, User],
    partitions: Sequence[UserDay],
    payload: PayloadKind,
    inspect: Inspector | None,
) -> Iterator[_Prepared]:
    """The prepared partitions in order, the next PARSE_AHEAD prepared while the caller writes this one."""
    with ThreadPoolExecutor(max_workers=PARSE_AHEAD, thread_name_prefix="hr-parse") as pool:
        pending: deque[Future[_Prepared]] = deque()
        for partition in partitions:
            user = users.get(partition.user_id)
            pending.append(pool.submit(_prepare, sources, user, partition, payload, inspect))
            if len(pending) > PARSE_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def ingest(
    warehouse: Warehouse,
    sources: SourceRegistry,
    users: Mapping[str, User],
    partitions: Sequence[UserDay],
    payload: PayloadKind,
    inspect: Inspector | None = None,
) -> IngestReport:
    """Load ``payload`` for every partition from its user's source; one transaction per partition.

    A partition that cannot be loaded (unknown user, source failure, payload refused whole)
    is reported in the result and writes no data; a refused payload is kept in quarantine.
    The other partitions load normally. Each failure is logged as a warning when it happens;
    progress at most every PROGRESS_SECONDS, and once at the end.
    """
    report = IngestReport(payload)
    started = last_progress = time.perf_counter()
    with warehouse.connection() as conn:
        for prepared in _prefetched(sources, users, partitions, payload, inspect):
            try:
                with translated_errors():
                    outcome = _write(conn, prepared, payload)
            except WarehouseUnavailable:
                raise  # the run's retry policy takes it from here
            except WarehouseError as exc:
                # A data error for this partition (its transaction rolled back): say where, go on.
                where = f"{payload} {prepared.user_id} {prepared.day.isoformat()}"
                outcome = PartitionOutcome(prepared.user_id, prepared.day, error=f"{where}: {exc}")
            report.outcomes.append(outcome)
            if outcome.error:
                log.warning("%s %s %s not loaded: %s", payload, prepared.user_id, prepared.day, outcome.error)
            else:
                log.debug("%s %s %s: %s rows", payload, prepared.user_id, prepared.day, outcome.rows)
            if time.perf_counter() - last_progress >= PROGRESS_SECONDS:
                last_progress = time.perf_counter()
                _log_progress(report, len(partitions))
    report.seconds = time.perf_counter() - started
    _log_progress(report, len(partitions))
    return report


def _log_progress(report: IngestReport, total: int) -> None:
    log.info(
        "%s: %d of %d partition(s) done, %s rows written, %s quarantined (hr quarantine), %d failed",
        report.payload,
        len(report.outcomes),
        total,
        f"{report.total('rows_written'):,}",
        f"{report.total('rows_quarantined'):,}",
        len(report.failures),
    )


def _write(conn: Connection, prepared: _Prepared, payload: PayloadKind) -> PartitionOutcome:
    if prepared.parsed is None:
        if prepared.refused_payload is not None:
            quarantine_payload(
                conn,
                user_id=prepared.user_id,
                day=prepared.day,
                payload=payload,
                source=prepared.source,
                # PostgreSQL text cannot hold NUL; keep the payload with the NUL spelled out.
                record=prepared.refused_payload.decode("utf-8", errors="replace").replace("\x00", "\\u0000"),
                reason=prepared.error or "refused",
            )
        return PartitionOutcome(
            prepared.user_id,
            prepared.day,
            error=prepared.error,
            checks=prepared.checks,
            quarantined_whole=prepared.refused_payload is not None,
        )
    if isinstance(prepared.parsed, ParsedIntraday):
        result = load_intraday(
            conn,
            prepared.parsed,
            user_id=prepared.user_id,
            day=prepared.day,
            source=prepared.source,
            encoded=prepared.encoded,
        )
    else:
        result = load_summary(conn, prepared.parsed, source=prepared.source)
    return PartitionOutcome(prepared.user_id, prepared.day, result=result, checks=prepared.checks)


def changed_windows(users: Mapping[str, User], partitions: Sequence[UserDay]) -> list[tuple[str, datetime, datetime]]:
    """The UTC interval of each partition's local day, for refreshing the aggregates."""
    windows = []
    for partition in partitions:
        user = users.get(partition.user_id)
        if user is not None:
            windows.append((partition.user_id, *partition.window(user.timezone)))
    return windows
