"""``GET /export/{user_id}``: one participant's file, for a key that may read the participant only."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from hr_assets_tests.api.api_helpers import DAYS, Keys, LiveApi, api_settings, make_keys, running_api
from hr_assets_tests.export.helpers import warehouse_days

RANGE = {"start_date": DAYS[0].isoformat(), "end_date": "2025-06-03"}


@pytest.fixture(scope="module")
def keyed(api_warehouse: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApi, Keys]]:
    keys = make_keys(api_warehouse)
    with running_api(api_settings(tmp_path_factory.mktemp("export"), api_auth="keys"), api_warehouse) as live:
        yield live, keys


def test_a_permitted_key_downloads_the_participants_readings(keyed: tuple[LiveApi, Keys], api_warehouse: str) -> None:
    live, keys = keyed
    response = live.get("/export/user4", keys["user4"], **RANGE)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert 'filename="user4_readings_2025-05-31_2025-06-02.parquet"' in response.headers["content-disposition"]
    frame = pl.read_parquet(io.BytesIO(response.content))
    per_day = frame.group_by("local_date").agg(pl.len(), pl.col("bpm").cast(pl.Int64).sum())
    expected = {d: f[:2] for (u, d), f in warehouse_days(api_warehouse).items() if u == "user4"}
    assert {r[0]: (r[1], r[2]) for r in per_day.iter_rows()} == expected
    assert set(frame["utc_offset_minutes"]) == {345}  # Asia/Kathmandu


def test_csv_of_the_local_day_level(keyed: tuple[LiveApi, Keys], api_warehouse: str) -> None:
    live, keys = keyed
    response = live.get("/export/user1", keys["pair"], **RANGE, level="day", format="csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    frame = pl.read_csv(io.BytesIO(response.content), try_parse_dates=True)
    expected = {d: f[0] for (u, d), f in warehouse_days(api_warehouse).items() if u == "user1"}
    assert dict(frame.select("date", "sample_count").iter_rows()) == expected


def test_a_key_that_may_not_read_the_participant_gets_what_an_unknown_participant_gets(
    keyed: tuple[LiveApi, Keys], tmp_path: Path
) -> None:
    live, keys = keyed
    forbidden = live.get("/export/user2", keys["user1"], **RANGE)
    unknown = live.get("/export/nobody", keys["user1"], **RANGE)
    assert forbidden.status_code == unknown.status_code == 404
    assert forbidden.json()["detail"].replace("user2", "X") == unknown.json()["detail"].replace("nobody", "X")
    assert live.get("/export/user2", None, **RANGE).status_code == 401
    assert live.get("/export/user1", keys["user1"], start_date="2025-06-02", end_date="2025-06-01").status_code == 422
