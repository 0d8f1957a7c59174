"""The public enrolment pages, a small app beside the query API:
``uvicorn --factory hr_api.enrol.app:create_enrol_app``.

It is the one part of the system meant to face the internet (behind the ``public`` compose profile's
Caddy, which forwards only ``/enroll/*``), so it is separate from the query API: it has none of the
API's routes, needs no API key (the link's secret is the capability), and writes with the pipeline's
database URL (HR_DATABASE_URL) while the API keeps its read-only one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, ParamSpec, TypeVar

from fastapi import APIRouter, Cookie, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from hr_api.enrol import flow, pages
from hr_api.enrol.security import RateLimit, SecurityHeaders, redact_access_log
from hr_assets.domain.enrolment import CALLBACK_PATH, ENROL_PATH, WITHDRAW_PATH, is_https
from hr_assets.settings import HrSettings, get_settings
from hr_assets.warehouse.invitations import CONSENT_LIFETIME

log = logging.getLogger(__name__)
STATE_COOKIE = "hr_enrol_state"

P = ParamSpec("P")
T = TypeVar("T")


def resolve_enrol_database_url() -> str:
    """The pipeline's warehouse (HR_DATABASE_URL or the embedded server): enrolment writes."""
    from hr_assets.local.localdb import resolve_database_url

    return resolve_database_url()


def create_enrol_app(settings: HrSettings | None = None, database_url: str | None = None) -> FastAPI:
    """The enrolment pages for ``settings`` (default: the environment), on ``database_url`` if given."""
    settings = settings or get_settings()
    url = database_url or resolve_enrol_database_url()
    texts = pages.Pages(settings)
    limit = RateLimit(settings)
    redact_access_log()
    app = FastAPI(title="hr-pipeline enrolment", docs_url=None, redoc_url=None, openapi_url=None)
    router = APIRouter(prefix=ENROL_PATH)

    def page(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status)

    def problem(found: pages.Problem, retry: flow.Redirect | None = None) -> HTMLResponse:
        response = page(texts.problem(found, retry.url if retry else None), found.status)
        if retry is not None:
            set_state(response, retry.state)
        return response

    def set_state(response: Response, state: str) -> None:
        response.set_cookie(
            STATE_COOKIE,
            state,
            max_age=int(CONSENT_LIFETIME.total_seconds()),
            path=CALLBACK_PATH,
            httponly=True,
            samesite="lax",  # sent on Google's top-level redirect back, not on other sites' requests
            secure=is_https(settings),
        )

    async def guarded(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | HTMLResponse:
        # A failure is logged without the request's path (it holds the secret) and answered with a plain page.
        try:
            return await run_in_threadpool(work, *args, **kwargs)
        except Exception:
            log.exception("enrolment: %s failed", getattr(work, "__name__", "a step"))
            return problem(pages.UNAVAILABLE)

    @app.middleware("http")
    async def rate_limited(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        address = request.client.host if request.client else "unknown"
        wait = limit.retry_after(address)
        if wait is not None:
            response = problem(pages.TOO_MANY)
            response.headers["Retry-After"] = str(wait)
            return response
        return await call_next(request)

    @router.get("/callback", response_class=HTMLResponse)
    async def callback(
        request: Request, state_cookie: Annotated[str | None, Cookie(alias=STATE_COOKIE)] = None
    ) -> Response:
        finished = await guarded(flow.finish, url, settings, dict(request.query_params), state_cookie)
        if isinstance(finished, Response):
            return finished
        if finished.problem is not None:
            # The cookie stays: a redirect that did not belong to this browser must not end its own consent.
            return problem(finished.problem, finished.retry)
        body = texts.render(
            "connected.html", withdrawal_link=finished.withdrawal_link, data_text=pages.data_text(settings)
        )
        response = page(body)
        response.delete_cookie(STATE_COOKIE, path=CALLBACK_PATH, httponly=True, samesite="lax")
        return response

    async def page_of_link(find_user: Callable[[str, str], str | None], secret: str, template: str) -> Response:
        # Opening a link changes nothing: mail scanners and link previews fetch it before the participant does.
        user_id = await guarded(find_user, url, secret)
        if isinstance(user_id, Response):
            return user_id
        if user_id is None:
            return problem(pages.LINK_NOT_VALID)
        return page(texts.render(template, secret=secret, data_text=pages.data_text(settings)))

    withdraw_prefix = WITHDRAW_PATH.removeprefix(ENROL_PATH)

    @router.get(withdraw_prefix + "/{secret}", response_class=HTMLResponse)
    async def withdrawal_page(secret: str) -> Response:
        return await page_of_link(flow.withdrawal_user, secret, "withdraw.html")

    @router.post(withdraw_prefix + "/{secret}", response_class=HTMLResponse)
    async def withdraw(secret: str) -> Response:
        found = await guarded(flow.withdraw, url, settings, secret)
        if isinstance(found, Response):
            return found
        if found is not None:
            return problem(found)
        return page(texts.render("withdrawn.html", data_done=pages.data_done(settings)))

    @router.get("/{token}", response_class=HTMLResponse)
    async def landing(token: str) -> Response:
        return await page_of_link(flow.invitation_user, token, "landing.html")

    @router.post("/{token}/start")
    async def start(token: str) -> Response:
        redirect = await guarded(flow.begin, url, settings, token)
        if isinstance(redirect, Response):
            return redirect
        if redirect is None:
            return problem(pages.LINK_NOT_VALID)
        response = RedirectResponse(redirect.url, status_code=303)
        set_state(response, redirect.state)
        return response

    app.mount(f"{ENROL_PATH}/static", StaticFiles(directory=pages.STATIC_DIR), name="enrol-static")
    app.include_router(router)
    app.add_middleware(SecurityHeaders, settings=settings)
    return app
