"""Response models of the ``/study`` routes: the exact shapes of the study view, with examples for the docs page."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Connection = Literal[
    "connected",
    "needs_reconnect",
    "never_connected",
    "invited",
    "withdrawn",
    "folder_missing",
    "folder_unreadable",
    "not_applicable",
]
Flag = Literal["no_valid_day", "no_data", "needs_reconnect"]


class ComplianceParticipant(BaseModel):
    user_id: str
    cohort: str | None
    first_due_day: date | None = Field(description="The participant's start date: days before it are not due.")
    last_due_day: date | None = Field(
        description="Newest complete local day in the participant's zone (or the day before it was retired): later "
        "days are not yet due. None if no day was ever due."
    )
    worn_minutes: list[int | None] = Field(
        description="Per day of `days`: minutes of the local day with at least one reading; null: no load record."
    )
    valid: list[bool | None] = Field(
        description="Per day of `days`: worn_minutes >= valid_day_minutes; null where worn_minutes is null."
    )


class Compliance(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "start": "2026-01-01",
                    "end": "2026-01-03",
                    "valid_day_minutes": 600,
                    "days": ["2026-01-01", "2026-01-02", "2026-01-03"],
                    "participants": [
                        {
                            "user_id": "p001",
                            "cohort": "site-a",
                            "first_due_day": "2025-12-01",
                            "last_due_day": "2026-01-02",
                            "worn_minutes": [612, None, 0],
                            "valid": [True, None, False],
                        }
                    ],
                }
            ]
        }
    )

    start: date
    end: date = Field(description="Last day of the range, included.")
    valid_day_minutes: int = Field(description="HR_VALID_DAY_MINUTES: the worn minutes that make a day valid.")
    days: list[date] = Field(description="Every local day from start to end.")
    participants: list[ComplianceParticipant] = Field(description="The participants the key may read, by user_id.")


class ParticipantStatusModel(BaseModel):
    user_id: str
    cohort: str | None
    source: str = Field(description="simulated, fitbit_export or google_health.")
    timezone: str
    retired: bool
    connection: Connection = Field(
        description="google_health: connected, needs_reconnect (Google refused the grant) or never_connected; "
        "fitbit_export: connected, folder_missing or folder_unreadable; withdrawn: retired; simulated: "
        "not_applicable."
    )
    connection_since: datetime | None = Field(
        description="When the grant was made, Google first refused it, or the participant was retired."
    )
    newest_reading: datetime | None
    days_since_reading: int | None = Field(description="Local days from the newest reading's to today (1: yesterday).")
    valid_days_7: int = Field(description="Valid days among the last 7 due days.")
    valid_days_30: int = Field(description="Valid days among the last 30 due days.")
    valid_days_total: int = Field(description="Valid days since the start date.")
    flags: list[Flag] = Field(description="Subset of no_valid_day, no_data, needs_reconnect, in that order.")


class Participants(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-12-06T08:00:00Z",
                    "valid_day_minutes": 600,
                    "flag_no_valid_day_days": 3,
                    "flag_no_data_days": 3,
                    "participants": [
                        {
                            "user_id": "p001",
                            "cohort": "site-a",
                            "source": "google_health",
                            "timezone": "Europe/Berlin",
                            "retired": False,
                            "connection": "needs_reconnect",
                            "connection_since": "2026-12-02T03:10:00Z",
                            "newest_reading": "2026-12-01T21:59:00Z",
                            "days_since_reading": 5,
                            "valid_days_7": 2,
                            "valid_days_30": 25,
                            "valid_days_total": 120,
                            "flags": ["no_valid_day", "no_data", "needs_reconnect"],
                        }
                    ],
                }
            ]
        }
    )

    as_of: datetime
    valid_day_minutes: int
    flag_no_valid_day_days: int = Field(description="HR_FLAG_NO_VALID_DAY_DAYS.")
    flag_no_data_days: int = Field(description="HR_FLAG_NO_DATA_DAYS.")
    participants: list[ParticipantStatusModel]


class CohortSummaryModel(BaseModel):
    cohort: str | None = Field(description="null: the participants without a cohort.")
    participants: int
    flagged: int = Field(description="Participants with at least one flag.")
    valid_days_7_mean: float | None
    newest_reading: datetime | None


class Cohorts(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cohorts": [
                        {
                            "cohort": "site-a",
                            "participants": 120,
                            "flagged": 7,
                            "valid_days_7_mean": 5.2,
                            "newest_reading": "2026-12-05T21:59:00Z",
                        }
                    ]
                }
            ]
        }
    )

    cohorts: list[CohortSummaryModel]
