"""Hand-built Fitbit-shaped payloads for tests."""

from __future__ import annotations

import json
from datetime import date
from typing import Any


def intraday(dataset: list[Any], day: date | None = None) -> bytes:
    document: dict[str, Any] = {
        "activities-heart-intraday": {"dataset": dataset, "datasetInterval": 1, "datasetType": "second"}
    }
    if day is not None:
        document["activities-heart"] = [{"dateTime": day.isoformat(), "value": "0"}]
    return json.dumps(document).encode()


def every(seconds: int, start: int = 0, end: int = 86400, bpm: int = 60) -> list[dict[str, Any]]:
    """A reading every ``seconds`` of a 24-hour wall clock, bpm varying with the time."""
    return [
        {"time": f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}", "value": bpm + (s // 60) % 40}
        for s in range(start, end, seconds)
    ]


def summary(day: date, resting: Any = 61, zones: Any = None) -> bytes:
    value: dict[str, Any] = {
        "customHeartRateZones": [],
        "heartRateZones": zones
        if zones is not None
        else [
            {"caloriesOut": 1500.5, "max": 94, "min": 30, "minutes": 1300, "name": "Out of Range"},
            {"caloriesOut": 300.1, "max": 131, "min": 94, "minutes": 100, "name": "Fat Burn"},
            {"caloriesOut": 100.0, "max": 159, "min": 131, "minutes": 30, "name": "Cardio"},
            {"caloriesOut": 20.0, "max": 220, "min": 159, "minutes": 10, "name": "Peak"},
        ],
    }
    if resting is not None:
        value["restingHeartRate"] = resting
    return json.dumps({"activities-heart": [{"dateTime": day.isoformat(), "value": value}]}).encode()
