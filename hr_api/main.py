"""The FastAPI application: ``uvicorn hr_api.main:app``, or ``hr api``.

``create_app`` builds an app for a settings object (tests pass their own); the module-level
``app`` reads the environment. Nothing connects at import: the pool opens when the app starts
and reaches the database whenever it answers, so the API may start before its database.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from hr_api import __version__
from hr_api.auth import KeyVerifier
from hr_api.deps import ApiState
from hr_api.metrics import ApiMetrics, MetricsMiddleware
from hr_api.responses import LOOPBACK_ONLY
from hr_api.routes import export, meta, metrics, study, summary, timeseries, users
from hr_assets.domain.study import StudyRules
from hr_assets.settings import HrSettings, get_settings
from hr_assets.warehouse.audit import AuditWriter
from hr_assets.warehouse.db import ConnectionPool, SchemaError, WarehouseError, WarehouseTimeout, WarehouseUnavailable

log = logging.getLogger(__name__)
# How long a request waits for a free connection before it is answered 503.
POOL_WAIT_SECONDS = 5.0
UNAVAILABLE = "database unavailable"


def resolve_api_database_url(settings: HrSettings) -> str:
    """HR_API_DATABASE_URL, else the pipeline's warehouse (HR_DATABASE_URL or the embedded server)."""
    if settings.api_database_url:
        return settings.api_database_url
    from hr_assets.local.localdb import resolve_database_url

    return resolve_database_url()


class SinglePageApp(StaticFiles):
    """The built dashboard; paths that are not files get index.html (the app reads its state from the URL).

    Whether it is built is looked at on every request, so a `make web` while the API runs is served at
    once, and a message never says the dashboard is missing after it was built.
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.web_dir = directory

    async def check_config(self) -> None:
        if self.web_dir.is_dir():  # not built yet: get_response says so
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not (self.web_dir / "index.html").is_file():
            return JSONResponse(
                {
                    "detail": f"the dashboard is not built ({self.web_dir} has no index.html): run `make web` "
                    "(needs Node.js); it is served as soon as it is built"
                },
                status_code=404,
            )
        try:
            return await super().get_response(path, scope)
        except StarletteHTTPException as exc:
            if exc.status_code != 404:
                raise
            return await super().get_response("index.html", scope)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("query", "path", "header", "body")]
        parts.append(f"{'.'.join(location) or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def _target(request: Request) -> str:
    """The path and query a request asked for: what an operator needs to find the query that failed or timed out."""
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def create_app(settings: HrSettings | None = None, database_url: str | None = None) -> FastAPI:
    """The API for ``settings`` (default: the environment), reading ``database_url`` if given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url or resolve_api_database_url(settings)
        pool = ConnectionPool(
            url,
            max_size=settings.api_pool_size,
            statement_timeout_ms=settings.api_statement_timeout_ms,
            read_only=True,
            wait_seconds=POOL_WAIT_SECONDS,
            name="hr-api",
        )
        pool.open()
        metrics_key = settings.api_metrics_key.get_secret_value() if settings.api_metrics_key else None
        metrics = ApiMetrics(pool, __version__, settings.prometheus_multiproc_dir, StudyRules.from_settings(settings))
        audit = AuditWriter(
            settings.api_audit_database_url or url, max_size=settings.api_pool_size, wait_seconds=POOL_WAIT_SECONDS
        )
        await audit.open()
        app.state.hr = ApiState(settings, pool, KeyVerifier(pool, metrics_key), metrics, audit)
        log.info("hr-api %s: auth %s", __version__, settings.api_auth)
        try:
            yield
        finally:
            pool.close()
            await audit.close()

    app = FastAPI(
        title="hr-pipeline API",
        version=__version__,
        description="Heart rate per user from a year down to the second. Every endpoint but /health needs "
        "`Authorization: Bearer <key>` unless the server runs with HR_API_AUTH=off (loopback only).",
        lifespan=lifespan,
        # /users/ is a user without an id (404), not a redirect to the list of users.
        redirect_slashes=False,
    )
    for router in (
        meta.router,
        users.router,
        timeseries.router,
        summary.router,
        study.router,
        metrics.router,
        export.router,
    ):
        app.include_router(router)
    if settings.api_auth == "off":
        app.openapi = partial(_openapi_without_keys, app)  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    # A database whose schema is missing or behind (a first migration still running) is unavailable until it is
    # migrated, as /health says.
    @app.exception_handler(SchemaError)
    @app.exception_handler(WarehouseUnavailable)
    @app.exception_handler(WarehouseTimeout)
    async def unavailable(request: Request, exc: WarehouseError) -> JSONResponse:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        log.warning("%s %s: %s%s", request.method, _target(request), exc, cause)
        return JSONResponse({"detail": UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(WarehouseError)
    async def warehouse_error(request: Request, exc: WarehouseError) -> JSONResponse:
        log.error("%s %s: %s", request.method, _target(request), exc)
        return JSONResponse({"detail": "the query failed; the server's log has the details"}, status_code=500)

    _mount_dashboard(app, settings.api_web_dir)
    if settings.api_cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origin_list,
            allow_methods=["GET"],
            allow_headers=["Authorization"],
            allow_credentials=False,
        )
    app.add_middleware(MetricsMiddleware, metrics=lambda: app.state.hr.metrics)
    return app


def _openapi_without_keys(app: FastAPI) -> dict[str, Any]:
    """The schema of a server without keys: no bearer scheme and no 401, but the 403 of a server that is not on
    loopback (clients, /docs and fuzzers believe the schema)."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        schema.get("components", {}).pop("securitySchemes", None)
        for operation in (op for path in schema["paths"].values() for op in path.values()):
            if operation.pop("security", None) is not None:
                operation["responses"].pop("401", None)
                operation["responses"].setdefault("403", _LOOPBACK_ONLY_SCHEMA)
        app.openapi_schema = schema
    return app.openapi_schema


_LOOPBACK_ONLY_SCHEMA = {
    "description": LOOPBACK_ONLY[403]["description"],
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


def _mount_dashboard(app: FastAPI, web_dir: Path) -> None:
    app.mount("/app", SinglePageApp(web_dir), name="dashboard")

    @app.get("/app", include_in_schema=False)
    def dashboard_root() -> RedirectResponse:
        return RedirectResponse("/app/")


app = create_app()
