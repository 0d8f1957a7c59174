"""Prometheus metrics (scraped with an --all or --metrics key)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hr_api.deps import Caller, State
from hr_api.responses import KEYED, METRICS_REFUSED

router = APIRouter()


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."},
        **KEYED,
        **METRICS_REFUSED,
    },
)
def metrics(caller: Caller, state: State) -> Response:
    if not caller.metrics:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="this key may not read /metrics (hr api-keys create --metrics)"
        )
    return Response(generate_latest(state.metrics.scrape_registry), media_type=CONTENT_TYPE_LATEST)
