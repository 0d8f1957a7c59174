"""A local stand-in for the Google Health API v4 and Google's OAuth 2.0 endpoints, on 127.0.0.1.

Implements what the ``google_health`` source uses, with the documented request and answer
shapes (see the source's module docstring for the pages):

* ``GET /o/oauth2/v2/auth``: the consent page. Checks the client and its redirect: the *Desktop app*
  client (:data:`CLIENT_ID`) takes any loopback ``redirect_uri``, the *Web application* client
  (:data:`WEB_CLIENT_ID`) only one of its authorised redirect URIs (:attr:`GoogleFake.web_redirect_uris`,
  compared exactly, as Google does: ``redirect_uri_mismatch`` otherwise); then
  ``response_type=code``, a scope, an S256 ``code_challenge``; then, as if the signed-in account
  (:attr:`GoogleFake.consenting_account`) clicked *Allow*, redirects (302) to
  ``redirect_uri?code=…&scope=…&state=…`` (or ``error=access_denied`` when told to refuse).
* ``POST /token``: ``authorization_code`` (single-use code, same client and redirect URI, PKCE
  verifier checked against the challenge) and ``refresh_token``; ``invalid_grant`` for a revoked or
  unknown refresh token, ``invalid_client`` for wrong client credentials, ``unauthorized_client``
  for a refresh token of another client.
* ``POST /revoke``: revokes the grant a refresh or access token belongs to; 400
  ``invalid_token`` when the token is unknown or revoked already.
* ``GET /v4/users/me/dataTypes/{heart-rate|daily-resting-heart-rate|daily-heart-rate-zones}/dataPoints``
  with ``pageSize`` (default 1440, at most 10000, larger values truncated), ``pageToken``
  (opaque, valid only for the same data type and filter) and ``filter`` (AIP-160 comparisons
  ``>=``/``<`` on ``heart_rate.sample_time.physical_time`` (RFC 3339),
  ``heart_rate.sample_time.civil_time`` or ``<daily type>.date`` (ISO dates), joined by
  ``AND``); points newest first; 401 ``UNAUTHENTICATED`` without a valid access token.
* ``/1/...`` (the legacy Fitbit Web API): 410 Gone.

Faults on demand: :meth:`GoogleFake.fail_next` makes the next matching API requests answer
429 (with ``Retry-After``), 500, 401, … in Google's error format; :meth:`GoogleFake.revoke`
revokes an account's grant as the user would from their Google account page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

CLIENT_ID = "1234-fake.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-fake-client-secret"
WEB_CLIENT_ID = "5678-fake-web.apps.googleusercontent.com"
WEB_CLIENT_SECRET = "GOCSPX-fake-web-client-secret"
_CLIENT_SECRETS = {CLIENT_ID: CLIENT_SECRET, WEB_CLIENT_ID: WEB_CLIENT_SECRET}
SCOPE = "https://www.googleapis.com/auth/googlehealth.health_metrics_and_measurements.readonly"
DEFAULT_PAGE_SIZE = 1440
MAX_PAGE_SIZE = 10_000
DATA_TYPES = {
    "heart-rate": "heartRate",
    "daily-resting-heart-rate": "dailyRestingHeartRate",
    "daily-heart-rate-zones": "dailyHeartRateZones",
}
_CLAUSE = re.compile(r'^\s*([a-z_.]+)\s*(>=|<)\s*"([^"]*)"\s*$')
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 410: "GONE"}
_STATUS.update({429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"})


def _rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _civil(moment: datetime) -> dict[str, Any]:
    return {
        "date": {"year": moment.year, "month": moment.month, "day": moment.day},
        "time": {"hours": moment.hour, "minutes": moment.minute, "seconds": moment.second},
    }


def heart_rate_point(instant: datetime, bpm: int | str, timezone: str = "UTC") -> dict[str, Any]:
    """A ``heart-rate`` data point as the API lists it (bpm an int64, so a JSON string)."""
    local = instant.astimezone(ZoneInfo(timezone))
    offset = local.utcoffset() or timedelta()
    return {
        "dataSource": {"recordingMethod": "PASSIVELY_MEASURED", "device": {"formFactor": "WATCH"}},
        "heartRate": {
            "beatsPerMinute": str(bpm),
            "sampleTime": {
                "physicalTime": _rfc3339(instant),
                "utcOffset": f"{int(offset.total_seconds())}s",
                "civilTime": _civil(local),
            },
            "metadata": {"motionContext": "SEDENTARY", "sensorLocation": "WRIST"},
        },
    }


def _date(day: date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


def resting_heart_rate_point(day: date, bpm: int | str) -> dict[str, Any]:
    return {
        "dailyRestingHeartRate": {
            "date": _date(day),
            "beatsPerMinute": str(bpm),
            "dailyRestingHeartRateMetadata": {"calculationMethod": "WITH_SLEEP"},
        }
    }


def heart_rate_zones_point(day: date, limits: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """``limits``: zone type (LIGHT, MODERATE, VIGOROUS, PEAK) -> (min, max) bpm."""
    zones = [
        {"heartRateZoneType": kind, "minBeatsPerMinute": str(low), "maxBeatsPerMinute": str(high)}
        for kind, (low, high) in limits.items()
    ]
    return {"dailyHeartRateZones": {"date": _date(day), "heartRateZones": zones}}


def _sort_key(point: dict[str, Any]) -> str:
    if "heartRate" in point:
        return str(point["heartRate"]["sampleTime"]["physicalTime"])
    record = next(iter(v for k, v in point.items() if k.startswith("daily")))
    day = record["date"]
    return f"{day['year']:04d}-{day['month']:02d}-{day['day']:02d}"


@dataclass
class Account:
    """A Google account with health data; its points by data type, in any order."""

    points: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in DATA_TYPES})


@dataclass(frozen=True)
class Fault:
    status: int
    path_contains: str
    retry_after: str | None


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    authorization: str | None


@dataclass
class _Grant:
    account: str
    scope: str
    refresh_token: str
    client_id: str
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    revoked: bool = False


class GoogleFake:
    """The fake's state; serve it with :func:`serving`."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.consenting_account = ""
        self.refuse_consent = False
        self.granted_scope = SCOPE  # what the consenting user ticks
        self.web_redirect_uris: set[str] = set()  # the web client's authorised redirect URIs
        self.access_token_lifetime_s = 3599
        self.requests: list[Recorded] = []
        self.issued: list[str] = []  # every token handed out, to look for leaks
        self.url = ""
        self._faults: list[Fault] = []
        self._codes: dict[str, dict[str, str]] = {}
        self._grants: list[_Grant] = []
        self._lock = threading.Lock()

    # --- what tests set up ------------------------------------------------------------------

    def account(self, name: str) -> Account:
        return self.accounts.setdefault(name, Account())

    def fail_next(
        self, status: int, times: int = 1, *, path_contains: str = "/v4/", retry_after: str | None = None
    ) -> None:
        """The next ``times`` requests whose path contains ``path_contains`` answer ``status``."""
        with self._lock:
            self._faults += [Fault(status, path_contains, retry_after)] * times

    def revoke(self, account: str) -> None:
        """The user revokes access in their Google account: every grant of ``account`` stops working."""
        with self._lock:
            for grant in self._grants:
                if grant.account == account:
                    grant.revoked = True

    def expire_access_tokens(self) -> None:
        with self._lock:
            for grant in self._grants:
                grant.access_tokens = dict.fromkeys(grant.access_tokens, 0.0)

    def live_grants(self, account: str) -> int:
        return sum(1 for g in self._grants if g.account == account and not g.revoked)

    def api_requests(self, data_type: str | None = None) -> list[Recorded]:
        return [
            r for r in self.requests if "/dataPoints" in r.path and (data_type is None or f"/{data_type}/" in r.path)
        ]

    # --- OAuth --------------------------------------------------------------------------------

    def _new_token(self, prefix: str) -> str:
        token = f"{prefix}{secrets.token_urlsafe(24)}"
        self.issued.append(token)
        return token

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        problems = []
        client = query.get("client_id", "")
        if client not in _CLIENT_SECRETS:
            problems.append("invalid_client")
        redirect = query.get("redirect_uri", "")
        if client == WEB_CLIENT_ID:
            allowed = redirect in self.web_redirect_uris
        else:
            allowed = re.fullmatch(r"http://127\.0\.0\.1:\d+/", redirect) is not None
        if not allowed:
            problems.append("redirect_uri_mismatch")
        if query.get("response_type") != "code" or not query.get("scope"):
            problems.append("invalid_request")
        if query.get("code_challenge_method") != "S256" or len(query.get("code_challenge", "")) != 43:
            problems.append("invalid_request: PKCE S256 required")
        if problems:
            return 400, {"Content-Type": "text/html"}, f"Error 400: {', '.join(problems)}".encode()
        if self.refuse_consent:
            answer = {"error": "access_denied", "state": query.get("state", "")}
        else:
            code = f"4/{secrets.token_urlsafe(16)}"
            with self._lock:
                self._codes[code] = {
                    "client_id": client,
                    "account": self.consenting_account,
                    "challenge": query["code_challenge"],
                    "redirect_uri": redirect,
                    "scope": self.granted_scope,
                }
            answer = {"code": code, "scope": self.granted_scope, "state": query.get("state", "")}
        return 302, {"Location": f"{redirect}?{urllib.parse.urlencode(answer)}"}, b""

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        client = form.get("client_id", "")
        if client not in _CLIENT_SECRETS or form.get("client_secret") != _CLIENT_SECRETS[client]:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        with self._lock:
            if form.get("grant_type") == "authorization_code":
                issued = self._codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                same_client = issued is not None and issued["client_id"] == client
                if issued is None or not same_client or issued["redirect_uri"] != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
                if challenge != issued["challenge"]:
                    return 400, {"error": "invalid_grant", "error_description": "Invalid code verifier."}
                grant = _Grant(issued["account"], issued["scope"], self._new_token("1//fake-refresh-"), client)
                self._grants.append(grant)
                answer = self._access(grant)
                return 200, {**answer, "refresh_token": grant.refresh_token, "refresh_token_expires_in": 604799}
            if form.get("grant_type") == "refresh_token":
                grant = next((g for g in self._grants if g.refresh_token == form.get("refresh_token")), None)
                if grant is None or grant.revoked:
                    return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
                if grant.client_id != client:
                    return 401, {"error": "unauthorized_client", "error_description": "Unauthorized"}
                return 200, self._access(grant)
        return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}

    def _access(self, grant: _Grant) -> dict[str, Any]:
        access = self._new_token("ya29.fake-access-")
        grant.access_tokens[access] = time.monotonic() + self.access_token_lifetime_s
        return {
            "access_token": access,
            "expires_in": self.access_token_lifetime_s,
            "scope": grant.scope,
            "token_type": "Bearer",
        }

    def revoke_token(self, token: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            for grant in self._grants:
                if not grant.revoked and (token == grant.refresh_token or token in grant.access_tokens):
                    grant.revoked = True
                    return 200, {}
        return 400, {"error": "invalid_token", "error_description": "Token expired or revoked"}

    # --- the Health API -----------------------------------------------------------------------

    def _bearer_account(self, authorization: str | None) -> str | None:
        token = (authorization or "").removeprefix("Bearer ")
        with self._lock:
            for grant in self._grants:
                expiry = grant.access_tokens.get(token)
                if expiry is not None and not grant.revoked and expiry > time.monotonic():
                    return grant.account
        return None

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path_contains in path:
                    return self._faults.pop(index)
        return None

    def data_points(
        self, path: str, query: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if path.startswith("/1/"):
            return 410, {}, _error(410, "The Fitbit Web API has been turned off.")
        fault = self._take_fault(path)
        if fault is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return fault.status, headers, _error(fault.status, "injected fault")
        match = re.fullmatch(r"/v4/users/me/dataTypes/([a-z-]+)/dataPoints", path)
        if match is None:
            return 404, {}, _error(404, f"no such resource {path}")
        account = self._bearer_account(authorization)
        if account is None:
            message = "Request had invalid authentication credentials. Expected OAuth 2 access token."
            return 401, {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}, _error(401, message)
        data_type = match[1]
        if data_type not in DATA_TYPES:
            return 400, {}, _error(400, f"unsupported data type {data_type}")
        try:
            size = int(query.get("pageSize") or DEFAULT_PAGE_SIZE)
            matches = self._filter(data_type, query.get("filter", ""))
        except ValueError as exc:
            return 400, {}, _error(400, str(exc))
        if size < 0:
            return 400, {}, _error(400, "pageSize must not be negative")
        size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        selected = sorted(
            (p for p in self.account(account).points[data_type] if matches(p)), key=_sort_key, reverse=True
        )
        bound = hashlib.sha256(f"{data_type}|{query.get('filter', '')}".encode()).hexdigest()[:16]
        start = 0
        if query.get("pageToken"):
            try:
                token_bound, offset = base64.urlsafe_b64decode(query["pageToken"]).decode().split(":")
                start = int(offset)
            except ValueError:
                return 400, {}, _error(400, "invalid page token")
            if token_bound != bound:
                return 400, {}, _error(400, "page token does not belong to this query")
        page = selected[start : start + size]
        body: dict[str, Any] = {"dataPoints": page}
        if start + size < len(selected):
            body["nextPageToken"] = base64.urlsafe_b64encode(f"{bound}:{start + size}".encode()).decode()
        return 200, {}, body

    def _filter(self, data_type: str, expression: str) -> Any:
        """A predicate for ``expression``; ValueError (400 in the API) for what the list method refuses."""
        snake = data_type.replace("-", "_")
        allowed = (
            {f"{snake}.sample_time.physical_time", f"{snake}.sample_time.civil_time"}
            if data_type == "heart-rate"
            else {f"{snake}.date"}
        )
        checks = []
        for clause in filter(None, re.split(r"\s+AND\s+", expression.strip())):
            found = _CLAUSE.match(clause)
            if found is None or found[1] not in allowed:
                raise ValueError(f"invalid filter clause {clause!r} for {data_type}")
            name, op, literal = found[1], found[2], found[3]
            value = _literal(name, literal)
            checks.append((name, op, value))

        def matches(point: dict[str, Any]) -> bool:
            for name, op, value in checks:
                got = _field(point, name)
                if not (got >= value if op == ">=" else got < value):
                    return False
            return True

        return matches


def _literal(name: str, literal: str) -> Any:
    if name.endswith("physical_time"):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", literal):
            raise ValueError(f"timestamp literal expected in RFC-3339 format: {literal!r}")
        return datetime.fromisoformat(literal.replace("Z", "+00:00"))
    if name.endswith("civil_time"):
        return datetime.fromisoformat(literal if "T" in literal else f"{literal}T00:00:00")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", literal):
        raise ValueError(f"date literal expected in YYYY-MM-DD format: {literal!r}")
    return date.fromisoformat(literal)


def _field(point: dict[str, Any], name: str) -> Any:
    if name.endswith("physical_time"):
        return datetime.fromisoformat(point["heartRate"]["sampleTime"]["physicalTime"].replace("Z", "+00:00"))
    if name.endswith("civil_time"):
        civil = point["heartRate"]["sampleTime"]["civilTime"]
        d, t = civil["date"], civil["time"]
        return datetime(d["year"], d["month"], d["day"], t["hours"], t["minutes"], t["seconds"])
    return date.fromisoformat(_sort_key(point))


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def _handler(fake: GoogleFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _record(self, form: dict[str, str]) -> tuple[str, dict[str, str]]:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            with fake._lock:
                fake.requests.append(Recorded(self.command, url.path, query, form, self.headers.get("Authorization")))
            return url.path, query

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send(
                status,
                {"Content-Type": "application/json; charset=UTF-8", **(headers or {})},
                json.dumps(body).encode(),
            )

        def do_GET(self) -> None:
            path, query = self._record({})
            if path == "/o/oauth2/v2/auth":
                status, headers, body = fake.authorize(query)
                self._send(status, headers, body)
                return
            status, headers, answer = fake.data_points(path, query, self.headers.get("Authorization"))
            self._json(status, answer, headers)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            path, query = self._record(form)
            if path == "/token":
                self._json(*fake.token(form))
            elif path == "/revoke":
                self._json(*fake.revoke_token(form.get("token") or query.get("token", "")))
            else:
                self._json(404, _error(404, f"no such resource {path}"))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serving(fake: GoogleFake | None = None) -> Iterator[GoogleFake]:
    """Serve ``fake`` (a new one by default) on 127.0.0.1 and a free port while the block runs."""
    fake = fake or GoogleFake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="google-fake")
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
