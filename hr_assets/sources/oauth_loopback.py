"""The loopback HTTP receiver of the OAuth consent flow: the one redirect Google's consent page sends to
``http://127.0.0.1:<port>/`` with the code (RFC 8252's loopback redirect for native apps).

The protocol (URLs, code exchange, refresh, revocation) is :mod:`hr_assets.sources.google_oauth`;
the grants are stored by :mod:`hr_assets.warehouse.tokens`.
"""

from __future__ import annotations

import html
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Loopback only: the code in the redirect must not be reachable from another machine.
LOOPBACK_HOST = "127.0.0.1"

_DONE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>hr-pipeline</title>"
    "<p>{message}</p><p>You can close this tab and return to the terminal.</p>"
)


class LoopbackReceiver(ThreadingHTTPServer):
    """Waits for the one request that Google's redirect sends to ``http://127.0.0.1:<port>/``."""

    def __init__(self) -> None:
        super().__init__((LOOPBACK_HOST, 0), _RedirectHandler)
        self.params: dict[str, str] | None = None
        self.arrived = threading.Event()

    @property
    def redirect_uri(self) -> str:
        return f"http://{LOOPBACK_HOST}:{self.server_address[1]}/"


class _RedirectHandler(BaseHTTPRequestHandler):
    server: LoopbackReceiver

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query))
        if url.path != "/" or not ({"code", "error"} & params.keys()):
            self.send_error(404)  # a favicon, a probe: not the redirect
            return
        if self.server.params is None:
            self.server.params = params
            self.server.arrived.set()
        message = "hr-pipeline is connected." if "code" in params else "Access was not granted."
        body = _DONE_PAGE.format(message=html.escape(message)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line carries the authorization code


@contextmanager
def receiving() -> Iterator[LoopbackReceiver]:
    """A receiver listening on a free loopback port for the block, served from a thread."""
    receiver = LoopbackReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True, name="hr-oauth-redirect")
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join()
