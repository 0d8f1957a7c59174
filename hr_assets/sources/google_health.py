"""Source ``google_health``: each user's own heart rate from the Google Health API (v4), live.

The legacy Fitbit Web API was turned off on 2026-11-02 (its endpoints answer 410 Gone); the
Google Health API is its successor. A user registers with ``--source google_health`` and
connects once (``hr users connect alice``, :mod:`hr_assets.sources.google_oauth`); the stored
refresh token (encrypted, :mod:`hr_assets.warehouse.tokens`) gives the source short-lived
access tokens, kept in memory and refreshed a minute before they expire.

What the source relies on, from Google's documentation
-------------------------------------------------------
* ``users.dataTypes.dataPoints.list`` (developers.google.com/health/reference/rest/v4/
  users.dataTypes.dataPoints/list; the ``ListDataPointsRequest`` comments in
  google/devicesandservices/health/v4/data_points.proto say the same):
  ``GET {HR_GOOGLE_HEALTH_API_URL}/v4/users/me/dataTypes/{dataType}/dataPoints`` with
  ``pageSize`` (default 1440, at most 10000, larger values truncated), ``pageToken`` (the
  previous answer's ``nextPageToken``, empty or absent on the last page) and ``filter`` (AIP-160;
  operators ``>=`` and ``<`` joined by ``AND``). The answer is
  ``{"dataPoints": [...], "nextPageToken": "..."}``, **newest first** ("ordered by the interval
  start time in descending order"). We ask for 10000 per page and follow every token.
* Data types (developers.google.com/health/data-types), all under the read-only scope
  ``googlehealth.health_metrics_and_measurements.readonly`` (developers.google.com/health/scopes):

  - ``heart-rate`` (sample type), filter ``heart_rate.sample_time.physical_time`` (RFC 3339).
    Point: ``{"heartRate": {"beatsPerMinute": "64", "sampleTime": {"physicalTime":
    "2026-03-29T01:59:59Z", "utcOffset": "3600s", "civilTime": {...}}, "metadata": {...}}}``.
    ``beatsPerMinute`` is an int64, which proto3's JSON mapping writes as a *string*.
  - ``daily-resting-heart-rate`` (daily type), filter ``daily_resting_heart_rate.date`` (YYYY-MM-DD).
    Point: ``{"dailyRestingHeartRate": {"date": {"year": 2026, "month": 3, "day": 29},
    "beatsPerMinute": "58", "dailyRestingHeartRateMetadata": {"calculationMethod": "WITH_SLEEP"}}}``.
  - ``daily-heart-rate-zones`` (daily type), filter ``daily_heart_rate_zones.date``. Point:
    ``{"dailyHeartRateZones": {"date": {...}, "heartRateZones": [{"heartRateZoneType": "LIGHT",
    "minBeatsPerMinute": "98", "maxBeatsPerMinute": "117"}, ...]}}`` with types ``LIGHT``,
    ``MODERATE``, ``VIGOROUS``, ``PEAK`` (Karvonen zones). It carries the zones' **limits only, not
    the minutes spent in them**.
* Errors (developers.google.com/health/reference/rest/v4/errors, /health/rate-limits): the body
  is ``{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED"}}``. 429 (quota:
  300 requests a minute per user) and 5xx are transient: retried here with exponential backoff,
  honouring ``Retry-After`` (seconds or an HTTP date), then raised as TransientSourceError for the
  run's retry policy. 401 is answered by one refresh of the access token; a second 401 (or
  ``invalid_grant`` from the token endpoint) means the grant is gone: the partition fails with
  "reconnect with `hr users connect alice`". 403 is a missing permission (same advice). 410 Gone
  is what the retired Fitbit Web API answers: said as such, in case the base URL points there.

Windows
-------
A partition is the user's local day in the registry's time zone: ``[local midnight, next local
midnight)`` as a UTC interval, 23, 24 or 25 hours long (``transform.local_day_window``), asked for
with the *physical-time* filter. Not the civil-time filter: civil time is the wall clock of
wherever the watch was, which repeats an hour at a fall-back and may be another zone than the
registry's; physical instants make adjacent partitions meet exactly, so no point is fetched by
two days or by none. The daily types are asked for by their ``date`` (``>= day AND < day+1``).
The nightly schedule re-fetches the day before, which picks up points that synced late.

Mapping
-------
:func:`to_fitbit_payloads` turns the three lists into the Fitbit Web API shapes the loader parses
(documented on the function). Zone minutes are computed here, from the day's heart-rate points and
the day's zone limits, as the simulator and Fitbit count them: each UTC minute with readings counts
once, in the zone of that minute's mean bpm, being the highest zone whose minimum the mean reaches;
a mean below the lowest zone's minimum counts as "Out of Range". So a summary fetch lists the day's
heart rate as well (about 9 requests for a dense day of one reading a second).
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from hr_assets.sources import google_oauth
from hr_assets.sources.base import DateRange, DayPayloads, PayloadKind, SourceError, TransientSourceError, UserProfile
from hr_assets.transform import MAX_POSSIBLE_BPM, MIN_POSSIBLE_BPM, local_day_window

log = logging.getLogger(__name__)

KIND = "google_health"
HEART_RATE = "heart-rate"
RESTING_HEART_RATE = "daily-resting-heart-rate"
HEART_RATE_ZONES = "daily-heart-rate-zones"
# The largest page the list method serves (values above are truncated to it).
PAGE_SIZE = 10_000
# Attempts of one request when the API answers 429/5xx or the connection fails, and the backoff
# between them (doubling from BACKOFF_S, at most MAX_BACKOFF_S). A Retry-After longer than
# MAX_RETRY_AFTER_S is not waited out here: the run's retry policy comes back later.
MAX_ATTEMPTS = 5
BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 120.0
REQUEST_TIMEOUT_S = 60.0
# An access token this close to expiry is refreshed before use (they live an hour).
REFRESH_MARGIN_S = 60.0
# A day lists at most this many pages: a guard against a server that never stops paging
# (a day of one reading a second is 9 pages).
MAX_PAGES = 1_000

# Google's zone types in ascending order, and the names they get in the summary. Below the
# lowest zone is what the Fitbit Web API called "Out of Range".
ZONE_NAMES = {"LIGHT": "Light", "MODERATE": "Moderate", "VIGOROUS": "Vigorous", "PEAK": "Peak"}
BELOW_ZONES = "Out of Range"
# Shaped like a wall-clock time: unparseable raw text of this shape must not pose as a valid time.
_WALL_CLOCK = re.compile(r"\A\d{1,2}:\d{2}(:\d{2})?\Z")
# RFC 3339 as Google writes it; the fraction (up to nanoseconds) is cut to whole seconds.
_RFC3339 = re.compile(r"\A(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")
_COMPACT = (",", ":")


class FitbitApiGone(SourceError):
    """410 Gone: the legacy Fitbit Web API is turned off."""


# --- the mapping ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    instant: datetime  # UTC, whole seconds
    bpm: Any  # an int when valid, else the value as found (the loader quarantines it)


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    match = _RFC3339.match(text)
    if match is None:
        return None
    try:
        return datetime.fromisoformat(match[1] + match[3].replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _integer(value: Any) -> Any:
    """int64 fields arrive as strings ("64"); an integral number is accepted too. Anything else as found."""
    if type(value) is int:
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return value


def _civil_date(value: Any) -> date | None:
    try:
        return date(int(value["year"]), int(value["month"]), int(value["day"]))
    except (TypeError, KeyError, ValueError):
        return None


def _daily(points: Iterable[Any], key: str, day: date) -> dict[str, Any] | None:
    """The first (newest) daily record under ``key`` dated ``day``."""
    for point in points:
        record = point.get(key) if isinstance(point, dict) else None
        if isinstance(record, dict) and _civil_date(record.get("date")) == day:
            return record
    return None


def _zones(record: dict[str, Any] | None, minute_means: list[float]) -> list[dict[str, Any]]:
    """Fitbit-shaped zones from Google's limits, with the minutes counted from ``minute_means``."""
    if record is None:
        return []
    limits = record.get("heartRateZones")
    if limits is None:
        return []
    if not isinstance(limits, list):
        return [{"name": None, "raw": limits}]  # refused by the loader ("missing 'name'"), kept in quarantine
    valid: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for zone in limits:
        entry = _zone_entry(zone)
        (valid if isinstance(entry.get("min"), int) and isinstance(entry.get("max"), int) else refused).append(entry)
    valid.sort(key=lambda entry: int(entry["min"]))
    if not valid:
        return refused
    counts = [0] * (len(valid) + 1)
    for mean in minute_means:
        index = 0
        for position, entry in enumerate(valid, start=1):
            if mean >= entry["min"]:
                index = position
        counts[index] += 1
    zones = [{"name": BELOW_ZONES, "max": valid[0]["min"], "minutes": counts[0]}]
    zones += [{**entry, "minutes": counts[i]} for i, entry in enumerate(valid, start=1)]
    return zones + refused


