"""Dependencies of the routes: the app's state, a database connection, the caller's principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hr_api.auth import NOBODY_IN_PARTICULAR, KeyVerifier, Principal, is_loopback
from hr_api.metrics import ApiMetrics
from hr_assets.settings import HrSettings
from hr_assets.warehouse.audit import AuditWriter
from hr_assets.warehouse.db import ConnectionPool
from hr_assets.warehouse.study import cohort_members


@dataclass
class ApiState:
    settings: HrSettings
    pool: ConnectionPool
    verifier: KeyVerifier
    metrics: ApiMetrics
    # Writes the audit rows: to the database the API reads, or HR_API_AUDIT_DATABASE_URL when that is a replica.
    audit: AuditWriter


# Dependencies that do no I/O are coroutines: FastAPI runs a plain function dependency on a worker
# thread, and the hops cost more than the work (measured ~0.3 ms a request here).
async def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.hr
    return state


State = Annotated[ApiState, Depends(api_state)]

# Documents the scheme in OpenAPI (the docs page's "Authorize" button); checked in principal().
bearer = HTTPBearer(auto_error=False, description="A key from `hr api-keys create` (not needed with HR_API_AUTH=off).")


async def principal(
    request: Request, state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if state.settings.api_auth == "off":
        # Without keys the API answers only on loopback; a server bound elsewhere refuses.
        server = request.scope.get("server")
        if server and not is_loopback(str(server[0])):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail="HR_API_AUTH=off is allowed only on a loopback address"
            )
        return NOBODY_IN_PARTICULAR
    authorization = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    known = state.verifier.cached(authorization)
    if known is None:
        # A key seen for the first time (or again after KEY_CACHE_SECONDS) is looked up on a worker thread.
        known = await run_in_threadpool(state.verifier.principal, authorization)
    if known.cohort is not None:
        # Not cached: a participant moved into or out of the cohort counts from the next request on.
        known = known.with_members(await run_in_threadpool(_cohort_members, state, known.cohort))
    return known


def _cohort_members(state: ApiState, cohort: str) -> frozenset[str]:
    with state.pool.connection() as conn:
        return cohort_members(conn, cohort)


Caller = Annotated[Principal, Depends(principal)]


def not_found(user_id: str) -> HTTPException:
    # The same answer for a user that does not exist and one the key may not read.
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"user_id: no user {user_id!r}")


def require_readable(caller: Principal, user_ids: list[str], registered: set[str]) -> None:
    for user_id in user_ids:
        if user_id not in registered or not caller.may_read(user_id):
            raise not_found(user_id)
