"""Properties of the Fitbit JSON parsers (transform.py) over payloads hypothesis makes.

For any payload, ``parse_intraday`` and ``parse_summary`` raise ``PayloadError`` exactly when the
README says the payload is refused whole, and otherwise return readings plus quarantined records
whose counts add up to the payload's records: nothing crashes, nothing is dropped. What "the
payload's records" are is read here with ``json.loads``, not with the parser. The byte-level fast
path of ``parse_intraday`` and its general path agree field by field on every payload, the ones
the fast path hands back included.

Example counts (per test, per run) are the EXAMPLES constants below; the README's Reliability
section lists them.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any
from unittest import mock

import polars as pl
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from hr_assets.domain import transform
from hr_assets.domain.transform import (
    MAX_POSSIBLE_BPM,
    MIN_POSSIBLE_BPM,
    ParsedIntraday,
    PayloadError,
    local_day_window,
)

# Examples per property and run: enough to reach the odd corners every run, a few seconds each.
INTRADAY_EXAMPLES = 400
FAST_PATH_EXAMPLES = 400
SUMMARY_EXAMPLES = 300
RAW_BYTES_EXAMPLES = 200


def examples(count: int) -> settings:
    """``count`` examples; no deadline per example (the machine is shared, timings vary)."""
    return settings(max_examples=count, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# (local day, zone): an ordinary day, and both DST transitions of Berlin and New York.
DAYS = [
    (date(2025, 6, 1), "UTC"),
    (date(2025, 6, 1), "Asia/Kolkata"),
    (date(2025, 3, 30), "Europe/Berlin"),
    (date(2025, 10, 26), "Europe/Berlin"),
    (date(2025, 3, 9), "America/New_York"),
    (date(2025, 11, 2), "America/New_York"),
]
STRICT_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]")
SMALLINT = (-(2**15), 2**15 - 1)
QUARANTINE_REASON = re.compile(r"record (\d+): ")

# -- strategies -----------------------------------------------------------------------------------


def rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in ``one_in`` draws (the last value: hypothesis favours the first, the simplest)."""
    return draw(st.integers(0, one_in - 1)) == one_in - 1


