"""Service information and health."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hr_api import __version__
from hr_api.deps import Caller, State
from hr_api.models import Health, Limits, ServiceInfo
from hr_api.params import DEFAULT_MAX_POINTS, MAX_COMPLIANCE_DAYS, MAX_POINTS_LIMIT, MAX_SUMMARY_DAYS, MAX_USERS
from hr_api.responses import KEYED
from hr_assets.warehouse.db import WarehouseError, schema_state

log = logging.getLogger(__name__)
router = APIRouter()

# How long /health waits for a connection: a probe should answer quickly either way.
HEALTH_WAIT_SECONDS = 2.0

ENDPOINTS = {
    "/": "this description",
    "/limits": "the most users, points and days one request may ask for",
    "/health": "200 when the warehouse answers, 503 when it does not (no key needed)",
    "/users": "the registered users this key may read",
    "/users/{user_id}": "a user's registry entry, first and last reading, days with data",
    "/timeseries": "one user's heart rate in a range, at 1s (raw), 1m, 1h or 1d (local days)",
    "/multi-user/timeseries": "several users' heart rate in a range, at one resolution",
    "/summary": "per local day: resting heart rate, minutes per zone, calories, coverage, quarantined records",
    "/metrics": "Prometheus metrics (an --all or --metrics key)",
    "/docs": "interactive OpenAPI documentation (schema at /openapi.json)",
    "/app/": "the dashboard",
}


@router.get("/", response_model=ServiceInfo, responses=KEYED, summary="Service information")
def service_info(caller: Caller) -> ServiceInfo:
    return ServiceInfo(
        message="hr-pipeline heart-rate API",
        version=__version__,
        description="Heart rate per user from a year down to the second, from the hr-pipeline warehouse "
        "(TimescaleDB or PostgreSQL).",
        endpoints=ENDPOINTS,
    )


@router.get("/limits", response_model=Limits, responses=KEYED, summary="What one request may ask for")
def limits(caller: Caller) -> Limits:
    return Limits(
        max_users=MAX_USERS,
        max_points=MAX_POINTS_LIMIT,
        default_max_points=DEFAULT_MAX_POINTS,
        max_summary_days=MAX_SUMMARY_DAYS,
        max_compliance_days=MAX_COMPLIANCE_DAYS,
    )


@router.get(
    "/health",
    response_model=Health,
    summary="Whether the warehouse answers",
    responses={503: {"model": Health, "description": "The warehouse does not answer."}},
)
def health(state: State) -> JSONResponse:
    try:
        with state.pool.connection(wait_seconds=HEALTH_WAIT_SECONDS) as conn:
            schema = schema_state(conn)
    except WarehouseError as exc:
        log.warning("health: warehouse unavailable: %s", exc)
        body = Health(status="unhealthy", database_connected=False, version=__version__, detail="database unavailable")
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    if schema is None:
        body = Health(
            status="unhealthy",
            database_connected=True,
            version=__version__,
            detail="the warehouse has no schema yet: run `hr setup`",
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    version, mode = schema
    body = Health(status="healthy", database_connected=True, version=__version__, mode=mode, schema_version=version)
    return JSONResponse(body.model_dump(mode="json"))
