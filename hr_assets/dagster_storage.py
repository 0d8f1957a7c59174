"""Dagster's PostgreSQL event log, holding its connection between writes.

dagster-postgres opens a new connection for every write outside the webserver (a NullPool,
so that many instances in one process do not pile up idle connections). A range run writes
an event per asset and partition before it starts (a 30-day, 2-user backfill of our five
assets: 300), each on a fresh connection with password authentication, ~4 ms apiece here.
This class keeps one connection per instance between writes, checked before use and closed
when the instance is disposed. dagster.yaml selects it for the event log; runs and
schedules use the stock classes.
"""

from collections.abc import Mapping
from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# Recycle the held connection after this many seconds, as the webserver's default does.
POOL_RECYCLE_SECONDS = 3600
# Connections opened beyond the held one when threads (the daemon's) write at once.
MAX_OVERFLOW = 10


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    def __init__(
        self, postgres_url: str, should_autocreate_tables: bool = True, inst_data: ConfigurableClassData | None = None
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables=should_autocreate_tables, inst_data=inst_data)
        self._engine.dispose()
        # The stock engine's settings (autocommit; the server's own statement timeout), pooled.
        # pre_ping: a connection the server dropped (restart, idle timeout) is replaced, not used.
        self._engine = create_pg_engine(
            self.postgres_url,
            isolation_level="AUTOCOMMIT",
            pool_size=1,
            max_overflow=MAX_OVERFLOW,
            pool_recycle=POOL_RECYCLE_SECONDS,
            pool_pre_ping=True,
        )

    def dispose(self) -> None:
        """Close the held connection with the instance (Dagster makes short-lived instances)."""
        super().dispose()
        self._engine.dispose()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledPostgresEventLogStorage":
        if get_token_provider_from_config(config_value) is not None:
            raise ValueError("PooledPostgresEventLogStorage takes a postgres_url with a password, not a token provider")
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
        )
