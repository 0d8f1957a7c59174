"""hr_api.params: the query parameters as the API accepts them; each refusal a 422 naming the parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi import HTTPException

from hr_api.params import MAX_USERS, parse_day, parse_instant, parse_range, parse_user_id, parse_user_ids


def _refusal(call: object, *args: str) -> str:
    """The detail of the HTTPException ``call(*args)`` raises, after checking it is a 422."""
    assert callable(call)
    with pytest.raises(HTTPException) as refused:
        call(*args)
    assert refused.value.status_code == 422
    return str(refused.value.detail)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2025-06-01", datetime(2025, 6, 1, tzinfo=UTC)),  # a date is its midnight in UTC
        ("2025-06-01T10:00:00", datetime(2025, 6, 1, 10, tzinfo=UTC)),  # naive means UTC
        ("2025-06-01T10:00:00Z", datetime(2025, 6, 1, 10, tzinfo=UTC)),
        ("2025-06-01T12:30:00+02:00", datetime(2025, 6, 1, 10, 30, tzinfo=UTC)),
    ],
)
def test_instants_are_read_as_utc(text: str, instant: datetime) -> None:
    parsed = parse_instant(text, "start_date")
    assert parsed == instant and parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0


def test_an_unreadable_instant_names_the_parameter_and_the_formats() -> None:
    detail = _refusal(parse_instant, "June 1st", "end_date")
    assert detail == ("end_date: 'June 1st' is not a date (2025-06-01) or an ISO 8601 date-time (2025-06-01T10:00:00Z)")
    # Spaces around are not part of the rule the schema states (INSTANT): refused, not trimmed.
    assert _refusal(parse_instant, "  2025-06-01T10:00Z ", "start_date").startswith(
        "start_date: '  2025-06-01T10:00Z ' is not a date"
    )


def test_an_instant_before_year_1_in_utc_is_refused_not_a_server_error() -> None:
    detail = _refusal(parse_instant, "0001-01-01T00:00+01:00", "start_date")
    assert detail == "start_date: '0001-01-01T00:00+01:00' is outside the years 1 to 9999 in UTC"


def test_a_range_must_end_after_it_starts() -> None:
    assert parse_range("2025-06-01", "2025-06-01T00:00:01Z") == (
        datetime(2025, 6, 1, tzinfo=UTC),
        datetime(2025, 6, 1, 0, 0, 1, tzinfo=UTC),
    )
    # Compared in UTC: 23:00 at -02:00 on the 1st is 01:00 UTC on the 2nd, after the 2nd's midnight.
    detail = _refusal(parse_range, "2025-06-01T23:00:00-02:00", "2025-06-02")
    assert detail == "end_date: 2025-06-02T00:00:00+00:00 is not after start_date 2025-06-02T01:00:00+00:00"
    assert _refusal(parse_range, "2025-06-01", "2025-06-01").startswith("end_date: ")
    assert _refusal(parse_range, "soon", "2025-06-01").startswith("start_date: 'soon'")


def test_a_local_day_is_the_date_as_written_whatever_the_offset() -> None:
    assert parse_day("2025-06-01", "start_date") == date(2025, 6, 1)
    assert parse_day("2025-06-01T23:30:00-05:00", "start_date") == date(2025, 6, 1)  # 04:30 UTC on the 2nd
    assert _refusal(parse_day, "2025-02-30", "end_date") == "end_date: '2025-02-30' is not a date (2025-06-01)"


@pytest.mark.parametrize("user_id", ["a", "user_1", "x-9", "a" * 64])
def test_user_ids_within_the_pattern_pass_unchanged(user_id: str) -> None:
    assert parse_user_id(user_id) == user_id


@pytest.mark.parametrize("user_id", ["", "A", "a b", "a" * 65, "a;b", "ü", "../x", "a|b"])
def test_other_user_ids_are_refused_naming_the_parameter(user_id: str) -> None:
    assert _refusal(parse_user_id, user_id) == (
        f"user_id: {user_id!r} is not a user id (1 to 64 of a-z, 0-9, '_' and '-')"
    )


def test_a_user_list_keeps_its_order_and_drops_repeats() -> None:
    assert parse_user_ids("user2,user1,user2") == ["user2", "user1"]


def test_a_user_list_names_the_list_in_its_refusals() -> None:
    assert _refusal(parse_user_ids, "") == "user_ids: name at least one user (user_ids=user1,user2)"
    assert _refusal(parse_user_ids, "user1,Bad").startswith("user_ids: 'Bad' is not a user id")
    # The rule the schema states (USER_IDS): no spaces and no empty ids between the commas.
    assert _refusal(parse_user_ids, "user2, user1").startswith("user_ids: ' user1' is not a user id")
    assert _refusal(parse_user_ids, "user2,,user1").startswith("user_ids: '' is not a user id")
    too_many = ",".join(f"u{n}" for n in range(MAX_USERS + 1))
    assert (
        _refusal(parse_user_ids, too_many)
        == f"user_ids: {MAX_USERS + 1} users asked for; at most {MAX_USERS} per request"
    )
    # The list counts as written (USER_IDS allows MAX_USERS ids), repeats included.
    assert len(parse_user_ids(",".join(["u1"] * MAX_USERS))) == 1
    assert _refusal(parse_user_ids, ",".join(["u1"] * (MAX_USERS + 1))).startswith(
        f"user_ids: {MAX_USERS + 1} users asked for"
    )
