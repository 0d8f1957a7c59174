"""The Dagster instance of dagster.yaml on a real server: its event log keeps one connection."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from dagster import DagsterEventType

from hr_assets.local.dagster_storage import PooledPostgresEventLogStorage
from hr_assets.local.instance import install_instance_config, instance_env

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


def _planned(instance: dg.DagsterInstance, user: str) -> tuple[str, dict[str, Any]]:
    """Create (not launch) a run of the heart-rate job over 5 days of ``user``; what its planned events left."""
    from hr_assets.definitions import defs
    from hr_assets.defs.common import range_tags
    from hr_assets.domain.planning import PartitionRange

    job = defs.resolve_job_def("hr_partition_job")
    days = PartitionRange(date(2026, 3, 1), user, date(2026, 3, 5), user)
    run = instance.create_run_for_job(job_def=job, tags=range_tags(days))
    records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records
    planned = sorted(
        (r.event_log_entry.get_dagster_event().asset_key.to_user_string(), r.partition_key.replace(user, "U"))  # type: ignore[union-attr]
        for r in records
        if r.partition_key
    )
    checks = sorted(
        (key.name, str(execution.partition).replace(user, "U"), execution.status.value)
        for key in job.asset_layer.asset_graph.asset_check_keys
        for execution in instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
        if execution.run_id == run.run_id
    )
    keys = list(job.asset_layer.executable_asset_keys)
    latest = {
        key.to_user_string(): info.run_id if info else None
        for key in keys
        for info in [instance.event_log_storage.get_latest_planned_materialization_info(key)]
    }
    # The asset rows, which the batched path writes itself (the last planned event of each asset).
    rows = {
        r.asset_entry.asset_key.to_user_string(): r.asset_entry.last_run_id for r in instance.get_asset_records(keys)
    }
    return run.run_id, {"planned": planned, "checks": checks, "latest": latest, "rows": rows}


def _batch_inserts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the multi-row event inserts the event log makes from now on."""
    sizes: list[int] = []
    insert = PooledPostgresEventLogStorage.prepare_insert_event_batch

    def counted(self: PooledPostgresEventLogStorage, events: Any) -> Any:
        sizes.append(len(events))
        return insert(self, events)

    monkeypatch.setattr(PooledPostgresEventLogStorage, "prepare_insert_event_batch", counted)
    return sizes


def test_a_runs_planned_events_leave_what_dagster_leaves_writing_them_one_at_a_time(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME

    instance.add_dynamic_partitions(USERS_PARTITION_NAME, ["alice", "bob"])
    inserts = _batch_inserts(monkeypatch)
    batched_run, batched = _planned(instance, "alice")
    assert inserts == [25 + len(batched["checks"]) // 5]  # one insert: 25 planned materialisations, the checks
    monkeypatch.setenv("DAGSTER_EMIT_PLANNED_EVENTS_INDIVIDUALLY", "1")
    single_run, single = _planned(instance, "bob")
    assert len(inserts) == 1
    assert len(batched["planned"]) == 5 * 5  # five days of intraday, summary and the three aggregates
    assert batched["checks"] and all(status == "PLANNED" for *_, status in batched["checks"])
    assert batched["planned"] == single["planned"]
    assert batched["checks"] == single["checks"]
    assert set(batched["latest"].values()) == {batched_run}
    assert set(single["latest"].values()) == {single_run}
    assert set(batched["rows"]) == set(batched["latest"])
    assert set(single["rows"].values()) == {single_run}  # bob's run came last for every asset


def test_a_batch_that_fails_halfway_is_stored_once_by_dagsters_one_at_a_time_fallback(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME

    instance.add_dynamic_partitions(USERS_PARTITION_NAME, ["alice", "bob"])
    _, expected = _planned(instance, "alice")
    storage = instance.event_log_storage
    fail_once = [True]
    store_check = storage.store_asset_check_event

    def flaky(event: Any, event_id: int | None) -> None:
        if fail_once.pop() if fail_once else False:
            raise OSError("connection reset while writing a check execution")
        store_check(event, event_id)

    monkeypatch.setattr(storage, "store_asset_check_event", flaky)
    _, after_failure = _planned(instance, "bob")
    assert not fail_once  # the failure happened
    assert after_failure["planned"] == expected["planned"]  # 25, not 25 + the rows of the failed batch
    assert after_failure["checks"] == expected["checks"]
