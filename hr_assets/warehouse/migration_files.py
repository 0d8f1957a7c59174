"""Where the migration files are and how they are named, apart from applying them.

Kept apart from :mod:`.migrations` so that :meth:`hr_assets.warehouse.db.Warehouse.check_schema`
can ask for the newest version without the module that applies migrations (which needs ``db``).
"""

from __future__ import annotations

import re
from pathlib import Path

from hr_assets.settings import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
FILE_RE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?:\.(?P<mode>timescale|postgres))?\.sql$")


def latest_version(directory: Path = MIGRATIONS_DIR) -> int:
    """The newest migration version this code has, in either mode."""
    versions = [int(m["version"]) for path in directory.glob("*.sql") if (m := FILE_RE.match(path.name))]
    return max(versions, default=0)
