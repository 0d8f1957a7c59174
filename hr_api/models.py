"""Response models: the exact shapes of the API, and so of its OpenAPI schema."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    detail: str = Field(description="What was wrong, naming the parameter where one was.")


class ServiceInfo(BaseModel):
    message: str
    version: str
    description: str
    endpoints: dict[str, str] = Field(description="Path -> what it serves.")


class Limits(BaseModel):
    """What one request may ask for; clients read these rather than repeating them."""

    max_users: int = Field(description="Most users in one /multi-user/timeseries request.")
    max_points: int = Field(description="Largest max_points a time-series request may ask for (all users together).")
    default_max_points: int = Field(description="max_points when a request gives none.")
    max_summary_days: int = Field(description="Most local days in one /summary request.")
    max_compliance_days: int = Field(description="Most local days in one /study/compliance request.")


class Health(BaseModel):
    status: str = Field(description="'healthy' or 'unhealthy'.")
    database_connected: bool
    version: str
    mode: str | None = Field(default=None, description="'timescaledb' or 'postgres'.")
    schema_version: int | None = Field(default=None, description="Newest migration applied to the warehouse.")
    detail: str | None = Field(default=None, description="Why it is unhealthy.")


class UserList(BaseModel):
    users: list[str]
    cohorts: dict[str, str | None] = Field(
        default_factory=dict, description="Each listed user's study cohort (null: none); see /study."
    )
    total_count: int
    last_updated: datetime | None = Field(description="When the registry of these users last changed.")


class UserDetail(BaseModel):
    user_id: str
    display_name: str
    timezone: str = Field(description="IANA time zone: the user's local days are days in this zone.")
    source: str
    cohort: str | None = Field(default=None, description="The study cohort (a site, an arm), if any.")
    start_date: date
    retired: bool
    retired_at: datetime | None
    first_reading: datetime | None
    last_reading: datetime | None
    days_with_data: int
    connection: str | None = Field(
        default=None,
        description="A google_health participant's enrolment: connected (since ...), needs reconnect (...), "
        "invited (until ...), invitation expired, not connected, or withdrawn; null for other sources.",
    )


class Point(BaseModel):
    timestamp: datetime = Field(
        description="Start of the bucket with its UTC offset; for 1d, the user's local midnight with the day's offset."
    )
    value: float = Field(description="Average bpm of the bucket (the reading itself at 1s).")
    user_id: str
    min: int = Field(description="Lowest bpm in the bucket.")
    max: int = Field(description="Highest bpm in the bucket.")
    count: int = Field(description="Readings in the bucket (1 at 1s).")


class QueryInfo(BaseModel):
    table_used: str
    table_description: str
    interval: str = Field(description="1s (raw), 1m, 1h or 1d: the level the points come from.")
    resolution: str = Field(description="The same level in words: raw, 1 minute, 1 hour, 1 day.")
    auto: bool = Field(description="Whether the level was chosen to fit max_points (no interval asked for).")
    point_count: int
    estimated_points: int
    max_points: int
    start: datetime
    end: datetime
    users: list[str]


class Metadata(BaseModel):
    query_info: QueryInfo


class Timeseries(BaseModel):
    data: list[Point]
    metadata: Metadata


class UserSeries(BaseModel):
    user_id: str
    data: list[Point]
    count: int


class MultiUserTimeseries(BaseModel):
    data: list[UserSeries]
    metadata: Metadata


class Zone(BaseModel):
    name: str
    min: int | None
    max: int | None
    minutes: int | None
    calories_out: float | None


class SummaryDay(BaseModel):
    date: date
    resting_heart_rate: int | None
    zones: list[Zone]
    custom_zones: list[Zone]
    calories_out: float | None = Field(description="Sum of the zones' calories, where the source gives them.")
    coverage: float | None = Field(description="Share of the local day with readings (whole minutes).")
    rows_quarantined: int = Field(description="Records of the day's payloads refused by the parser.")


class Summary(BaseModel):
    user_id: str
    timezone: str
    data: list[SummaryDay]
