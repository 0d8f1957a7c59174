"""The query API fuzzed with hostile input over HTTP, on a loaded warehouse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hr_assets_tests.api_fixtures import WINDOW, LiveApi, api_settings, running_api

pytest_plugins = ["hr_assets_tests.api_fixtures"]


@pytest.fixture(scope="module")
def open_api(api_warehouse: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with running_api(api_settings(tmp_path_factory.mktemp("fuzz-off")), api_warehouse) as live:
        yield live


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("start_date", "0001-01-01T00:00:00+23:59"), ("end_date", "9999-12-31T23:59:59.999999-23:59")],
)
def test_an_instant_outside_the_years_1_to_9999_in_utc_is_422(open_api: LiveApi, parameter: str, value: str) -> None:
    params = {"user_id": "user1", **WINDOW, parameter: value}
    response = open_api.get("/timeseries", **params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"{parameter}: {value!r} is outside the years 1 to 9999 in UTC"


@pytest.mark.parametrize("path", ["/users/", "/timeseries/", "/summary/"])
def test_a_trailing_slash_is_not_redirected_to_another_endpoint(open_api: LiveApi, path: str) -> None:
    response = open_api.client.get(path, follow_redirects=False)
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
