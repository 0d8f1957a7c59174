"""Running an analysis-ready export: plan the files, write the changed ones, swap them in, describe them.

An export is a folder (or an S3 prefix) of Parquet or CSV files in a hive layout with a
``manifest.json`` and a data dictionary (``hr_assets.domain.export``). Each file carries a
fingerprint of the load records it was written from; an export with the same parameters into the
same destination writes again only the files whose fingerprint changed (a re-loaded day rewrites
its participant's month, not the study).

Files are written to a staging folder first and moved into place only once every participant has
been written, the manifest last: an export killed while writing leaves the previous one whole.
On S3, each object is put whole (S3 never shows part of an object).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
import pyarrow as pa

from hr_assets.domain.export import (
    DEFAULT_TABLES,
    EXPORT_SCHEMA_VERSION,
    ROW_GROUP_ROWS,
    TABLES,
    VALID_DAY_WORN_MINUTES,
    ExportError,
    Format,
    Pseudonymizer,
    TableDef,
    TableWriter,
    WrittenFile,
    check_tables,
    dictionary,
    dictionary_markdown,
    file_path,
    manifest_json,
    month_end,
    month_key,
    month_start,
    to_record_batch,
)
from hr_assets.warehouse.db import Warehouse, schema_state
from hr_assets.warehouse.export import (
    OPTIONAL_DAY_TABLES,
    LoadRecord,
    Participant,
    day_rows,
    has_column,
    load_records,
    participants,
    savepoint,
    snapshot,
    stream_readings,
    stream_rollup,
)
from hr_assets.warehouse.user_day import local_day_window

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
STAGING_PREFIX = ".staging-"
SECONDS_PER_MINUTE = 60


@dataclass(frozen=True)
class ExportRequest:
    """What to export and where: a folder or ``s3://bucket/prefix`` (credentials from the environment)."""

    destination: str
    tables: tuple[str, ...] = DEFAULT_TABLES
    user_ids: tuple[str, ...] | None = None
    cohort: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    format: Format = "parquet"
    pseudonymizer: Pseudonymizer | None = None
    # Where the operator keeps the real id -> pseudonym -> shift mapping (de-identified exports only).
    mapping_path: Path | None = None

    def __post_init__(self) -> None:
        # Refused here, before any warehouse is opened: an unknown table is the request's fault, not the data's.
        check_tables(self.tables, deidentify=self.pseudonymizer is not None)


@dataclass(frozen=True)
class ExportFailure:
    participant: str
    file: str
    error: str

    def __str__(self) -> str:
        return f"participant {self.participant}, file {self.file}: {self.error}"


@dataclass
class ExportSummary:
    participants: int = 0
    written: list[WrittenFile] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    failures: list[ExportFailure] = field(default_factory=list)

    @property
    def rows_written(self) -> int:
        return sum(f.rows for f in self.written)

    def describe(self) -> str:
        return (
            f"{self.participants} participant(s): {len(self.written)} file(s) written ({self.rows_written:,} rows), "
            f"{self.unchanged} unchanged, {len(self.removed)} removed, {len(self.failures)} failed"
        )


@dataclass(frozen=True)
class _Planned:
    path: str
    table: TableDef
    participant: Participant | None
    start_date: date  # the real (unshifted) local days the file holds
    end_date: date
    fingerprint: str
    members: tuple[Participant, ...] = ()  # the participants file's rows


Progress = Callable[[str], None]


