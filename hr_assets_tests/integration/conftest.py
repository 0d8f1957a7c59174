"""The integration layer's fixtures: tests against the real PostgreSQL server of the root conftest,
materialising assets, running the CLI and the pipeline's processes against a database."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from hr_assets_tests.integration.orchestration import Received, Receiver, _serving, _webhook_handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook that records every POST and answers 200."""
    received: list[Received] = []
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), _webhook_handler(received, 200))) as port:
        yield Receiver(f"http://127.0.0.1:{port}/hook", received)
