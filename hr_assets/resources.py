"""Dagster resources: where the warehouse is, and which sources load the data. Chosen in definitions.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import PrivateAttr

from hr_assets import localdb
from hr_assets.settings import get_settings
from hr_assets.warehouse.db import Connection, Mode, Warehouse

# Database names on the embedded server: the warehouse, and Dagster's run and event storage.
WAREHOUSE_DATABASE = "hr"
DAGSTER_DATABASE = "dagster"


class EmbeddedServerNotRunning(RuntimeError):
    pass


def resolve_database_url(explicit: str | None = None, *, start: bool = True) -> str:
    """``explicit``, else ``HR_DATABASE_URL``, else the embedded server (started when ``start``)."""
    settings = get_settings()
    url = explicit or settings.database_url
    if url:
        return url
    root = settings.home / "postgres"
    server = localdb.ensure_running(root) if start else localdb.running_server(root)
    if server is None:
        raise EmbeddedServerNotRunning(
            f"the embedded PostgreSQL in {root} is not running and HR_DATABASE_URL is unset: start it with "
            "`hr db start` (make run does), or set HR_DATABASE_URL"
        )
    return localdb.ensure_database(server, WAREHOUSE_DATABASE) if start else server.url(WAREHOUSE_DATABASE)


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The warehouse: ``database_url``, else HR_DATABASE_URL, else the running embedded PostgreSQL.

    Hands out connections whose driver errors arrive translated (transient or not). Building it
    neither migrates nor starts a server: a run or sensor tick checks, with one query, that the
    schema is current, and says to run ``hr setup`` when it is not.
    """

    database_url: str | None = None
    _warehouse: Warehouse | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.warehouse.check_schema()

    @property
    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse(resolve_database_url(self.database_url, start=False))
        return self._warehouse

    @property
    def mode(self) -> Mode:
        return self.warehouse.mode

    @contextmanager
    def connection(self, *, autocommit: bool = False) -> Iterator[Connection]:
        with self.warehouse.connection(autocommit=autocommit) as conn:
            yield conn
