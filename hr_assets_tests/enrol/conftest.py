"""The enrolment tests' fixture: the Google fake serving and the enrolment settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hr_assets.settings import get_settings
from hr_assets_tests.enrol.helpers import TEST_PUBLIC_URL, Enrolment, enrolment_environment
from hr_assets_tests.google_fake import serving


@pytest.fixture
def enrolment(
    hr_home: Path, db_url: str, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Enrolment]:
    with serving() as fake:
        enrolment_environment(monkeypatch, fake, TEST_PUBLIC_URL)
        yield Enrolment(fake, db_url, conn, TEST_PUBLIC_URL)
    get_settings.cache_clear()
