"""Resources: where the warehouse is. Configuration only; the logic is in ``warehouse``."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from hr_assets import localdb
from hr_assets.settings import get_settings
from hr_assets.warehouse.db import Mode
from hr_assets.warehouse.migrations import migrate

# Database names on the embedded server: the warehouse, and Dagster's run and event storage.
WAREHOUSE_DATABASE = "hr"
DAGSTER_DATABASE = "dagster"


def resolve_database_url(explicit: str | None = None) -> str:
    """``explicit``, else ``HR_DATABASE_URL``, else the embedded server (started if needed)."""
    settings = get_settings()
    url = explicit or settings.database_url
    if url:
        return url
    server = localdb.ensure_running(settings.home / "postgres")
    return localdb.ensure_database(server, WAREHOUSE_DATABASE)


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The warehouse database. Unset URL: HR_DATABASE_URL, else the embedded PostgreSQL."""

    database_url: str | None = None
    _url: str | None = PrivateAttr(default=None)
    _mode: Mode | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Cheap when up to date (one query under an advisory lock); makes every run self-sufficient.
        self._mode, applied = migrate(self.url)
        if context.log and applied:
            context.log.info(f"applied migrations: {', '.join(applied)}")

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = resolve_database_url(self.database_url)
        return self._url

    @property
    def mode(self) -> Mode:
        if self._mode is None:
            self._mode, _ = migrate(self.url)
        return self._mode