def run_export(warehouse: Warehouse, request: ExportRequest, progress: Progress | None = None) -> ExportSummary:
    """Write (or bring up to date) the export ``request`` describes; a failed participant does not stop the others.

    Raises :class:`~hr_assets.domain.export.ExportError` for a request that cannot be done.
    """
    pseudonymizer = request.pseudonymizer
    tables = check_tables(request.tables, deidentify=pseudonymizer is not None)
    destination = _Destination(request.destination)
    if pseudonymizer is not None:
        _check_mapping_path(request.mapping_path, destination)
    summary = ExportSummary()
    with snapshot(warehouse) as conn:
        with savepoint(conn):
            chosen = participants(conn, user_ids=request.user_ids, cohort=request.cohort)
            records = load_records(conn, [p.user_id for p in chosen])
            present = [t for t in tables if not TABLES[t].optional or has_column(conn, OPTIONAL_DAY_TABLES[t])]
        if request.user_ids:
            missing = sorted(set(request.user_ids) - {p.user_id for p in chosen})
            summary.failures += [ExportFailure(m, "-", "no such participant") for m in missing]
        summary.participants = len(chosen)
        parameters, parameters_id = _parameters(request, tables)
        previous = destination.read_manifest()
        reusable = previous.get("files", {}) if previous.get("parameters_id") == parameters_id else {}
        plan = _plan(request, [TABLES[t] for t in present], chosen, records)
        files: dict[str, Any] = {}
        with destination.staging() as staging:
            for index, (participant, planned) in enumerate(_by_participant(plan, chosen), start=1):
                label = participant.user_id if participant else "participants"
                outcome = _write_participant(conn, request, planned, reusable, staging, summary, label)
                files.update(outcome)
                if progress is not None:
                    state = _tally(outcome, planned, reusable) if outcome or not planned else "FAILED"
                    progress(f"[{index}/{len(chosen) + 1}] {label}: {state}")
            failed = {f.participant for f in summary.failures}
            for path, entry in reusable.items():  # a failed participant keeps what the previous export had
                if entry.get("participant_id") in failed and path not in files:
                    files[path] = entry
            summary.removed = sorted(set(previous.get("files", {})) - set(files))
            document = dictionary([TABLES[t] for t in present], pseudonymizer=pseudonymizer)
            staging.write("dictionary.json", json.dumps(document, indent=2).encode() + b"\n")
            staging.write("dictionary.md", dictionary_markdown(document).encode())
            manifest = {
                "export_schema_version": EXPORT_SCHEMA_VERSION,
                "project_version": _project_version(),
                "warehouse_schema_version": _warehouse_schema(warehouse),
                "written_at": datetime.now(UTC).isoformat(),
                "parameters": parameters,
                "parameters_id": parameters_id,
                "files": dict(sorted(files.items())),
            }
            staging.write(MANIFEST, manifest_json(manifest))
            staging.commit(removed=summary.removed)
    if pseudonymizer is not None and request.mapping_path is not None:
        _write_mapping(request.mapping_path, pseudonymizer, chosen)
    return summary


def _tally(outcome: dict[str, Any], planned: Sequence[_Planned], reusable: dict[str, Any]) -> str:
    unchanged = sum(1 for p in planned if reusable.get(p.path, {}).get("fingerprint") == p.fingerprint)
    return f"{len(outcome) - unchanged} written, {unchanged} unchanged"


def _by_participant(
    plan: Sequence[_Planned], chosen: Sequence[Participant]
) -> Iterator[tuple[Participant | None, list[_Planned]]]:
    for participant in chosen:
        yield participant, [p for p in plan if p.participant is participant]
    yield None, [p for p in plan if p.participant is None]


def _write_participant(
    conn: Any,
    request: ExportRequest,
    planned: Sequence[_Planned],
    reusable: dict[str, Any],
    staging: _Staging,
    summary: ExportSummary,
    label: str,
) -> dict[str, Any]:
    """The manifest entries of one participant's files: unchanged ones kept, the others written to ``staging``.

    On a failure nothing of the participant is kept from this run (its previous files stay).
    """
    entries: dict[str, Any] = {}
    written: list[WrittenFile] = []
    item: _Planned | None = None
    try:
        with savepoint(conn):  # one per participant: a failure rolls back to it and the export goes on
            for item in planned:
                old = reusable.get(item.path)
                if old is not None and old.get("fingerprint") == item.fingerprint:
                    entries[item.path] = old
                    continue
                with staging.open(item.path) as target:
                    done = _write_file(conn, request, item, target)
                written.append(done)
                entries[item.path] = {
                    "table": item.table.name,
                    "participant_id": _participant_id(request, item.participant),
                    "rows": done.rows,
                    "bytes": done.bytes,
                    "sha256": done.sha256,
                    "fingerprint": item.fingerprint,
                }
                log.info("export: %s: %s rows to %s", label, done.rows, item.path)
    # Anything that fails for one participant (the database, the disk, a value Arrow refuses) is
    # reported with the participant and file, and the export goes on with the next participant.
    except Exception as exc:
        path = item.path if item is not None else "-"
        log.exception("export: participant %s, file %s failed", label, path)
        participant = item.participant if item is not None else None
        summary.failures.append(ExportFailure(_participant_id(request, participant), path, f"{exc}"))
        staging.discard([w.path for w in written] + [path])
        return {}
    summary.written += written
    summary.unchanged += len(entries) - len(written)
    return entries


