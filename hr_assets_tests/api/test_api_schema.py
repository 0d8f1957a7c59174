"""The OpenAPI schema states what the API checks.

schemathesis's own command line, run against the live API (both authentication modes), must not warn
``validation_mismatch``: that warning means an operation answered 400/422 to the requests generated as valid
from its schema, so it enforces a rule the schema does not state (as ``user_ids`` once did). The warning
fails the run here (``warnings.fail-on``), as do schemathesis's checks, but for ``positive_data_acceptance``
(see ``test_api_fuzz.py``: an unknown user is 404, an end before the start 422, by contract).
"""

from __future__ import annotations

import re
import subprocess
import sys
from calendar import isleap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st

from hr_api.params import INSTANT, USER_ID, USER_IDS, parse_instant
from hr_assets.warehouse.users import USER_ID_RE
from hr_assets_tests.api.api_helpers import LiveApi, api_schema, api_settings, make_keys, running_api

# Generated requests per operation: schemathesis decides its warnings on ten or more.
EXAMPLES = 60
SCHEMATHESIS_CONFIG = """
[warnings]
display = ["validation_mismatch"]
fail-on = ["validation_mismatch"]
"""
# The parameters whose values are free text to the type system: each must carry the rule the API checks.
TEXT_PARAMETERS = {"user_id", "user_ids", "start_date", "end_date"}


@pytest.fixture(scope="module", params=["off", "keys"])
def live_api(
    request: pytest.FixtureRequest, api_warehouse: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveApi, list[str]]]:
    auth: str = request.param
    headers = [] if auth == "off" else ["-H", f"Authorization: Bearer {make_keys(api_warehouse).secrets['all']}"]
    with running_api(api_settings(tmp_path_factory.mktemp(f"schema-{auth}"), api_auth=auth), api_warehouse) as live:
        yield live, headers


def test_schemathesis_finds_no_rule_the_schema_leaves_out(live_api: tuple[LiveApi, list[str]], tmp_path: Path) -> None:
    api, headers = live_api
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{api.url}/openapi.json",
        "--phases",
        "fuzzing",
        "--max-examples",
        str(EXAMPLES),
        "--generation-deterministic",
        "--exclude-checks",
        "positive_data_acceptance",
        "--continue-on-failure",
        "--workers",
        "1",
        *headers,
    ]
    # In tmp_path: schemathesis writes its own folder (.schemathesis) where it runs.
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    report = finished.stdout + finished.stderr
    assert "Schema validation mismatch" not in report, report[-6000:]
    assert finished.returncode == 0, report[-6000:]
    # Every operation was exercised, not skipped.
    operations = sum(len(methods) for methods in api_schema("off")["paths"].values())
    assert re.search(rf"Tested: {operations}\b", report), report[-3000:]


@pytest.mark.parametrize("auth", ["off", "keys"])
def test_every_text_parameter_states_its_pattern_and_lengths(auth: str) -> None:
    stated = []
    for path, methods in api_schema(auth)["paths"].items():
        for parameter in methods["get"].get("parameters", []):
            if parameter["name"] in TEXT_PARAMETERS:
                schema = parameter["schema"]
                assert schema["pattern"].startswith("^") and schema["pattern"].endswith("$"), (path, parameter)
                assert schema["minLength"] == 1, (path, parameter)
                stated.append((path, parameter["name"]))
    assert {name for _, name in stated} == TEXT_PARAMETERS
    assert ("/users/{user_id}", "user_id") in stated and ("/multi-user/timeseries", "user_ids") in stated


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=70), st.from_regex(USER_ID_RE), st.from_regex(rf"\A{USER_IDS}\Z")))
def test_the_stated_user_id_rule_is_the_warehouses(value: str) -> None:
    assert bool(re.fullmatch(USER_ID, value)) == bool(USER_ID_RE.match(value))
    parts = value.split(",")
    assert bool(re.fullmatch(USER_IDS, value)) == (len(parts) <= 20 and all(USER_ID_RE.match(p) for p in parts))


@settings(max_examples=300, deadline=None)
@given(st.from_regex(rf"\A{INSTANT}\Z"))
def test_every_instant_the_schema_allows_parses_or_names_no_real_day(value: str) -> None:
    try:
        parse_instant(value, "start_date")
    except HTTPException as exc:  # the only refusals: 29 February of a common year, or outside the years 1 to 9999
        year = int(value[:4])
        assert "outside the years 1 to 9999" in exc.detail or (value[4:10] == "-02-29" and not isleap(year)), value
