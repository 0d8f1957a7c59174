"""With keys on, a key reads its own users and nobody else's: every endpoint x parameter combination, from the schema.

The walk takes the operations and parameters of the OpenAPI schema the server publishes and tries every
combination of a set of values per parameter (every user, an unknown one, two ranges, every interval,
max_points at its bounds and default) with a key for one user, a key for two users, a key for a retired
user and a --metrics key. A combination that names only users the key may read answers exactly what an
--all key gets; one that names another user answers exactly what it answers for a user that does not exist
(status, headers, body), whatever else is wrong with the request. No 2xx body names a user the key may
not read. /users lists the key's users; /metrics needs --all or --metrics. Revoked keys and malformed
Authorization headers are 401 everywhere.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from hr_assets_tests.api.api_helpers import (
    FIGURES,
    RETIRED,
    WINDOW,
    ZONES,
    Keys,
    LiveApi,
    api_schema,
    api_settings,
    make_keys,
    one_request_per_operation,
    running_api,
)

SCHEMA = api_schema("keys")
REGISTERED = set(ZONES)
# Users a key may read, by key name (Keys): "metrics" reads none.
READS = {"user1": {"user1"}, "pair": {"user1", "user2"}, RETIRED: {RETIRED}, "metrics": set()}
# Ids to try: every user, and one that does not exist.
USER_CHOICES = [*sorted(ZONES), "nobody"]
# The ranges to try: a few hours with every user's readings, and whole days around them.
RANGES = [WINDOW, {"start_date": "2025-05-31", "end_date": "2025-06-03"}]
# Ids substituted for the users a key may not read, to get the answer for users that do not exist.
UNKNOWN_PREFIX = "zz"


def _choices(name: str, parameter: dict[str, Any]) -> list[str | None]:
    """The values tried for one parameter of the schema (None: left out)."""
    schema = parameter["schema"]
    if name == "user_id":
        return list(USER_CHOICES)
    if name == "user_ids":
        pairs = itertools.permutations(["user1", "user2", RETIRED, "nobody"], 2)
        return [*USER_CHOICES, *(",".join(pair) for pair in pairs), "user1,user1"]
    if name == "interval":
        ref = next(option["$ref"] for option in schema["anyOf"] if "$ref" in option)
        return [None, *SCHEMA["components"]["schemas"][ref.rsplit("/", 1)[-1]]["enum"]]
    if name == "max_points":
        return [None, str(schema["minimum"]), str(schema["maximum"])]
    if name in ("start", "end"):  # the study routes' local days
        return [None, "2025-06-01"]
    if name == "cohort":  # nobody is in a cohort here: a filter that leaves nobody
        return [None, "site-a"]
    if name == "format":  # study grid: json or csv; export download: csv or parquet
        return [None, "csv"]
    if name == "level":  # the export download: its default and one other (each is a file)
        return [None, "day"]
    raise AssertionError(f"a new parameter {name!r}: say here which values the access walk tries")


def _requests() -> list[tuple[str, dict[str, str]]]:
    """(path with its user id filled in, query) for every combination of every operation."""
    walked = []
    for template, methods in SCHEMA["paths"].items():
        parameters = {p["name"]: p for p in methods["get"].get("parameters", [])}
        dates = {"start_date", "end_date"} & set(parameters)
        others = [name for name in parameters if name not in dates]
        ranges: list[dict[str, str]] = RANGES if dates else [{}]
        for values in itertools.product(*(_choices(name, parameters[name]) for name in others)):
            chosen = {name: value for name, value in zip(others, values, strict=True) if value is not None}
            for window in ranges:
                path = template.replace("{user_id}", quote(chosen.pop("user_id", ""))) if "{" in template else template
                walked.append((path, {**window, **chosen}))
    return walked


REQUESTS = _requests()


def _named_users(path: str, query: dict[str, str]) -> list[str]:
    ids = [*query.get("user_ids", "").split(","), query.get("user_id", "")]
    if path.startswith("/users/"):
        ids.append(path.removeprefix("/users/"))
    return [user_id for user_id in ids if user_id]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _study_participants(path: str, body: Any) -> list[str] | int:
    """The participants a /study answer lists (for /study/cohorts, how many), in its order."""
    if isinstance(body, str):  # the compliance grid as CSV
        return list(dict.fromkeys(row.partition(",")[0] for row in body.splitlines()[1:]))
    if path == "/study/cohorts":
        return sum(c["participants"] for c in body["cohorts"])
    return [p["user_id"] for p in body["participants"]]


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in ("date", "content-length")}
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else response.text
    return response.status_code, headers, body


@pytest.fixture(scope="module")
def keyed(api_warehouse: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApi, Keys]]:
    keys = make_keys(api_warehouse)
    with running_api(api_settings(tmp_path_factory.mktemp("access"), api_auth="keys"), api_warehouse) as live:
        yield live, keys


@pytest.fixture(scope="module")
def answers_for_all(keyed: tuple[LiveApi, Keys]) -> dict[tuple[str, str], tuple[int, dict[str, str], Any]]:
    """What an --all key gets for each request of the walk."""
    live, keys = keyed
    return {
        (path, json.dumps(query, sort_keys=True)): _answer(live.get(path, keys["all"], **query))
        for path, query in REQUESTS
    }


@pytest.mark.parametrize("key_name", sorted(READS))
def test_a_key_never_returns_another_users_data(
    keyed: tuple[LiveApi, Keys],
    answers_for_all: dict[tuple[str, str], tuple[int, dict[str, str], Any]],
    key_name: str,
) -> None:
    live, keys = keyed
    key, readable = keys[key_name], READS[key_name]
    hidden = REGISTERED - readable
    for path, query in REQUESTS:
        got = _answer(live.get(path, key, **query))
        status, _, body = got
        where = (key_name, path, query)
        named = _named_users(path, query)
        if 200 <= status < 300:
            assert not hidden & set(_strings(body)), (where, body)
        if path == "/users":
            assert (status, body["users"], body["total_count"]) == (200, sorted(readable), len(readable)), where
        elif path == "/metrics":
            assert status == (200 if key_name == "metrics" else 403), where
        elif path.startswith("/study/"):
            listed: list[str] | int = [] if "cohort" in query else sorted(readable)
            expected = len(listed) if path == "/study/cohorts" else listed
            assert (status, _study_participants(path, body)) == (200, expected), where
        elif not hidden & set(named):
            assert got == answers_for_all[(path, json.dumps(query, sort_keys=True))], where
        else:
            # The same request with the hidden users replaced by users that do not exist.
            swap = {user_id: UNKNOWN_PREFIX + user_id for user_id in hidden}
            unknown_path = "/".join(swap.get(part, part) for part in path.split("/"))
            unknown_query = {k: ",".join(swap.get(u, u) for u in v.split(",")) for k, v in query.items()}
            status_unknown, headers_unknown, body_unknown = _answer(live.get(unknown_path, key, **unknown_query))
            assert status == status_unknown and status in (404, 422), (where, got)
            detail = body_unknown["detail"]
            for user_id, unknown in swap.items():
                detail = detail.replace(repr(unknown), repr(user_id))
            assert (got[1], body) == (headers_unknown, {"detail": detail}), where
    FIGURES["endpoint x parameter combinations walked per key (4 keys)"] = len(REQUESTS)


# Authorization headers that carry no valid key ({key} is a valid one; HTTP allows no whitespace at either end).
MALFORMED = [
    "",
    "Bearer",
    "Bearer  hr_",
    "Bearer hr_",
    "Basic dXNlcjE6cGFzc3dvcmQ=",
    "Token {key}",
    "{key}",
    "Bearer {key}x",
    "Bearer x{key}",
    "Bearer {key} {key}",
    "Bearer {key},Bearer {key}",
    "Bearer {upper}",
    "Bearer {key_without_prefix}",
    "Bearer\t{key}x",
    "Bearer %s" % ("hr_" + "A" * 8000),
]


def test_revoked_keys_and_malformed_headers_are_401_everywhere(keyed: tuple[LiveApi, Keys]) -> None:
    live, keys = keyed
    valid = keys["user1"]
    headers = [
        template.format(key=valid, upper=valid.upper(), key_without_prefix=valid.removeprefix("hr_"))
        for template in MALFORMED
    ]
    headers.append(f"Bearer {keys['revoked']}")
    tried = 0
    for _, path, query in one_request_per_operation():
        for header in headers:
            response = live.client.get(path, params=query, headers={"Authorization": header} if header else {})
            tried += 1
            if path == "/health":
                assert response.status_code == 200
                continue
            assert response.status_code == 401, (path, header[:80], response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "user1" not in response.text
    FIGURES["revoked or malformed Authorization headers tried"] += tried


def test_a_key_for_a_retired_user_reads_that_user_and_only_that_user(keyed: tuple[LiveApi, Keys]) -> None:
    live, keys = keyed
    key = keys[RETIRED]
    assert live.get("/users", key).json()["users"] == [RETIRED]
    detail = live.get(f"/users/{RETIRED}", key).json()
    assert detail["retired"] is True and detail["days_with_data"] > 0
    body = live.get("/timeseries", key, user_id=RETIRED, **WINDOW).json()
    assert body["data"] and {point["user_id"] for point in body["data"]} == {RETIRED}
    assert live.get("/timeseries", key, user_id="user1", **WINDOW).status_code == 404
