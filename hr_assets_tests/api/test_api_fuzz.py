"""The query API fuzzed from its own OpenAPI schema (schemathesis), over HTTP, on a loaded warehouse.

Each operation of the schema is fuzzed against the real app in uvicorn on 127.0.0.1, once without keys
and once with a key for two users (user1 and user2): schemathesis generates requests from the schema
(valid ones and ones that break it) and checks each response: a status the operation documents, a body
of the documented schema and media type, no 5xx, authentication honoured. Besides its checks, no
response may carry the driver's or the database's words, a stack trace or a place in the code. To reach
past the parameter parsing, a share of the valid requests get values a client would send: registered
and unknown user ids, dates and date-times from year 1 to 9999 in any offset, ranges over the days that
have data.

Left out on purpose: schemathesis's ``positive_data_acceptance`` check, which expects every request
the schema allows to succeed; the API answers such requests 404 (an unknown user) or 422 (an end before
the start, 2025-13-40, too many points) by its contract.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from hr_assets_tests.api.api_helpers import (
    DAYS,
    FIGURES,
    WINDOW,
    ZONES,
    LiveApi,
    api_schema,
    api_settings,
    internals_in,
    make_keys,
    running_api,
)

# Examples per operation and mode (8 operations x 2 modes): about 40 s on the 2-core development machine.
FUZZ_EXAMPLES = 250


# The schemas servers with and without keys publish (checked against the live ones below).
OFF_SCHEMA = schemathesis.openapi.from_dict(api_schema("off"))
KEYS_SCHEMA = schemathesis.openapi.from_dict(api_schema("keys"))

# Values a client sends, mixed into the generated valid requests.
_user_id = st.one_of(
    # Registered users half of the time, the key's users more often than the others.
    st.sampled_from(["user1", "user2", *ZONES, "nobody"]),
    st.sampled_from(["user1", "user2", *ZONES, "nobody"]),
    st.from_regex(r"\A[a-z0-9_-]{1,64}\Z"),
    st.text(max_size=70),
)
_near_data = st.datetimes(
    min_value=datetime.combine(DAYS[0] - timedelta(days=1), datetime.min.time()),
    max_value=datetime.combine(DAYS[-1] + timedelta(days=2), datetime.min.time()),
    timezones=st.one_of(st.none(), st.just(UTC), st.timezones()),
)
_any_time = st.datetimes(timezones=st.one_of(st.none(), st.just(UTC), st.timezones()))


def _iso(moment: datetime, form: int) -> str:
    if form == 0:
        return moment.isoformat()
    if form == 1:
        return moment.isoformat(sep=" ", timespec="seconds")
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_instant = st.one_of(
    st.tuples(st.one_of(_near_data, _any_time), st.integers(0, 2)).map(lambda pair: _iso(*pair)),
    st.dates(min_value=DAYS[0] - timedelta(days=2), max_value=DAYS[-1] + timedelta(days=2)).map(date.isoformat),
    st.dates().map(date.isoformat),
    st.sampled_from(["0001-01-01", "9999-12-31", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59.999999-23:59"]),
)
_user_list = st.one_of(_user_id, st.lists(_user_id, max_size=22).map(",".join))
REALISTIC = {"user_id": _user_id, "user_ids": _user_list, "start_date": _instant, "end_date": _instant}


# A range with data: two instants near the loaded days, in order.
_window = st.lists(_near_data.map(datetime.isoformat), min_size=2, max_size=2, unique=True).map(sorted)


def _realistic(values: Any) -> st.SearchStrategy[Any]:
    # Negative cases come wrapped (schemathesis records what they break): those are left as generated.
    if not isinstance(values, dict):
        return st.just(values)
    fields = st.fixed_dictionaries(
        {
            # Two in three valid values become a client's.
            name: st.one_of(st.just(value), REALISTIC[name], REALISTIC[name])
            if name in REALISTIC and isinstance(value, str)
            else st.just(value)
            for name, value in values.items()
        }
    )
    if not isinstance(values.get("start_date"), str) or not isinstance(values.get("end_date"), str):
        return fields
    in_window = st.tuples(fields, _window).map(
        lambda pair: {**pair[0], "start_date": pair[1][0], "end_date": pair[1][1]}
    )
    return st.one_of(fields, in_window, in_window)


def before_generate_query(context: Any, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy.flatmap(_realistic)


def before_generate_path_parameters(context: Any, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy.flatmap(_realistic)


for _schema_ in (OFF_SCHEMA, KEYS_SCHEMA):
    _schema_.hook(before_generate_query)
    _schema_.hook(before_generate_path_parameters)

# test_the_fuzzing_reached_every_answer reads the requests the fuzzing made on the module's servers, so the
# module runs in one process, in its order: `make test` runs it apart from the parallel run (the Makefile).

FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    # The same requests on every run (CI stays stable; a change to the schema or the generators changes them).
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def keys(api_warehouse: str) -> dict[str, str]:
    return make_keys(api_warehouse).secrets


@pytest.fixture(scope="module")
def open_api(api_warehouse: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with running_api(api_settings(tmp_path_factory.mktemp("fuzz-off")), api_warehouse) as live:
        yield live


@pytest.fixture(scope="module")
def keyed_api(api_warehouse: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    settings_ = api_settings(tmp_path_factory.mktemp("fuzz-keys"), api_auth="keys")
    with running_api(settings_, api_warehouse) as live:
        yield live


def _check(case: schemathesis.Case, response: Any, *, header_forced: bool = False) -> None:
    # With a key, the test itself sends a valid Authorization header on every case, so a case that schemathesis
    # made invalid by its headers alone reaches the API valid: its "rejected" check does not apply there.
    excluded = [positive_data_acceptance, *([negative_data_rejection] if header_forced else [])]
    case.validate_response(response, excluded_checks=excluded)
    # Path parameters are kept percent-encoded as they were sent.
    sent = [unquote(str(v)) for part in (case.query, case.path_parameters) if part for v in part.values()]
    # A download is a binary file (Parquet): searched as text all the same, undecodable bytes replaced.
    body = response.content.decode("utf-8", errors="replace")
    leaked = internals_in(body, sent)
    assert not leaked, f"{case.method} {case.formatted_path} {case.query}: {leaked} in {body[:500]}"


@OFF_SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_fuzz_without_keys(case: schemathesis.Case, open_api: LiveApi) -> None:
    _check(case, case.call(base_url=open_api.url))


@KEYS_SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_fuzz_with_a_key_for_two_users(case: schemathesis.Case, keyed_api: LiveApi, keys: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {keys['pair']}"}
    _check(case, case.call(base_url=keyed_api.url, headers=headers), header_forced=True)


@pytest.mark.parametrize(("auth", "fixture"), [("off", "open_api"), ("keys", "keyed_api")])
def test_the_fuzzed_schema_is_the_one_the_server_publishes(
    auth: str, fixture: str, request: pytest.FixtureRequest
) -> None:
    live: LiveApi = request.getfixturevalue(fixture)
    assert live.get("/openapi.json").json() == api_schema(auth)


@pytest.mark.parametrize(("auth", "fixture"), [("off", "open_api"), ("keys", "keyed_api")])
def test_the_fuzzing_reached_every_answer(auth: str, fixture: str, request: pytest.FixtureRequest) -> None:
    """The fuzzing above (run it too: this reads its requests) got past the parameters to data, unknown users
    and refusals."""
    live: LiveApi = request.getfixturevalue(fixture)
    answered = live.log.requests()
    statuses = Counter((path, status) for _, path, status in answered)
    data_paths = ["/timeseries", "/multi-user/timeseries", "/summary"]
    for path in data_paths:
        for status in (200, 404, 422):
            assert statuses[(path, status)] > 0, (path, status, sorted(statuses.items()))
    if auth == "keys":
        assert sum(count for (_, status), count in statuses.items() if status == 401) > 0
    assert not [key for key in statuses if key[1] >= 500]
    FIGURES[f"requests fuzzed (HR_API_AUTH={auth})"] += len(answered)


# --- what the fuzzing found -------------------------------------------------------------------------


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
