"""The audit of every request for participant data: a dependency each data route takes (``Audit`` in its signature,
or ``AUDITED`` in its router's dependencies).

The row is written after the route has answered and before the answer leaves: the key, the route, the
participants (those the request named, or those a study route listed), the range asked for and the status.
A data answer whose row cannot be written is replaced by a 503: no participant data leaves unrecorded. An
error answer (404, 422, ...) goes out even then, with the failure in the log: it carries no data.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError

from hr_api.deps import Caller, State
from hr_assets.warehouse import audit
from hr_assets.warehouse.db import SchemaError, WarehouseError, WarehouseTimeout, WarehouseUnavailable
from hr_assets.warehouse.users import USER_ID_RE

log = logging.getLogger(__name__)

NOT_AUDITED = "the request could not be recorded in the audit log, so its data is withheld: retry later"
# Query parameters that bound the range a data route reads, as (start, end) pairs.
_RANGE_PARAMETERS = (("start_date", "end_date"), ("start", "end"))


@dataclass
class AuditFacts:
    """What the audit row will say was read; a route that lists participants itself sets ``participants``."""

    participants: list[str] = field(default_factory=list)
    range_start: str | None = None
    range_end: str | None = None


def _requested(request: Request) -> AuditFacts:
    """The participants and range a request names, as far as they are in the forms the API accepts: a value it
    refuses (a 422) is not copied into the log."""
    named = [request.path_params.get("user_id"), request.query_params.get("user_id")]
    named += request.query_params.get("user_ids", "").split(",")
    participants = list(dict.fromkeys(p.strip() for p in named if p and USER_ID_RE.match(p.strip())))
    for start, end in _RANGE_PARAMETERS:
        if start in request.query_params or end in request.query_params:
            return AuditFacts(participants, _instant(request, start), _instant(request, end))
    return AuditFacts(participants)


def _instant(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def _status_of(exc: BaseException) -> int:
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, RequestValidationError):
        return status.HTTP_422_UNPROCESSABLE_CONTENT
    if isinstance(exc, SchemaError | WarehouseUnavailable | WarehouseTimeout):
        return status.HTTP_503_SERVICE_UNAVAILABLE
    return status.HTTP_500_INTERNAL_SERVER_ERROR


async def audited(request: Request, state: State, caller: Caller) -> AsyncIterator[AuditFacts]:
    """Around a data route: the facts for it to complete, then the audit row (HR_API_AUDIT=off: none)."""
    facts = _requested(request)
    route = getattr(request.scope.get("route"), "path", request.url.path)

    def entry(answer: int) -> audit.AuditEntry:
        return audit.AuditEntry(caller.key_id, route, facts.participants, facts.range_start, facts.range_end, answer)

    if state.settings.api_audit == "off":
        yield facts
        return
    try:
        yield facts
    except BaseException as exc:
        try:
            await state.audit.record(entry(_status_of(exc)))
        except WarehouseError as failure:
            log.error("%s %s: the audit row of a %s answer was not written: %s", request.method, route, exc, failure)
        raise
    try:
        await state.audit.record(entry(status.HTTP_200_OK))
    except WarehouseError as failure:
        log.error("%s %s: the audit row was not written, the data withheld: %s", request.method, route, failure)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=NOT_AUDITED) from None


# Routes that take the facts (to name the participants they listed) declare ``facts: Audit``.
Audit = Annotated[AuditFacts, Depends(audited, scope="function")]
AUDITED = Depends(audited, scope="function")
