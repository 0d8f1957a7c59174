"""The error answers each endpoint documents in the OpenAPI schema (all JSON ``{"detail": "..."}``)."""

from __future__ import annotations

from typing import Any

from hr_api.models import ErrorResponse

Responses = dict[int | str, dict[str, Any]]

# Every endpoint that needs a key (all but /health). Without keys (HR_API_AUTH=off) the schema has
# no 401 and no bearer scheme, and a 403 for a server on an address that is not loopback: see hr_api.main.
KEYED: Responses = {
    401: {"model": ErrorResponse, "description": "No key, or an unknown or revoked one."},
    503: {"model": ErrorResponse, "description": "The warehouse does not answer or a query timed out: retry later."},
}
LOOPBACK_ONLY: Responses = {
    403: {"model": ErrorResponse, "description": "HR_API_AUTH=off is allowed only on a loopback address."}
}
METRICS_REFUSED: Responses = {
    403: {
        "model": ErrorResponse,
        "description": "A key without --all or --metrics (or HR_API_AUTH=off on an address that is not loopback).",
    }
}
NOT_FOUND: Responses = {404: {"model": ErrorResponse, "description": "No such user (or not one this key may read)."}}
INVALID: Responses = {422: {"model": ErrorResponse, "description": "A parameter is invalid; the message names it."}}
SERIES: Responses = {
    **KEYED,
    **NOT_FOUND,
    422: {"model": ErrorResponse, "description": "A parameter is invalid, or the range holds too many points."},
}
