"""The export tests' fixtures: a warehouse loaded with participants in several zones, DST days included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hr_assets_tests.conftest import TEMPLATE, create_database, drop_database
from hr_assets_tests.export.helpers import DAYS, new_users
from hr_assets_tests.warehouse_data import load_simulated


@pytest.fixture
def export_db(pg_server: Any, template_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new warehouse with ZONES' participants loaded over DAYS (the tests may change it)."""
    name = f"hr_export_{request.node.name[:30].lower().replace('[', '_').replace(']', '_')}"
    drop_database(pg_server, name)
    url = create_database(pg_server, name, template=TEMPLATE)
    load_simulated(url, new_users(), DAYS)
    yield url
    drop_database(pg_server, name)
