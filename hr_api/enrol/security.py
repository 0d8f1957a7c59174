"""What keeps the public enrolment pages safe: response headers, a rate limit per client address, and the
access log's redaction of the secrets in their paths.
"""

from __future__ import annotations

import logging
import math
import time
import urllib.parse

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hr_assets.domain.enrolment import ENROL_PATH
from hr_assets.settings import HrSettings

# Path words of the enrolment routes; every other segment under /enroll/ is (or could be) a secret.
ROUTE_WORDS = frozenset({"callback", "withdraw", "start", "static", "enrol.css"})
REDACTED = "<redacted>"
# A year, the longest max-age browsers are asked to remember HTTPS for (hstspreload.org's minimum).
HSTS_MAX_AGE_S = 31_536_000


def content_security_policy(settings: HrSettings) -> str:
    """Nothing but this site's own stylesheet; forms post here and to Google's consent page only.

    ``form-action`` names Google's authorization origin because browsers apply it to the redirect a
    form's answer makes, and the consent button's answer is a redirect to Google.
    """
    google = urllib.parse.urlsplit(settings.google_authorize_url)
    return (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action 'self' {google.scheme}://{google.netloc}; base-uri 'none'; frame-ancestors 'none'"
    )


def security_headers(settings: HrSettings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "Referrer-Policy": "no-referrer",  # the token is in the URL: never sent on to another site
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        "Cache-Control": "no-store",  # pages carry secrets (the withdrawal link)
    }
    if (settings.public_url or "").lower().startswith("https://"):
        headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE_S}"
    return headers


class SecurityHeaders:
    """ASGI middleware setting :func:`security_headers` on every response of the app, errors included."""

    def __init__(self, app: ASGIApp, settings: HrSettings) -> None:
        self.app = app
        self.headers = security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


class RateLimit:
    """At most ``settings.enrol_rate_limit`` requests per client address, in a moving window (``limits``)."""

    def __init__(self, settings: HrSettings) -> None:
        self.item: RateLimitItem = parse(settings.enrol_rate_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, address: str) -> int | None:
        """None when ``address`` may go on; else the whole seconds until it may."""
        if self.limiter.hit(self.item, "enrol", address):
            return None
        reset = self.limiter.get_window_stats(self.item, "enrol", address).reset_time
        return max(1, math.ceil(reset - time.time()))


def redact_path(path: str) -> str:
    """``path`` with every segment after /enroll/ that is not a route word, and the query, replaced."""
    route, separator, _query = path.partition("?")
    if route != ENROL_PATH and not route.startswith(f"{ENROL_PATH}/"):
        return path
    parts = route.split("/")
    kept = [part if index < 2 or part in ROUTE_WORDS or not part else REDACTED for index, part in enumerate(parts)]
    return "/".join(kept) + (f"?{REDACTED}" if separator else "")


class RedactEnrolmentPaths(logging.Filter):
    """For uvicorn's access log, whose arguments are (client, method, path, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def redact_access_log() -> None:
    """Install :class:`RedactEnrolmentPaths` on uvicorn's access log (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactEnrolmentPaths) for f in access.filters):
        access.addFilter(RedactEnrolmentPaths())
