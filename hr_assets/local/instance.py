"""This project's Dagster instance: where it lives, its environment, its users partitions and pool limit.

``hr`` commands (setup, backfill, env, dagster, serve) run Dagster with :func:`dagster_env`: the
instance folder under HR_HOME configured by the repository's dagster.yaml, the warehouse and
Dagster storage URLs, and event batching. Nothing here runs inside Dagster's own processes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from hr_assets.defs.common import WAREHOUSE_POOL
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.domain.planning import partition_changes
from hr_assets.local import localdb
from hr_assets.local.localdb import DAGSTER_DATABASE, resolve_database_url
from hr_assets.settings import PROJECT_ROOT, get_settings
from hr_assets.warehouse.urls import unreadable
from hr_assets.warehouse.users import User


class InstanceError(ValueError):
    """The instance's environment cannot be set up (a database URL libpq cannot read); the message says why."""


def dagster_storage_url() -> str:
    """HR_DAGSTER_STORAGE_URL, else the warehouse database (HR_DATABASE_URL), else 'dagster' on the embedded server."""
    settings = get_settings()
    if settings.dagster_storage_url:
        return settings.dagster_storage_url
    if settings.database_url:
        return settings.database_url
    server = localdb.ensure_running(settings.home / "postgres")
    return localdb.ensure_database(server, DAGSTER_DATABASE)


def psycopg2_url(url: str) -> str:
    """``url`` for dagster-postgres: it sends NOTIFY with bound parameters, which only the psycopg2
    driver accepts, and SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql:// URL."""
    scheme, _, rest = url.partition("://")
    return f"postgresql+psycopg2://{rest}" if scheme in ("postgresql", "postgres") else url


def install_instance_config(home: Path) -> None:
    """Make ``home`` a Dagster instance configured by the repository's dagster.yaml."""
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    source_yaml = PROJECT_ROOT / "dagster.yaml"
    if not instance_yaml.exists() or instance_yaml.read_bytes() != source_yaml.read_bytes():
        shutil.copyfile(source_yaml, instance_yaml)


def instance_env(home: Path, warehouse_url: str, storage_url: str) -> dict[str, str]:
    """The variables a Dagster process of this project runs with (dagster.yaml reads the storage URL)."""
    return {
        "DAGSTER_HOME": str(home),
        "HR_DATABASE_URL": warehouse_url,
        "HR_DAGSTER_STORAGE_URL": psycopg2_url(storage_url),
        "DAGSTER_EVENT_BATCH_SIZE": str(get_settings().dagster_event_batch_size),
    }


def dagster_env() -> dict[str, str]:
    """Environment for Dagster processes: the instance under HR_HOME, both database URLs, event batching.

    Starts the embedded server when the warehouse is the embedded one.
    """
    settings = get_settings()
    ours = settings.home / "dagster"
    home = settings.dagster_home or ours
    if home == ours:  # our own instance (also after `eval "$(hr env)"`): keep it on the repo's dagster.yaml
        install_instance_config(home)
    urls = {"HR_DATABASE_URL": resolve_database_url(), "HR_DAGSTER_STORAGE_URL": dagster_storage_url()}
    for name, url in urls.items():
        # Refused here, its password masked: Dagster's storage would print a URL it cannot parse whole.
        problem = unreadable(url)
        if problem:
            raise InstanceError(f"{name} is not a PostgreSQL URL: {problem}")
    return instance_env(home, urls["HR_DATABASE_URL"], urls["HR_DAGSTER_STORAGE_URL"])


def enter_dagster_environment() -> dict[str, str]:
    """:func:`dagster_env`, also set in this process's environment, for a command that runs Dagster in process
    (the instance and the definitions read it there). Called at a command's start, before Dagster is used."""
    env = dagster_env()
    os.environ.update(env)
    get_settings.cache_clear()  # the settings read the environment once: read it again, with these
    return env


def sync_partitions(instance: dg.DagsterInstance, active: Iterable[User]) -> tuple[list[str], list[str]]:
    """Make the ``users`` partitions equal the ``active`` users; (added, removed). New users go in by UTC
    offset, so that users of one zone sit together (see ``planning.partition_order``)."""
    present = instance.get_dynamic_partitions(USERS_PARTITION_NAME)
    added, removed = partition_changes(active, present, datetime.now(UTC))
    if added:
        instance.add_dynamic_partitions(USERS_PARTITION_NAME, added)
    for key in removed:
        instance.delete_dynamic_partition(USERS_PARTITION_NAME, key)
    return added, removed


def migrate_storage(instance: dg.DagsterInstance) -> None:
    """Dagster's own storage brought to the schema of the Dagster installed (``dagster instance migrate``).

    After an upgrade of Dagster its storage may be behind: Dagster does not refuse it, and reads around a
    missing column or index until something needs it. At once when the storage is up to date.
    """
    instance.upgrade()


def set_pool_limit(instance: dg.DagsterInstance, limit: int) -> None:
    """The 'warehouse' pool's limit: how many steps may write to the warehouse at once."""
    instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, limit)