# Text a database cannot hold as it is: NUL, a lone surrogate.
AWKWARD_TEXT = st.sampled_from(["\x00", "\ud800", "Peak\x00", "\udfff\ud800"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | AWKWARD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
# Hours, minutes and seconds from a few values, so that repeats, the repeated hour of a fall-back
# and the hour skipped by a spring-forward are common.
valid_clocks = st.builds(
    "{:02d}:{:02d}:{:02d}".format,
    st.sampled_from([0, 1, 2, 3, 12, 23]),
    st.sampled_from([0, 30, 59]),
    st.sampled_from([0, 1, 59]),
)
ARABIC_INDIC_CLOCK = "\u0660\u0661:\u0660\u0662:\u0660\u0663"  # 01:02:03 in other digits
odd_clocks = st.sampled_from(
    ["24:00:00", "1:2:3", "01:02:60", "23:59:60", " 01:02:03", "01:02:03 ", "01:02:03.5", "\ud800", ARABIC_INDIC_CLOCK]
) | st.from_regex(r"[0-9 +:.Z-]{0,10}", fullmatch=True)
clocks = st.one_of(valid_clocks, valid_clocks, valid_clocks, odd_clocks, json_values)
bpms = st.one_of(
    st.integers(MIN_POSSIBLE_BPM, MAX_POSSIBLE_BPM),
    st.integers(MIN_POSSIBLE_BPM, MAX_POSSIBLE_BPM),
    st.integers(-1000, 1000),
    st.sampled_from([0, 251, 999, 1000, 2**15, 2**63, 65.0, True]),
    json_values,
)
confidences = st.one_of(
    st.integers(0, 3), st.integers(-(2**40), 2**40), st.sampled_from([2**15, -(2**15) - 1, -1, 9999]), json_values
)


@st.composite
def records(draw: st.DrawFn) -> Any:
    """A dataset record: mostly regular, sometimes with odd fields, keys, order, or not an object at all."""
    if rarely(draw, 20):
        return draw(json_values)
    record: dict[str, Any] = {"time": draw(clocks), "value": draw(bpms)}
    if draw(st.booleans()):
        record["confidence"] = draw(confidences)
    if rarely(draw, 10):
        record[draw(st.sampled_from(["time", "value", "confidence", "extra", "tiem"]))] = draw(json_values)
    if rarely(draw, 10):
        del record[draw(st.sampled_from(sorted(record)))]
    if rarely(draw, 10):
        record = dict(draw(st.permutations(list(record.items()))))
    return record


@st.composite
def regular_records(draw: st.DrawFn) -> dict[str, Any]:
    """A record as a serialiser writes a good reading: the fast path's kind."""
    record: dict[str, Any] = {"time": draw(valid_clocks), "value": draw(st.integers(MIN_POSSIBLE_BPM, 250))}
    if draw(st.booleans()):
        record["confidence"] = draw(st.integers(0, 9999))
    return record


# Text that looks like the start of a dataset, placed where the fast path might take it for one.
DECOYS = ['"dataset":[{"time":"00:00:00","value":60}]', '{"dataset":[{', "}]", '"dataset": [{']


@st.composite
def intraday_documents(draw: st.DrawFn, day: date, dataset: list[Any]) -> dict[str, Any]:
    intraday: dict[str, Any] = {"dataset": dataset, "datasetInterval": 1, "datasetType": "second"}
    if rarely(draw, 5):
        intraday = dict(draw(st.permutations(list(intraday.items()))))
    document: dict[str, Any] = {"activities-heart-intraday": intraday}
    if draw(st.booleans()):
        stated = draw(st.one_of(*[st.just(day.isoformat())] * 4, st.sampled_from(["2025-01-01", None]), json_values))
        document["activities-heart"] = [{"dateTime": stated, "value": "0"}]
    if rarely(draw, 4):
        decoy = draw(st.sampled_from(DECOYS))
        document[draw(st.sampled_from(["note", "dataset", "activities-heart-intraday-x"]))] = draw(
            st.sampled_from([decoy, {"dataset": [{"time": "00:00:00", "value": 61}]}, [decoy]])
        )
    if rarely(draw, 4):
        document = dict(draw(st.permutations(list(document.items()))))
    return document


@st.composite
def serialised(draw: st.DrawFn, document: Any) -> bytes:
    """``document`` as JSON text the way one serialiser or another writes it."""
    layout = draw(st.sampled_from(["compact", "compact", "default", "indented", "loose"]))
    ensure_ascii = not rarely(draw, 4)  # else raw UTF-8, where a lone surrogate makes bytes that are not UTF-8
    if layout == "compact":
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=ensure_ascii)
    elif layout == "default":
        text = json.dumps(document, ensure_ascii=ensure_ascii)
    elif layout == "indented":
        text = json.dumps(document, indent=draw(st.integers(0, 2)), ensure_ascii=ensure_ascii)
    else:
        text = json.dumps(document, separators=(" ,", " : "), ensure_ascii=ensure_ascii)
    return text.encode("utf-8", errors="surrogatepass")  # a lone surrogate becomes bytes that are not UTF-8


@st.composite
def mutated(draw: st.DrawFn, payload: bytes) -> bytes:
    """``payload`` with a few bytes inserted, deleted or replaced (truncation, stray quotes and brackets)."""
    data = bytearray(payload)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        byte = draw(st.sampled_from(b'{}[]",:0123456789 \\-.e\x00\xff'))
        if edit == "insert":
            data.insert(at, byte)
        elif at < len(data) and edit == "delete":
            del data[at]
        elif at < len(data) and edit == "replace":
            data[at] = byte
        elif edit == "truncate":
            del data[at:]
    return bytes(data)


@st.composite
def intraday_cases(draw: st.DrawFn) -> tuple[bytes, date, str]:
    day, timezone = draw(st.sampled_from(DAYS))
    regular = not rarely(draw, 3)
    dataset = draw(st.lists(regular_records() if regular else records(), min_size=int(regular), max_size=40))
    payload = draw(serialised(draw(intraday_documents(day, dataset))))
    if rarely(draw, 5):
        payload = draw(mutated(payload))
    return payload, day, timezone


# -- oracles ------------------------------------------------------------------------------------


def _parse(payload: bytes, day: date, timezone: str) -> ParsedIntraday | PayloadError:
    try:
        return transform.parse_intraday(payload, user_id="u", day=day, timezone=timezone, where="test payload")
    except PayloadError as exc:
        return exc


@contextmanager
def _general_path_only() -> Iterator[None]:
    """parse_intraday without its byte-level fast path: every payload takes the general path."""
    with mock.patch.object(transform, "_read_regular", return_value=None):
        yield


def dataset_or_refusal(payload: bytes, day: date) -> list[Any] | None:
    """The payload's records, read with json.loads; None when the README says it is refused whole."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        return None  # empty, not JSON, not UTF-8
    if not isinstance(document, dict) or not isinstance(document.get("activities-heart-intraday"), dict):
        return None
    entries = document.get("activities-heart")
    if isinstance(entries, list) and entries and isinstance(entries[0], dict):
        stated = entries[0].get("dateTime")
        if stated is not None and stated != day.isoformat():
            return None  # for another date
    dataset = document["activities-heart-intraday"].get("dataset")
    return dataset if isinstance(dataset, list) else None


def _readable(record: Any) -> bool:
    """What the README says a good record is (before it is placed in the day)."""
    if not isinstance(record, dict):
        return False
    clock, value, confidence = record.get("time"), record.get("value"), record.get("confidence")
    return (
        isinstance(clock, str)
        and STRICT_CLOCK.fullmatch(clock) is not None
        and type(value) is int
        and MIN_POSSIBLE_BPM <= value <= MAX_POSSIBLE_BPM
        and (confidence is None or (type(confidence) is int and SMALLINT[0] <= confidence <= SMALLINT[1]))
    )


def _check_accounts_for_every_record(parsed: ParsedIntraday, dataset: list[Any], day: date, timezone: str) -> None:
    readings = list(zip(parsed.readings["time"], parsed.readings["bpm"], parsed.readings["confidence"], strict=True))
    quarantined = list(zip(parsed.quarantined["record"], parsed.quarantined["reason"], strict=True))
    check_accounts_for_every_record(readings, quarantined, dataset, day, timezone)
    assert parsed.readings.schema == pl.Schema(transform.INTRADAY_SCHEMA)


def check_accounts_for_every_record(
    readings: list[tuple[datetime, int, int | None]],
    quarantined: list[tuple[str, str]],
    dataset: list[Any],
    day: date,
    timezone: str,
) -> None:
    """The readings (time, bpm, confidence) and the quarantined (record, reason) of a payload whose records
    are ``dataset``, as the parser returns them or as the warehouse holds them: each record is in exactly
    one of them, as it was in the payload."""
    reasons = [reason for _, reason in quarantined]
    indexes = [int(match.group(1)) for match in map(QUARANTINE_REASON.match, reasons) if match]
    assert len(indexes) == len(reasons), reasons  # every reason names its record
    assert len(set(indexes)) == len(indexes) and all(0 <= i < len(dataset) for i in indexes)
    assert len(readings) + len(quarantined) == len(dataset)
    # The raw record is kept as json.loads reads it.
    assert [record for record, _ in quarantined] == [json.dumps(dataset[i]) for i in indexes]
    kept = [record for i, record in enumerate(dataset) if i not in set(indexes)]
    assert all(_readable(record) for record in kept), kept
    # Every reading is one of the kept records: same bpm and confidence, in the local day.
    assert Counter((bpm, confidence) for _, bpm, confidence in readings) == Counter(
        (record["value"], record.get("confidence")) for record in kept
    )
    times = [at for at, _, _ in readings]
    start, end = local_day_window(day, timezone)
    assert times == sorted(set(times)) and all(start <= t < end for t in times)
    if timezone == "UTC":
        # No DST: a readable record is kept exactly when it is the first at its time.
        first: dict[str, Any] = {}
        for record in dataset:
            if _readable(record):
                first.setdefault(record["time"], record)
        expected = sorted(
            (datetime.combine(day, time.fromisoformat(clock), UTC), record["value"], record.get("confidence"))
            for clock, record in first.items()
        )
        assert readings == expected


# -- properties ---------------------------------------------------------------------------------


@examples(INTRADAY_EXAMPLES)
@given(intraday_cases())
@example((b"[" * 100_000, *DAYS[0]))  # json.loads: RecursionError
@example((b'{"activities-heart-intraday": {"dataset": [], "n": ' + b"9" * 5000 + b"}}", *DAYS[0]))  # ValueError
def test_intraday_refuses_a_payload_or_accounts_for_each_of_its_records(case: tuple[bytes, date, str]) -> None:
    payload, day, timezone = case
    dataset = dataset_or_refusal(payload, day)
    outcome = _parse(payload, day, timezone)
    if dataset is None:
        assert isinstance(outcome, PayloadError), payload
        assert str(outcome).startswith("test payload: ")
        return
    assert isinstance(outcome, ParsedIntraday), outcome
    _check_accounts_for_every_record(outcome, dataset, day, timezone)


@examples(RAW_BYTES_EXAMPLES)
@given(st.binary(max_size=200) | st.text(max_size=100).map(str.encode), st.sampled_from(DAYS))
def test_intraday_any_bytes_are_refused_or_accounted_for(payload: bytes, case: tuple[date, str]) -> None:
    day, timezone = case
    dataset = dataset_or_refusal(payload, day)
    outcome = _parse(payload, day, timezone)
    if dataset is None:
        assert isinstance(outcome, PayloadError)
    else:
        assert isinstance(outcome, ParsedIntraday)
        _check_accounts_for_every_record(outcome, dataset, day, timezone)


def _same_outcome(fast: ParsedIntraday | PayloadError, general: ParsedIntraday | PayloadError) -> None:
    if isinstance(general, PayloadError):
        assert isinstance(fast, PayloadError) and str(fast) == str(general)
        return
    assert isinstance(fast, ParsedIntraday), fast
    assert_frame_equal(fast.readings, general.readings)
    assert_frame_equal(fast.quarantined, general.quarantined)
    assert (fast.window_start, fast.window_end) == (general.window_start, general.window_end)


@examples(FAST_PATH_EXAMPLES)
@given(intraday_cases())
def test_fast_and_general_intraday_paths_agree_field_by_field(case: tuple[bytes, date, str]) -> None:
    payload, day, timezone = case
    event("fast path" if transform._read_regular(payload) is not None else "handed to the general path")
    fast = _parse(payload, day, timezone)
    with _general_path_only():
        general = _parse(payload, day, timezone)
    _same_outcome(fast, general)


@examples(FAST_PATH_EXAMPLES)
@given(
    st.sampled_from(DAYS),
    st.lists(regular_records(), min_size=1, max_size=40),  # an empty dataset takes the general path
    st.sampled_from([(",", ":"), (", ", ": ")]),
    st.booleans(),
)
def test_regular_payloads_take_the_fast_path(
    case: tuple[date, str], dataset: list[dict[str, Any]], separators: tuple[str, str], dated: bool
) -> None:
    # The agreement above would hold vacuously if the fast path never ran.
    day, _ = case
    document: dict[str, Any] = {"activities-heart-intraday": {"dataset": dataset, "datasetInterval": 1}}
    if dated:
        document = {"activities-heart": [{"dateTime": day.isoformat(), "value": "0"}], **document}
    payload = json.dumps(document, separators=separators).encode()
    regular = transform._read_regular(payload)
    assert regular is not None
    assert regular.frame.height == len(dataset)


# -- summary ------------------------------------------------------------------------------------

numbers = st.integers(0, 2000) | st.sampled_from([-1, math.nan, math.inf, -math.inf, True]) | json_values


@st.composite
def zones(draw: st.DrawFn) -> Any:
    """A heart-rate zone: half of them good, the others with something wrong somewhere."""
    if rarely(draw, 10):
        return draw(json_values)
    good = draw(st.booleans())
    names = st.sampled_from(["Out of Range", "Fat Burn", "Peak"])
    zone: dict[str, Any] = {"name": draw(names if good else names | AWKWARD_TEXT | json_values)}
    for key in ("min", "max", "minutes", "caloriesOut"):
        if draw(st.integers(0, 3)):
            zone[key] = draw(st.integers(0, 2000) | st.floats(0, 3000) if good else numbers)
    if not good and draw(st.booleans()):
        zone[draw(st.text(max_size=6) | AWKWARD_TEXT)] = draw(json_values)
    return zone


@st.composite
def summary_cases(draw: st.DrawFn) -> tuple[bytes, date]:
    day, _ = draw(st.sampled_from(DAYS))
    value: dict[str, Any] = {}
    for key in ("heartRateZones", "customHeartRateZones"):
        if draw(st.integers(0, 4)):
            value[key] = draw(st.lists(zones(), max_size=5)) if draw(st.integers(0, 5)) else draw(json_values)
    if draw(st.booleans()):
        value["restingHeartRate"] = draw(bpms)
    stated = draw(st.one_of(*[st.just(day.isoformat())] * 6, st.just("2025-01-01"), json_values))
    entries: Any = [{"dateTime": stated, "value": value}]
    if rarely(draw, 10):
        entries = draw(st.sampled_from([[], entries * 2, [value], {"dateTime": stated}]))
    payload = draw(serialised({"activities-heart": entries}))
    if rarely(draw, 6):
        payload = draw(mutated(payload))
    return payload, day


def summary_records_or_refusal(payload: bytes, day: date) -> int | None:
    """How many records (resting heart rate, each zone) the summary holds; None when it is refused whole."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    entries = document.get("activities-heart") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return None
    if not entries:
        return 0
    if len(entries) != 1 or not isinstance(entries[0], dict):
        return None
    stated = entries[0].get("dateTime")
    if stated is not None and stated != day.isoformat():
        return None
    value = entries[0].get("value")
    if not isinstance(value, dict):
        return None
    held = int(value.get("restingHeartRate") is not None)
    for key in ("heartRateZones", "customHeartRateZones"):
        if key in value:
            held += len(value[key]) if isinstance(value[key], list) else 1
    return held


def _finite(value: Any) -> bool:
    """Whether ``value`` is JSON without NaN or Infinity (test_ingest_properties loads kept zones for real)."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


@examples(SUMMARY_EXAMPLES)
@given(summary_cases())
@example((b'{"activities-heart": ' + b"[" * 100_000, DAYS[0][0]))
def test_summary_refuses_a_payload_or_accounts_for_each_of_its_records(case: tuple[bytes, date]) -> None:
    payload, day = case
    held = summary_records_or_refusal(payload, day)
    try:
        parsed = transform.parse_summary(payload, user_id="u", day=day, where="test summary")
    except PayloadError as exc:
        assert held is None, (payload, exc)
        return
    assert held is not None, payload
    kept = int(parsed.resting_heart_rate is not None) + len(parsed.heart_rate_zones)
    kept += len(parsed.custom_heart_rate_zones)
    assert kept + parsed.quarantined.height == held
    resting = parsed.resting_heart_rate
    assert resting is None or (type(resting) is int and MIN_POSSIBLE_BPM <= resting <= MAX_POSSIBLE_BPM)
    for zone in parsed.heart_rate_zones + parsed.custom_heart_rate_zones:
        assert isinstance(zone, dict) and isinstance(zone.get("name"), str) and _finite(zone), zone
