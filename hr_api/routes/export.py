"""One participant's data as a file to download (Parquet or CSV), streamed as it is read."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from hr_api.audit import AUDITED
from hr_api.deps import Caller, State, not_found
from hr_api.params import INSTANT_SCHEMA, USER_ID_SCHEMA, invalid, parse_day, parse_user_id
from hr_api.responses import INVALID, KEYED, NOT_FOUND

if TYPE_CHECKING:
    from hr_assets.warehouse.export import Participant

log = logging.getLogger(__name__)

# A download is participant data: each request is audited (hr_api/audit.py).
router = APIRouter(dependencies=[AUDITED])

# The local days a download may cover: every zone's midnight of them is an instant of the years 1 to 9999 in UTC.
FIRST_DAY, LAST_DAY = date(1, 1, 2), date(9999, 12, 30)
# The file formats (hr_assets.domain.export.Format; named here so the API's start-up does not load the writers).
Format = Literal["parquet", "csv"]
# The tables one participant's download offers, by the name of the level.
Level = Literal["readings", "minute", "hour", "day", "summary", "zones"]
MEDIA_TYPES: dict[str, str] = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv; charset=utf-8"}


@router.get(
    "/export/{user_id}",
    responses={
        **KEYED,
        **NOT_FOUND,
        **INVALID,
        200: {"content": {m: {} for m in MEDIA_TYPES.values()}, "description": "The file, streamed."},
    },
    response_class=StreamingResponse,
    summary="One participant's data as a Parquet or CSV file",
)
def export_participant(
    user_id: Annotated[str, Path(description="The participant.", examples=["user1"], json_schema_extra=USER_ID_SCHEMA)],
    caller: Caller,
    state: State,
    start_date: Annotated[
        str,
        Query(description="First local day (YYYY-MM-DD).", examples=["2025-06-01"], json_schema_extra=INSTANT_SCHEMA),
    ],
    end_date: Annotated[
        str,
        Query(
            description="The local day after the last one (exclusive, YYYY-MM-DD).",
            examples=["2025-07-01"],
            json_schema_extra=INSTANT_SCHEMA,
        ),
    ],
    level: Annotated[Level, Query(description="The table, as in `hr export` (docs/export.md).")] = "readings",
    format: Annotated[Format, Query(description="parquet (zstd) or csv.")] = "parquet",
) -> StreamingResponse:
    """The table ``level`` of ``user_id`` over the local days [start_date, end_date), in the columns and types of
    `hr export` (its layout's partition column, user_id, is the file's name).

    A key that may not read the participant gets the answer an unknown participant gets (404).
    """
    parse_user_id(user_id)
    first, after = parse_day(start_date, "start_date"), parse_day(end_date, "end_date")
    if after <= first:
        raise invalid("end_date", "end_date must be after start_date")
    if first < FIRST_DAY or after > LAST_DAY:
        bad = "start_date" if first < FIRST_DAY else "end_date"
        raise invalid(bad, f"days from {FIRST_DAY} to {LAST_DAY}: a local day there has an instant in UTC")
    last = after - timedelta(days=1)
    if not caller.may_read(user_id):
        raise not_found(user_id)
    from hr_assets.warehouse.export import participants  # with the writers: numpy, loaded on the first download

    with state.pool.connection() as conn:
        found = participants(conn, user_ids=[user_id])
    if not found:
        raise not_found(user_id)
    filename = f"{user_id}_{level}_{first}_{last}.{format}"
    return StreamingResponse(
        _file(state, found[0], level, first, last, format),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _file(state: State, participant: Participant, level: str, first: date, last: date, fmt: Format) -> Iterator[bytes]:
    """The file's bytes as each batch is written: memory holds one batch, not the file."""
    # The writers (pyarrow, polars) load with the first download, not with the API.
    from hr_assets.domain.export import TABLES, TableWriter
    from hr_assets.domain.export_runner import table_batches

    table = TABLES[level]
    written: list[bytes] = []
    writer = TableWriter(written.append, table.schema, fmt)
    with state.pool.connection() as conn:
        for batch in table_batches(conn, table, participant, first, last):
            writer.write(batch)
            if written:
                yield b"".join(written)
                written.clear()
    writer.close()
    yield b"".join(written)