def _zone_entry(zone: Any) -> dict[str, Any]:
    if not isinstance(zone, dict):
        return {"name": None, "raw": zone}
    kind = zone.get("heartRateZoneType")
    low, high = _integer(zone.get("minBeatsPerMinute")), _integer(zone.get("maxBeatsPerMinute"))
    return {"name": ZONE_NAMES.get(kind, kind) if isinstance(kind, str) else None, "min": low, "max": high}


def to_fitbit_payloads(
    day: date,
    timezone: str,
    heart_rate: Iterable[Any],
    resting_heart_rate: Iterable[Any] = (),
    heart_rate_zones: Iterable[Any] = (),
) -> tuple[bytes, bytes]:
    """The intraday and summary payloads (Fitbit Web API shapes, see ``base.py``) of local ``day``.

    ``heart_rate``, ``resting_heart_rate``, ``heart_rate_zones``: the ``dataPoints`` of the three
    data types, in any order (the API lists newest first).

    Intraday: one ``{"time": "HH:MM:SS", "value": bpm}`` per point whose ``physicalTime`` lies in
    the local day, in the order of the instants, ``time`` being the wall clock in ``timezone`` (a
    fall-back's repeated hour appears twice, in order, which is how the loader tells the two apart).
    Instants are cut to the second, the payload's resolution (two points in one second: the loader
    keeps the first and quarantines the other). ``beatsPerMinute`` is taken as an integer whether
    written as "64" or 64; no confidence is given (Google has none). A point that cannot be read is
    passed on with ``"raw"`` holding the point, so that the loader quarantines it with its reason:
    a bpm that is not an integer (as found, e.g. "64.5"), out of range (as found), or missing; a
    point without a readable ``physicalTime`` (``time`` is then the raw text, or null; these
    entries follow the placed readings). Points outside the day are other partitions' and left out.

    Summary: ``restingHeartRate`` from the day's ``daily-resting-heart-rate`` (absent when there is
    none; a non-integer value is passed on for the loader to refuse); ``heartRateZones`` from the
    day's ``daily-heart-rate-zones`` limits as ``{"name", "min", "max", "minutes"}``: "Out of Range"
    (below the lowest zone, ``max`` only), then "Light", "Moderate", "Vigorous", "Peak" (an unknown
    zone type keeps its own name), the minutes counted from the intraday points (module docstring).
    A zone with unreadable limits is passed on without minutes, for the loader to quarantine; no
    zones record gives ``heartRateZones: []``. ``customHeartRateZones`` is always empty.
    """
    start, end = local_day_window(day, timezone)
    zone = ZoneInfo(timezone)
    placed: list[_Reading] = []
    unplaced: list[dict[str, Any]] = []
    outside = 0
    for point in heart_rate:
        sample = point.get("heartRate") if isinstance(point, dict) else None
        sample_time = sample.get("sampleTime") if isinstance(sample, dict) else None
        raw_time = sample_time.get("physicalTime") if isinstance(sample_time, dict) else None
        instant = _instant(raw_time)
        if instant is None or not isinstance(sample, dict):
            shown = raw_time if isinstance(raw_time, str) and not _WALL_CLOCK.match(raw_time) else None
            bpm = _integer(sample.get("beatsPerMinute")) if isinstance(sample, dict) else None
            unplaced.append({"time": shown, "value": bpm, "raw": point})
            continue
        if not start <= instant < end:
            outside += 1
            continue
        placed.append(_Reading(instant.replace(microsecond=0), _integer(sample.get("beatsPerMinute"))))
    if outside:
        log.warning("%d heart-rate point(s) outside %s in %s left to their own day", outside, day, timezone)
    placed.sort(key=lambda reading: reading.instant)
    dataset: list[dict[str, Any]] = []
    minute_sums: dict[int, list[int]] = {}
    for reading in placed:
        entry: dict[str, Any] = {"time": reading.instant.astimezone(zone).strftime("%H:%M:%S"), "value": reading.bpm}
        if type(reading.bpm) is not int:
            entry["raw"] = {"beatsPerMinute": reading.bpm, "physicalTime": reading.instant.isoformat()}
        elif MIN_POSSIBLE_BPM <= reading.bpm <= MAX_POSSIBLE_BPM:  # what the loader keeps
            totals = minute_sums.setdefault(int(reading.instant.timestamp()) // 60, [0, 0])
            totals[0] += reading.bpm
            totals[1] += 1
        dataset.append(entry)
    dataset += unplaced
    intraday = {
        "activities-heart": [{"dateTime": day.isoformat()}],
        "activities-heart-intraday": {"dataset": dataset, "datasetInterval": 1, "datasetType": "second"},
    }
    minute_means = [total / count for total, count in minute_sums.values()]
    value: dict[str, Any] = {
        "customHeartRateZones": [],
        "heartRateZones": _zones(_daily(heart_rate_zones, "dailyHeartRateZones", day), minute_means),
    }
    resting = _daily(resting_heart_rate, "dailyRestingHeartRate", day)
    if resting is not None and "beatsPerMinute" in resting:
        value["restingHeartRate"] = _integer(resting["beatsPerMinute"])
    summary = {"activities-heart": [{"dateTime": day.isoformat(), "value": value}]}
    return json.dumps(intraday, separators=_COMPACT).encode(), json.dumps(summary, separators=_COMPACT).encode()


# --- the API ----------------------------------------------------------------------------------


def _rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def heart_rate_filter(day: date, timezone: str) -> str:
    """The physical-time filter of ``day``'s local [midnight, next midnight) in ``timezone``."""
    start, end = local_day_window(day, timezone)
    field = "heart_rate.sample_time.physical_time"
    return f'{field} >= "{_rfc3339(start)}" AND {field} < "{_rfc3339(end)}"'


def daily_filter(data_type: str, day: date) -> str:
    field = f"{data_type.replace('-', '_')}.date"
    return f'{field} >= "{day.isoformat()}" AND {field} < "{(day + timedelta(days=1)).isoformat()}"'


def retry_delay(response: httpx.Response, attempt: int, now: datetime | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: the server's Retry-After, else exponential backoff."""
    header = response.headers.get("Retry-After")
    if header:
        if header.strip().isdigit():
            return float(header.strip())
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return _backoff(attempt)


def _backoff(attempt: int) -> float:
    return float(min(MAX_BACKOFF_S, BACKOFF_S * 2 ** (attempt - 1)))


def _google_message(response: httpx.Response) -> str:
    """Google's ``error.status: error.message`` (never the request's headers)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        return f"{error.get('status') or response.status_code}: {error.get('message') or ''}".strip()
    return f"HTTP {response.status_code}"


@dataclass
class _Session:
    """A user's access token, in memory only."""

    tokens: google_oauth.Tokens | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class GoogleHealthSource:
    """Heart rate of a connected user from the Google Health API (module docstring).

    Thread-safe: the loader prepares two partitions at once; each user's access token is
    refreshed by one thread at a time. ``sleep`` is how the source waits between retries.
    """

    kind = KIND

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep
        self._sessions: dict[str, _Session] = {}
        self._sessions_lock = threading.Lock()
        # Refresh tokens Google refused, so that the other partitions of a run fail at once.
        self._refused: dict[str, str] = {}

    def available_dates(self, user: UserProfile) -> DateRange | None:
        return None  # the API does not say where a user's history begins

    def fetch_day(self, user: UserProfile, day: date, *, only: PayloadKind | None = None) -> DayPayloads:
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
            heart_rate = self.list_points(client, user, HEART_RATE, heart_rate_filter(day, user.timezone))
            resting: list[Any] = []
            zones: list[Any] = []
            if only != "intraday":  # the summary also needs the heart rate, for the zone minutes
                resting = self.list_points(client, user, RESTING_HEART_RATE, daily_filter(RESTING_HEART_RATE, day))
                zones = self.list_points(client, user, HEART_RATE_ZONES, daily_filter(HEART_RATE_ZONES, day))
        intraday, summary = to_fitbit_payloads(day, user.timezone, heart_rate, resting, zones)
        if only == "summary":
            intraday = b""
        elif only == "intraday":
            summary = b""  # without the daily records it would be a wrong summary
        log.debug("%s %s: %d heart-rate point(s)", user.user_id, day, len(heart_rate))
        return DayPayloads(intraday=intraday, summary=summary, origin=f"{HEART_RATE} {day.isoformat()}")

    def list_points(self, client: httpx.Client, user: UserProfile, data_type: str, filter_: str) -> list[Any]:
        """Every data point of ``data_type`` matching ``filter_``, following page tokens to the end."""
        from hr_assets.settings import get_settings

        url = f"{get_settings().google_health_api_url.rstrip('/')}/v4/users/me/dataTypes/{data_type}/dataPoints"
        points: list[Any] = []
        token = ""
        for _ in range(MAX_PAGES):
            params = {"pageSize": str(PAGE_SIZE), "filter": filter_}
            if token:
                params["pageToken"] = token
            page = self._get(client, user, url, params)
            found = page.get("dataPoints", [])
            if not isinstance(found, list):
                raise SourceError(f"{data_type}: 'dataPoints' is not a list")
            points.extend(found)
            token = str(page.get("nextPageToken") or "")
            if not token:
                return points
        raise SourceError(f"{data_type}: more than {MAX_PAGES} pages for one day ({len(points)} points so far)")

    def _get(self, client: httpx.Client, user: UserProfile, url: str, params: Mapping[str, str]) -> dict[str, Any]:
        what = f"{url.rsplit('/dataTypes/', 1)[-1].split('/')[0]} of {user.user_id}"
        refreshed = False
        for attempt in range(1, MAX_ATTEMPTS + 1):
            access_token = self._access_token(user.user_id)
            try:
                response = client.get(url, params=params, headers={"Authorization": f"Bearer {access_token}"})
            except httpx.TransportError as exc:
                if attempt == MAX_ATTEMPTS:
                    raise TransientSourceError(f"{what}: the API is unreachable ({type(exc).__name__})") from None
                self._sleep(_backoff(attempt))
                continue
            status = response.status_code
            if status == 200:
                try:
                    body = response.json()
                except ValueError:
                    raise SourceError(f"{what}: the API's answer is not JSON") from None
                if not isinstance(body, dict):
                    raise SourceError(f"{what}: the API's answer is not a JSON object")
                return body
            if status == 401 and not refreshed:
                self._forget_access_token(user.user_id)  # expired early or revoked: one refresh decides
                refreshed = True
                continue
            if status == 401:
                detail = f"401 with a fresh access token: {_google_message(response)}"
                raise google_oauth.GrantRevoked(user.user_id, detail)
            if status == 403:
                raise SourceError(
                    f"{what}: permission denied ({_google_message(response)}); "
                    f"{google_oauth.reconnect_hint(user.user_id)} and allow access to health metrics"
                )
            if status == 410:
                raise FitbitApiGone(
                    f"{what}: 410 Gone from {url}: the Fitbit Web API was turned off on 2026-11-02; this source reads "
                    "the Google Health API v4 (check HR_GOOGLE_HEALTH_API_URL)"
                )
            if status == 429 or status >= 500:
                delay = retry_delay(response, attempt)
                if attempt == MAX_ATTEMPTS or delay > MAX_RETRY_AFTER_S:
                    raise TransientSourceError(
                        f"{what}: {_google_message(response)} after {attempt} attempt(s); retried later"
                    )
                log.info("%s: %s, retrying in %.1f s", what, status, delay)
                self._sleep(delay)
                continue
            raise SourceError(f"{what}: {_google_message(response)}")
        raise TransientSourceError(f"{what}: no answer after {MAX_ATTEMPTS} attempts")

    # --- access tokens, in memory ---------------------------------------------------------

    def _session(self, user_id: str) -> _Session:
        with self._sessions_lock:
            return self._sessions.setdefault(user_id, _Session())

    def _forget_access_token(self, user_id: str) -> None:
        self._session(user_id).tokens = None

    def _access_token(self, user_id: str) -> str:
        session = self._session(user_id)
        with session.lock:
            tokens = session.tokens
            if tokens is None or tokens.expires_at - time.monotonic() < REFRESH_MARGIN_S:
                tokens = session.tokens = self._refresh(user_id)
            return tokens.access_token

    def _refresh(self, user_id: str) -> google_oauth.Tokens:
        from hr_assets.resources import resolve_database_url
        from hr_assets.warehouse.db import connection
        from hr_assets.warehouse.tokens import load_grant, record_grant_refused, save_grant

        url = resolve_database_url()
        with connection(url) as conn:
            grant = load_grant(conn, user_id)
        if grant is None:
            raise SourceError(f"{user_id} is not connected to the Google Health API: hr users connect {user_id}")
        if self._refused.get(user_id) == grant.refresh_token:
            raise google_oauth.GrantRevoked(user_id, "invalid_grant")
        try:
            tokens = google_oauth.refresh(google_oauth.OAuthClient.from_settings(), user_id, grant.refresh_token)
        except google_oauth.GrantRevoked:
            self._refused[user_id] = grant.refresh_token
            with connection(url) as conn:  # the study view's "needs reconnect since"
                record_grant_refused(conn, user_id)
            raise
        if tokens.refresh_token and tokens.refresh_token != grant.refresh_token:
            with connection(url) as conn:  # Google rotated it: the old one stops working
                save_grant(conn, user_id, tokens.refresh_token, list(tokens.scopes or grant.scopes), reconnect=False)
        return tokens