def _write_file(conn: Any, request: ExportRequest, item: _Planned, target: BinaryIO) -> WrittenFile:
    table = item.table
    writer = TableWriter(target.write, table.schema if table.columns else None, request.format)
    participant = item.participant
    if participant is None:
        writer.write(_participants_batch(request, item.members))
    else:
        shift = request.pseudonymizer.shift_days(participant.user_id) if request.pseudonymizer else 0
        for batch in table_batches(conn, table, participant, item.start_date, item.end_date, shift_days=shift):
            writer.write(batch)
    rows, size, sha256 = writer.close()
    return WrittenFile(item.path, rows, size, sha256)


def table_batches(
    conn: Any, table: TableDef, participant: Participant, first_day: date, last_day: date, *, shift_days: int = 0
) -> Iterator[pa.RecordBatch]:
    """``participant``'s rows of ``table`` over the local days [first_day, last_day], batch by batch."""
    user_id = participant.user_id
    if table.streamed:
        start = local_day_window(first_day, participant.timezone)[0]
        end = local_day_window(last_day, participant.timezone)[1]
        batches = (
            stream_readings(conn, user_id, start, end, ROW_GROUP_ROWS)
            if table.name == "readings"
            else stream_rollup(conn, table.name, user_id, start, end, ROW_GROUP_ROWS)
        )
        for columns in batches:
            yield to_record_batch(table, columns, timezone=participant.timezone, shift_days=shift_days)
    else:
        valid_day_seconds = VALID_DAY_WORN_MINUTES * SECONDS_PER_MINUTE
        columns = day_rows(conn, table.name, user_id, first_day, last_day, valid_day_seconds=valid_day_seconds)
        yield to_record_batch(table, columns, shift_days=shift_days)


def _participants_batch(request: ExportRequest, chosen: Sequence[Participant]) -> pa.RecordBatch:
    pseudonymizer = request.pseudonymizer

    def shifted(p: Participant, day: date | None) -> date | None:
        if day is None or pseudonymizer is None:
            return day
        return day + timedelta(days=pseudonymizer.shift_days(p.user_id))

    columns = {
        "user_id": [_participant_id(request, p) for p in chosen],
        "cohort": [p.cohort for p in chosen],
        "timezone": [None if pseudonymizer else p.timezone for p in chosen],
        "source": [p.source for p in chosen],
        "first_day": [shifted(p, p.first_day) for p in chosen],
        "last_day": [shifted(p, p.last_day) for p in chosen],
    }
    return to_record_batch(TABLES["participants"], columns)


def _participant_id(request: ExportRequest, participant: Participant | None) -> str:
    if participant is None:
        return "-"
    return request.pseudonymizer.pseudonym(participant.user_id) if request.pseudonymizer else participant.user_id


# --- the plan ------------------------------------------------------------------------------------


def _plan(
    request: ExportRequest, tables: Sequence[TableDef], chosen: Sequence[Participant], records: Sequence[LoadRecord]
) -> list[_Planned]:
    """Every file the export should hold, with the fingerprint of the load records it is written from."""
    by_user: dict[str, list[LoadRecord]] = {}
    for record in records:
        if (request.start_date is None or record.date >= request.start_date) and (
            request.end_date is None or record.date <= request.end_date
        ):
            by_user.setdefault(record.user_id, []).append(record)
    plan: list[_Planned] = []
    for participant in chosen:
        mine = by_user.get(participant.user_id, [])
        if not mine:
            continue
        user = _participant_id(request, participant)
        shift = request.pseudonymizer.shift_days(participant.user_id) if request.pseudonymizer else 0
        for table in tables:
            if table.granularity == "month":
                plan += _month_files(request, table, participant, user, shift, mine)
            elif table.granularity == "participant":
                relevant = [r for r in mine if table.payload in (None, r.payload)]
                if relevant:
                    path = file_path(table.name, request.format, user=user)
                    first, last = min(r.date for r in relevant), max(r.date for r in relevant)
                    plan.append(
                        _Planned(path, table, participant, first, last, _fingerprint(path, participant, relevant))
                    )
    if "participants" in [t.name for t in tables]:
        path = file_path("participants", request.format)
        fingerprint = _fingerprint(path, None, [], extra=[_participant_fields(p) for p in chosen])
        plan.append(_Planned(path, TABLES["participants"], None, date.min, date.max, fingerprint, tuple(chosen)))
    return plan


