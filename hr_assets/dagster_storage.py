"""Dagster's PostgreSQL event log, holding its connection between writes.

dagster-postgres opens a new connection for every write outside the webserver (a NullPool,
so that many instances in one process do not pile up idle connections). A range run writes
an event per asset and partition before it starts (a 30-day, 2-user backfill of our five
assets: 300), each on a fresh connection with password authentication, ~4 ms apiece here.
This class keeps one connection open per instance, as the storage's own
``optimize_for_webserver`` does, without the webserver's statement timeout. dagster.yaml
selects it for the event log; runs and schedules use the stock classes.
"""

from collections.abc import Mapping
from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

# Recycle the held connection after this many seconds, as the webserver's default does.
POOL_RECYCLE_SECONDS = 3600
# Connections opened beyond the held one when threads (the daemon's) write at once.
MAX_OVERFLOW = 10
NO_STATEMENT_TIMEOUT = 0


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    def __init__(
        self, postgres_url: str, should_autocreate_tables: bool = True, inst_data: ConfigurableClassData | None = None
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables=should_autocreate_tables, inst_data=inst_data)
        self.optimize_for_webserver(
            statement_timeout=NO_STATEMENT_TIMEOUT, pool_recycle=POOL_RECYCLE_SECONDS, max_overflow=MAX_OVERFLOW
        )

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
