"""Dependencies of the routes: the app's state, a database connection, the caller's principal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hr_api.auth import NOBODY_IN_PARTICULAR, KeyVerifier, Principal, is_loopback
from hr_api.metrics import ApiMetrics
from hr_assets.settings import HrSettings
from hr_assets.warehouse.db import ConnectionPool


@dataclass
class ApiState:
    settings: HrSettings
    pool: ConnectionPool
    verifier: KeyVerifier
    metrics: ApiMetrics


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.hr
    return state


State = Annotated[ApiState, Depends(api_state)]

# Documents the scheme in OpenAPI (the docs page's "Authorize" button); checked in principal().
bearer = HTTPBearer(auto_error=False, description="A key from `hr api-keys create` (not needed with HR_API_AUTH=off).")


def principal(
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
    return state.verifier.principal(authorization)


Caller = Annotated[Principal, Depends(principal)]


def connection(state: State) -> Iterator[psycopg.Connection]:
    with state.pool.connection() as conn:
        yield conn


Connection = Annotated[psycopg.Connection, Depends(connection)]


def not_found(user_id: str) -> HTTPException:
    # The same answer for a user that does not exist and one the key may not read.
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"user_id: no user {user_id!r}")


def require_readable(caller: Principal, user_ids: list[str], registered: set[str]) -> None:
    for user_id in user_ids:
        if user_id not in registered or not caller.may_read(user_id):
            raise not_found(user_id)