def _month_files(
    request: ExportRequest,
    table: TableDef,
    participant: Participant,
    user: str,
    shift: int,
    mine: Sequence[LoadRecord],
) -> list[_Planned]:
    # Months are the months of the (shifted) local days the reader sees; each file's real days follow.
    months: dict[str, list[LoadRecord]] = {}
    for record in mine:
        if record.payload == table.payload:
            months.setdefault(month_key(record.date + timedelta(days=shift)), []).append(record)
    by_day = {r.date: r for r in mine if r.payload == table.payload}
    planned = []
    for key, in_month in sorted(months.items()):
        shown = in_month[0].date + timedelta(days=shift)
        first = month_start(shown) - timedelta(days=shift)
        last = month_end(shown) - timedelta(days=shift)
        first = max(first, request.start_date) if request.start_date else first
        last = min(last, request.end_date) if request.end_date else last
        sources = list(in_month)
        following = by_day.get(last + timedelta(days=1))
        if following is not None and _bucket_straddles(table, following.date, participant.timezone):
            # A UTC-aligned bucket that starts in this month's last local day holds readings of the next
            # day (zones at +5:30, -3:30, ...): re-loading that day changes this file too.
            sources.append(following)
        path = file_path(table.name, request.format, user=user, month=key)
        planned.append(_Planned(path, table, participant, first, last, _fingerprint(path, participant, sources)))
    return planned


# The rollups' bucket widths, by the export's table name.
BUCKET_SECONDS = {"minute": 60, "hour": 3600}


def _bucket_straddles(table: TableDef, day: date, timezone: str) -> bool:
    """Whether ``day``'s local midnight falls inside one of ``table``'s UTC-aligned buckets."""
    if table.name not in BUCKET_SECONDS:
        return False
    try:
        midnight = local_day_window(day, timezone)[0]
    except ValueError:  # a zone the tz database lacks: the participant fails when written; assume the worst here
        return True
    return int(midnight.timestamp()) % BUCKET_SECONDS[table.name] != 0


def _participant_fields(p: Participant) -> list[Any]:
    return [*_participant_settings(p), p.first_day, p.last_day]


def _participant_settings(p: Participant) -> list[Any]:
    """What every file of a participant depends on (not the first and last day: a new day changes those)."""
    return [p.user_id, p.cohort, p.timezone, p.source]


def _fingerprint(
    path: str, participant: Participant | None, records: Sequence[LoadRecord], extra: Sequence[Any] = ()
) -> str:
    """What a file was written from: the participant's settings and the load records of its days."""
    content = [
        EXPORT_SCHEMA_VERSION,
        path,
        _participant_settings(participant) if participant else None,
        [[r.date, r.payload, r.loaded_at] for r in records],
        list(extra),
    ]
    return hashlib.sha256(json.dumps(content, default=str).encode()).hexdigest()


