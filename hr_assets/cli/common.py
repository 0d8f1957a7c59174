"""What ``hr``'s command modules share: the warehouse they talk to, and the project's errors as one-line messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from hr_assets.warehouse.db import Warehouse
    from hr_assets.warehouse.users import User


def warehouse_url(*, create: bool = False) -> str:
    """The warehouse's URL (the embedded server started if it is the one).

    Only ``create`` makes an embedded server that does not exist yet: every other command says to run
    `hr setup` first instead of quietly creating an empty database it cannot use.
    """
    from hr_assets.local.localdb import initialised, resolve_database_url
    from hr_assets.settings import get_settings

    settings = get_settings()
    if not create and not settings.database_url and not initialised(settings.home / "postgres"):
        raise click.ClickException(
            f"there is no warehouse yet: run `hr setup` first (it creates the embedded database under {settings.home})"
        )
    return resolve_database_url()


def warehouse() -> Warehouse:
    """The warehouse (the embedded server started if it is the one), for a command's connections."""
    from hr_assets.warehouse.db import Warehouse

    return Warehouse(warehouse_url())


@contextmanager
def clear_errors() -> Iterator[None]:
    """The project's errors (bad input, database, mode) as one-line command errors, not tracebacks."""
    from hr_assets.domain.roster import RosterError
    from hr_assets.local.backfill import UnknownUsers
    from hr_assets.local.instance import InstanceError
    from hr_assets.local.localdb import LocalDatabaseError
    from hr_assets.sources import SourceError
    from hr_assets.warehouse.api_keys import ApiKeyError
    from hr_assets.warehouse.db import ModeError, WarehouseError
    from hr_assets.warehouse.encryption import SecretKeyError
    from hr_assets.warehouse.invitations import InvitationError
    from hr_assets.warehouse.migrations import MigrationError
    from hr_assets.warehouse.users import UserError

    errors = (
        InstanceError,
        UserError,
        InvitationError,
        SourceError,
        SecretKeyError,
        ApiKeyError,
        RosterError,
        WarehouseError,
        ModeError,
        MigrationError,
    )
    try:
        yield
    except UnknownUsers as exc:
        raise click.BadParameter(f"{exc} (hr users list)", param_hint="--user") from exc
    except (*errors, LocalDatabaseError) as exc:
        raise click.ClickException(str(exc)) from exc


def active_users() -> list[User]:
    """The active users of the registry."""
    from hr_assets.warehouse.users import list_users

    with clear_errors(), warehouse().connection() as conn:
        return list_users(conn)


def dagster_environment() -> dict[str, str]:
    """The Dagster environment, also entered by this process (see ``instance.enter_dagster_environment``)."""
    from hr_assets.local.instance import enter_dagster_environment

    with clear_errors():
        return enter_dagster_environment()


def sync_partitions() -> tuple[list[str], list[str]]:
    """The Dagster users partitions made equal to the active users: (added, removed)."""
    import dagster as dg

    from hr_assets.local.instance import sync_partitions as sync

    dagster_environment()
    with dg.DagsterInstance.get() as instance:
        return sync(instance, active_users())


def migrate(url: str) -> tuple[Any, list[str]]:
    """The warehouse at ``url`` migrated: (its mode, the migrations applied now)."""
    from hr_assets.warehouse.migrations import migrate as apply

    with clear_errors():
        return apply(url)
