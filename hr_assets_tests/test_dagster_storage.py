"""The Dagster instance of dagster.yaml on a real server: its event log keeps one connection."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from hr_assets.dagster_storage import PooledPostgresEventLogStorage
from hr_assets.instance import install_instance_config, instance_env

OTHER_CLIENTS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""


@pytest.fixture
def home(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster instance folder configured as `hr env` configures one, storing in ``db_url``."""
    install_instance_config(tmp_path)
    for key, value in instance_env(tmp_path, db_url, db_url).items():
        monkeypatch.setenv(key, value)
    return tmp_path


@pytest.fixture
def instance(home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


def test_event_log_writes_share_one_held_connection(instance: dg.DagsterInstance, conn: psycopg.Connection) -> None:
    assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage)
    for n in range(25):
        instance.report_runless_asset_event(dg.AssetMaterialization("probe", metadata={"n": n}))
    # The stock storage would have opened and closed a connection per write, leaving none.
    assert conn.execute(OTHER_CLIENTS).fetchone() == (1,)
    records = instance.fetch_materializations(dg.AssetKey("probe"), limit=100).records
    assert sorted(r.asset_materialization.metadata["n"].value for r in records if r.asset_materialization) == list(
        range(25)
    )


def test_disposing_the_instance_closes_its_connection(home: Path, conn: psycopg.Connection) -> None:
    # Dagster makes short-lived instances (code server requests, sensor ticks): none may leave one open.
    for _ in range(3):
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.report_runless_asset_event(dg.AssetMaterialization("probe"))
            assert _other_clients_settle_at(conn, 1) == 1
        assert _other_clients_settle_at(conn, 0) == 0


def _other_clients_settle_at(conn: psycopg.Connection, expected: int, seconds: float = 10.0) -> int:
    """Other clients, once those that just hung up are gone (or after ``seconds``): a backend leaves
    pg_stat_activity a moment after its client closes (the instance's run and schedule storage
    connect and close as it starts), longer on a loaded machine."""
    deadline = time.monotonic() + seconds
    while True:
        row = conn.execute(OTHER_CLIENTS).fetchone()
        count = int(row[0]) if row else 0
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)