def _parameters(request: ExportRequest, tables: Sequence[str]) -> tuple[dict[str, Any], str]:
    """The manifest's parameters (real ids and dates withheld when de-identified) and an id to compare them by."""
    pseudonymizer = request.pseudonymizer
    full: dict[str, Any] = {
        "tables": list(tables),
        "format": request.format,
        "users": list(request.user_ids) if request.user_ids else None,
        "cohort": request.cohort,
        "from": request.start_date,
        "to": request.end_date,
        "deidentified": pseudonymizer is not None,
    }
    if pseudonymizer is not None:
        full |= {
            "key_fingerprint": pseudonymizer.fingerprint(),
            "max_shift_days": pseudonymizer.max_shift_days,
            "keep_weekday": pseudonymizer.keep_weekday,
        }
    identity = hashlib.sha256(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest()
    if pseudonymizer is not None:
        full |= {
            "users": [pseudonymizer.pseudonym(u) for u in request.user_ids] if request.user_ids else None,
            "from": "withheld" if request.start_date else None,
            "to": "withheld" if request.end_date else None,
        }
    return json.loads(json.dumps(full, default=str)), identity


def _project_version() -> str:
    try:
        return version("hr-pipeline")
    except PackageNotFoundError:
        return "unknown"


def _warehouse_schema(warehouse: Warehouse) -> int | None:
    with warehouse.connection(autocommit=True) as conn:
        state = schema_state(conn)
    return state[0] if state else None


# --- the mapping -------------------------------------------------------------------------------

MAPPING_MODE = 0o600


def _check_mapping_path(path: Path | None, destination: _Destination) -> None:
    if path is None:
        raise ExportError("a de-identified export needs a mapping file (outside the export) for the operator")
    if destination.local_root is not None:
        root = destination.local_root.resolve()
        if path.resolve().is_relative_to(root):
            raise ExportError("the mapping file must lie outside the export folder")


def _write_mapping(path: Path, pseudonymizer: Pseudonymizer, chosen: Sequence[Participant]) -> None:
    """The operator's id -> pseudonym -> shift file, readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["user_id,pseudonym,shift_days"]
    lines += [f"{p.user_id},{pseudonymizer.pseudonym(p.user_id)},{pseudonymizer.shift_days(p.user_id)}" for p in chosen]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, MAPPING_MODE)
    os.fchmod(descriptor, MAPPING_MODE)  # an existing file keeps its mode through os.open
    with os.fdopen(descriptor, "w") as out:
        out.write("\n".join(lines) + "\n")


# --- destinations --------------------------------------------------------------------------------


class _Destination:
    """A local folder or an fsspec URL (``s3://bucket/prefix``) with the export's files."""

    def __init__(self, url: str) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.local_root = Path(self.root) if _is_local(self.fs) else None

    def _path(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative}"

    def read_manifest(self) -> dict[str, Any]:
        path = self._path(MANIFEST)
        if not self.fs.exists(path):
            return {}
        manifest: dict[str, Any] = json.loads(self.fs.cat_file(path))
        if manifest.get("export_schema_version") != EXPORT_SCHEMA_VERSION:
            return {}
        return manifest

    @contextmanager
    def staging(self) -> Iterator[_Staging]:
        if self.local_root is not None:
            self.local_root.mkdir(parents=True, exist_ok=True)
            for leftover in self.local_root.glob(f"{STAGING_PREFIX}*"):  # from an export that was killed
                shutil.rmtree(leftover, ignore_errors=True)
            folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.local_root))
        else:
            folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX))
        try:
            yield _Staging(self, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return bool(protocol in ("file", "local"))


class _Staging:
    """Files written in full before any of them replaces the export's."""

    def __init__(self, destination: _Destination, folder: Path) -> None:
        self._destination = destination
        self._folder = folder
        self._staged: list[str] = []

    @contextmanager
    def open(self, relative: str) -> Iterator[BinaryIO]:
        path = self._folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            yield out
        self._staged.append(relative)

    def write(self, relative: str, data: bytes) -> None:
        with self.open(relative) as out:
            out.write(data)

    def discard(self, relatives: Sequence[str]) -> None:
        for relative in relatives:
            (self._folder / relative).unlink(missing_ok=True)
            if relative in self._staged:
                self._staged.remove(relative)

    def commit(self, *, removed: Sequence[str]) -> None:
        """Move every staged file into the export (the manifest last), then delete ``removed``."""
        destination = self._destination
        ordered = sorted(self._staged, key=lambda r: r == MANIFEST)
        for relative in ordered:
            source = self._folder / relative
            if destination.local_root is not None:
                target = destination.local_root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
            else:
                destination.fs.put_file(str(source), destination._path(relative))
        for relative in removed:
            path = destination._path(relative)
            if destination.fs.exists(path):
                destination.fs.rm(path)


# --- the operator's settings -----------------------------------------------------------------------

PSEUDONYM_KEY_FILE = "export-pseudonym.key"
MAPPINGS_FOLDER = "export-mappings"


def pseudonymizer_from_settings(*, max_shift_days: int, keep_weekday: bool) -> Pseudonymizer:
    """The operator's pseudonymizer: HR_EXPORT_PSEUDONYM_KEY, else ``HR_HOME/export-pseudonym.key`` (made 0600
    on first use, as HR_SECRET_KEY's file is)."""
    from hr_assets.settings import get_settings
    from hr_assets.warehouse.encryption import _read_or_create_key_file

    settings = get_settings()
    if settings.export_pseudonym_key is not None:
        key = settings.export_pseudonym_key.get_secret_value().encode()
    else:
        key = _read_or_create_key_file(settings.home / PSEUDONYM_KEY_FILE)
    return Pseudonymizer(key, max_shift_days=max_shift_days, keep_weekday=keep_weekday)


def default_mapping_path(destination: str) -> Path:
    """Where the operator's mapping of an export goes unless told: under HR_HOME, named after the destination."""
    from hr_assets.settings import get_settings

    name = hashlib.sha256(destination.encode()).hexdigest()[:12]
    return get_settings().home / MAPPINGS_FOLDER / f"{name}.csv"
