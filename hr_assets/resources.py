"""Dagster resources: where the warehouse is, and which sources load the data. Chosen in definitions.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import PrivateAttr

# Where the warehouse is lives with the embedded server, which the query API uses too without this Dagster module.
from hr_assets.local.localdb import DAGSTER_DATABASE as DAGSTER_DATABASE
from hr_assets.local.localdb import WAREHOUSE_DATABASE as WAREHOUSE_DATABASE
from hr_assets.local.localdb import EmbeddedServerNotRunning as EmbeddedServerNotRunning
from hr_assets.local.localdb import resolve_database_url
from hr_assets.warehouse.db import Connection, Mode, Warehouse


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
