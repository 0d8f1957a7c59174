"""The unit layer: pure tests of the project's functions, no server, no subprocess; the whole layer
runs in seconds (``make test-fast``). A test here that asks for a database belongs in integration/."""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT_DIR = Path(__file__).parent
# The root conftest's fixtures that start or use the tests' PostgreSQL server.
SERVER_FIXTURES = frozenset({"pg_server", "template_url", "empty_db_url", "db_url", "conn", "hr_home"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a unit test that needs the server, naming it and the fixtures, so the fast layer stays fast."""
    for item in items:
        if item.path.is_relative_to(UNIT_DIR):
            needs = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            if needs:
                raise pytest.UsageError(
                    f"{item.nodeid} is a unit test but uses {sorted(needs)}: move it to integration/"
                )
