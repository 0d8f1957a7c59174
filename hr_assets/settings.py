"""Every setting the project reads from the environment, in one place.

Nothing else in ``hr_assets`` reads ``os.environ``: a reader who wants to know what
can be configured reads this class.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = PROJECT_ROOT / "sql"


class HrSettings(BaseSettings):
    """Configuration of a deployment, read from ``HR_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="HR_", extra="ignore", env_ignore_empty=True)

    database_url: str | None = Field(
        default=None,
        description="Warehouse URL (postgresql://...). Unset: the embedded PostgreSQL under HR_HOME.",
    )
    dagster_storage_url: str | None = Field(
        default=None,
        description="Dagster run/event storage URL. Unset: database 'dagster' on the embedded server, or the "
        "warehouse database itself when HR_DATABASE_URL is set.",
    )
    home: Path = Field(
        default=PROJECT_ROOT / ".hr",
        description="Local state: embedded database, DAGSTER_HOME, logs.",
    )
    dagster_home: Path | None = Field(
        default=None,
        validation_alias="DAGSTER_HOME",
        description="Dagster instance folder. Unset: HR_HOME/dagster with the repository's dagster.yaml.",
    )
    schedule_timezone: str = Field(default="UTC", description="Time zone of the nightly schedule.")
    retention_days: int | None = Field(
        default=None, description="Drop raw intraday chunks older than this many days (aggregates kept)."
    )
    alert_webhook_url: str | None = Field(default=None, description="JSON webhook for failure alerts.")
    coverage_warn_threshold: float = Field(
        default=0.5, description="Share of a day with readings below which the coverage check warns."
    )
    warehouse_pool_limit: int = Field(
        default=4, description="Concurrent database writers allowed by the 'warehouse' concurrency pool."
    )
    retry_delay_seconds: float = Field(
        default=10,
        ge=0,
        description="Wait before a step that met a transient database error runs again (doubled for each of "
        "the 3 retries, +/- jitter).",
    )

    @field_validator("home", "dagster_home")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        # Dagster refuses a relative DAGSTER_HOME, and the server's data must not move with the cwd.
        return path.resolve() if path is not None else None


@lru_cache(maxsize=1)
def get_settings() -> HrSettings:
    return HrSettings()
