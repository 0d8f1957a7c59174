"""Dagster's PostgreSQL event log, holding its connection between writes.

dagster-postgres opens a new connection for every write outside the webserver (a NullPool,
so that many instances in one process do not pile up idle connections). A range run writes
an event per asset and partition before it starts (a 30-day, 2-user backfill of our five
assets: 300), each on a fresh connection with password authentication, ~4 ms apiece here.
This class keeps one connection per instance between writes, checked before use and closed
when the instance is disposed. dagster.yaml selects it for the event log; runs and
schedules use the stock classes.

It also writes a new run's planned events in one statement. Creating a run logs one
"materialization planned" event per asset and partition (1,830 for a year's history run) and
one "check planned" event per check. Where batch writing is on (DAGSTER_EVENT_BATCH_SIZE, which
`hr` and the compose file set) Dagster hands them over in batches, but the stock class stores a
batch of planned events an event at a time, with two transactions each (measured: 17 s of a
users_sensor tick submitting a year of one user's history, 3.2 s with this class).
"""

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetKey, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetEventTagsTable,
    SqlEventLogStorageTable,
)
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# Recycle the held connection after this many seconds, as the webserver's default does.
POOL_RECYCLE_SECONDS = 3600
# Connections opened beyond the held one when threads (the daemon's) write at once.
MAX_OVERFLOW = 10
PLANNED_EVENTS = frozenset(
    {DagsterEventType.ASSET_MATERIALIZATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED}
)


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

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """A run's planned events in one insert and one index transaction; other batches as Dagster does.

        What each event leaves is what ``store_event`` leaves, but for the LISTEN/NOTIFY
        message dagster-postgres keeps for older watchers (it no longer watches with it) and the
        asset row, which takes the last planned event of each asset instead of every one in turn.
        If a step after the insert fails, the rows it wrote are deleted before the error goes on:
        Dagster then stores the batch one event at a time, and would otherwise store it twice.
        """
        if not events or not all(event.dagster_event_type in PLANNED_EVENTS for event in events):
            super().store_event_batch(events)
            return
        with self._connect() as conn:
            inserted = conn.execute(self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
            event_ids = [int(row[0]) for row in inserted.fetchall()]
        try:
            self._index_planned_events(list(zip(events, event_ids, strict=True)))
        except Exception:
            with self.index_transaction() as conn:
                conn.execute(
                    AssetCheckExecutionsTable.delete().where(
                        AssetCheckExecutionsTable.c.evaluation_event_storage_id.in_(event_ids)
                    )
                )
                conn.execute(AssetEventTagsTable.delete().where(AssetEventTagsTable.c.event_id.in_(event_ids)))
                conn.execute(SqlEventLogStorageTable.delete().where(SqlEventLogStorageTable.c.id.in_(event_ids)))
            raise

    def _index_planned_events(self, stored: list[tuple[EventLogEntry, int]]) -> None:
        """The asset rows and tags, and the check executions, of planned events already inserted."""
        assets = [(e, i) for e, i in stored if e.dagster_event_type is DagsterEventType.ASSET_MATERIALIZATION_PLANNED]
        if assets:
            last: dict[AssetKey | None, tuple[EventLogEntry, int]] = {}
            for event, event_id in assets:
                last[event.get_dagster_event().asset_key] = (event, event_id)
            with self.index_transaction() as conn:
                self._store_asset_event_tags(conn, [e for e, _ in assets], [i for _, i in assets])
                for event, event_id in last.values():
                    self._store_asset_event(conn, event, event_id)
        for event, event_id in stored:
            if event.dagster_event_type is DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
                self.store_asset_check_event(event, event_id)

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
