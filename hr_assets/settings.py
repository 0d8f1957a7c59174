"""Every setting the project reads from the environment, in one place.

Nothing else in ``hr_assets`` reads ``os.environ``: a reader who wants to know what
can be configured reads this class.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# A wheel carries the repository's sql/ inside the package (pyproject.toml's force-include); a
# checkout (an editable install) has only the top-level folder.
PACKAGED_SQL_DIR = Path(__file__).resolve().parent / "sql"
SQL_DIR = PACKAGED_SQL_DIR if PACKAGED_SQL_DIR.is_dir() else PROJECT_ROOT / "sql"


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
    partitions_start_date: date | None = Field(
        default=None,
        description="First date of the heart-rate assets' partitions. Unset: the earliest participant start date "
        "or loaded day, read when the definitions load (2015-01-01 without a warehouse to ask).",
    )
    dagster_event_batch_size: int = Field(
        default=1000,
        ge=0,
        validation_alias="DAGSTER_EVENT_BATCH_SIZE",
        description="Dagster writes a range run's partition materializations in batches of this many (0: one by one).",
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

    warehouse_mode: Literal["auto", "timescaledb", "postgres"] = Field(
        default="auto",
        description="'auto': TimescaleDB where the server has it (an installed but not preloaded TimescaleDB is an "
        "error), else PostgreSQL; 'timescaledb': require it; 'postgres': plain PostgreSQL. Applies when a database "
        "is first migrated.",
    )

    # --- the query API (hr_api) ---
    api_database_url: str | None = Field(
        default=None,
        description="URL the API reads the warehouse with (a read-only role in deployments). Unset: HR_DATABASE_URL, "
        "else the embedded server.",
    )
    api_auth: Literal["off", "keys"] = Field(
        default="keys",
        description="'keys': every endpoint but /health needs a bearer key (hr api-keys create); 'off': no keys, "
        "allowed only on a loopback address.",
    )
    api_host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(default=8000, description="Preferred port of the API (a free one is used if taken).")
    api_cors_origins: str = Field(
        default="",
        description="Comma-separated origins allowed to call the API from a browser (default: same origin only).",
    )
    api_statement_timeout_ms: int = Field(
        default=5000, gt=0, description="Statement timeout of every API query, in milliseconds."
    )
    api_pool_size: int = Field(default=8, gt=0, description="Database connections the API keeps at most.")
    api_workers: int = Field(
        default=1, ge=1, description="API worker processes (`hr api`); 2 on a machine with 2 or more cores."
    )
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        validation_alias="PROMETHEUS_MULTIPROC_DIR",
        description="Where API workers share their request metrics (set by `hr api` when it runs several).",
    )
    api_metrics_key: SecretStr | None = Field(
        default=None,
        description="A bearer key accepted for /metrics only (Prometheus), besides keys made with --metrics.",
    )
    api_web_dir: Path = Field(
        default=PROJECT_ROOT / "web" / "dist", description="The built dashboard, served under /app/."
    )

    # The study view (docs/study.md).
    valid_day_minutes: int = Field(
        default=600,
        ge=1,
        le=1500,
        description="Worn minutes that make a participant's local day valid. 600 (10 hours) is the common wear-time "
        "rule of accelerometer and wearable research (Troiano et al. 2008, NHANES accelerometry; used by Fitbit "
        "studies).",
    )
    flag_no_valid_day_days: int = Field(
        default=3, ge=1, description="Flag a participant whose last this many complete local days hold no valid day."
    )
    flag_no_data_days: int = Field(
        default=3, ge=1, description="Flag a participant whose last this many complete local days hold no reading."
    )
    api_audit: Literal["on", "off"] = Field(
        default="on",
        description="'on': every API request for participant data is recorded in api_audit_log, and answered 503 "
        "when it cannot be; 'off' only to measure what the audit costs (make bench-api).",
    )
    api_audit_database_url: str | None = Field(
        default=None,
        description="Where the API writes its audit rows when HR_API_DATABASE_URL is a read replica (the primary, "
        "as a role that may insert into api_audit_log). Unset: the database the API reads.",
    )
    audit_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="Delete audit rows older than this many days (`hr audit --prune`). Unset: keep all.",
    )

    @property
    def api_cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.api_cors_origins.split(",") if origin.strip()]

    @field_validator("api_cors_origins")
    @classmethod
    def _no_wildcard_origin(cls, origins: str) -> str:
        # Heart rate is personal data: every origin that may read it is named.
        if "*" in origins:
            raise ValueError("HR_API_CORS_ORIGINS lists origins by name; '*' is not accepted")
        return origins

    google_client_id: str | None = Field(
        default=None, description="OAuth client id of the operator's Google Cloud project (source google_health)."
    )
    google_client_secret: SecretStr | None = Field(
        default=None, description="OAuth client secret belonging to HR_GOOGLE_CLIENT_ID."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key encrypting stored refresh tokens. Unset: a key file created 0600 under HR_HOME.",
    )
    export_pseudonym_key: SecretStr | None = Field(
        default=None,
        description="Key of the pseudonyms and date shifts of `hr export --deidentify` (HMAC-SHA256); the same key "
        "gives the same pseudonyms in every export. Unset: HR_HOME/export-pseudonym.key (0600).",
    )
    export_destination: str | None = Field(
        default=None,
        description="Where the Dagster export asset writes (a folder or s3://bucket/prefix). Unset: HR_HOME/export.",
    )
    # Google's documented endpoints; tests point them at a local fake.
    google_health_api_url: str = Field(
        default="https://health.googleapis.com", description="Base URL of the Google Health API (v4 paths)."
    )
    google_authorize_url: str = Field(
        default="https://accounts.google.com/o/oauth2/v2/auth", description="Google's OAuth 2.0 authorization page."
    )
    google_token_url: str = Field(
        default="https://oauth2.googleapis.com/token", description="Google's OAuth 2.0 token endpoint."
    )
    google_revoke_url: str = Field(
        default="https://oauth2.googleapis.com/revoke", description="Google's OAuth 2.0 revocation endpoint."
    )

    # --- remote enrolment (hr users invite, the /enroll pages; docs/enrolment.md) ---
    public_url: str | None = Field(
        default=None,
        description="Address participants reach the enrolment pages at, e.g. https://study.example.org (the "
        "invitation links and the web client's redirect URI start with it).",
    )
    google_web_client_id: str | None = Field(
        default=None, description="OAuth client id of a *Web application* client (enrolment links)."
    )
    google_web_client_secret: SecretStr | None = Field(
        default=None, description="OAuth client secret belonging to HR_GOOGLE_WEB_CLIENT_ID."
    )
    withdrawal_data: Literal["keep", "delete"] = Field(
        default="keep",
        description="What a participant's withdrawal does to the data collected: 'keep' it, or 'delete' their "
        "readings, summaries, aggregates and load records in one transaction.",
    )
    study_name: str = Field(default="Heart-rate study", description="The study's name, on the enrolment pages.")
    study_runner: str = Field(default="", description="Who runs the study, on the enrolment pages.")
    study_contact: str = Field(default="", description="Whom participants contact (an e-mail address or phone).")
    enrol_template_dir: Path | None = Field(
        default=None,
        description="A folder of templates replacing the enrolment pages' own (same file names; Jinja2, autoescaped).",
    )
    enrol_rate_limit: str = Field(
        default="30/minute",
        description="Requests to the enrolment pages allowed per client address ('limits' notation, e.g. 30/minute).",
    )

    @field_validator("home", "dagster_home")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        # Dagster refuses a relative DAGSTER_HOME, and the server's data must not move with the cwd.
        return path.resolve() if path is not None else None


@lru_cache(maxsize=1)
def get_settings() -> HrSettings:
    return HrSettings()
