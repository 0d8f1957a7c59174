"""Prometheus metrics of the API: requests and latency by route, the pool, and data freshness.

Series (the names the monitoring stack's panels and alerts use):
  hr_api_requests_total{method, route, status}           counter
  hr_api_request_duration_seconds{method, route}          histogram
  hr_api_db_pool_connections{state="in_use"|"idle"}       gauge
  hr_api_db_pool_max_connections, hr_api_db_pool_requests_waiting   gauges
  hr_api_database_up                                      gauge, 1 when the warehouse answered the scrape
  hr_api_info{version}                                    gauge, 1
  hr_user_active{user_id}                                 gauge, 1 per active user
  hr_user_newest_reading_timestamp_seconds{user_id}       gauge, per active user with readings
  hr_study_participant_flag{user_id, cohort, flag}        gauge, 1 per flag a participant raises (docs/study.md)
  hr_study_flagged_participants{cohort, flag}             gauge, flagged participants per cohort and flag
Each app has its own registry (several apps in one process, as in tests, do not collide).
With several workers (`hr api --workers`), prometheus-client's multiprocess mode sums the requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hr_assets.study import StudyRules, flagged_by_cohort, participant_statuses
from hr_assets.warehouse.db import ConnectionPool, WarehouseError
from hr_assets.warehouse.readings import user_extents
from hr_assets.warehouse.study import Scope as StudyScope

log = logging.getLogger(__name__)

# Request latency buckets (seconds): dashboard queries take milliseconds; the alert is on p95 > 0.5 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Paths that matched no route share one label, so probes of random paths cannot grow the series.
UNMATCHED_ROUTE = "unmatched"
# How long a scrape waits for a database connection before reporting the database down.
SCRAPE_WAIT_SECONDS = 2.0


class ApiMetrics:
    """The API's metrics. With several worker processes (``shared_dir``, PROMETHEUS_MULTIPROC_DIR) the
    request counters and histograms of all workers are added up at each scrape; the pool and data
    gauges are those of the worker that answers."""

    def __init__(
        self, pool: ConnectionPool, version: str, shared_dir: Path | None = None, study_rules: StudyRules | None = None
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.scrape_registry = self.registry
        if shared_dir is not None:
            self.scrape_registry = CollectorRegistry()
            MultiProcessCollector(self.scrape_registry, path=str(shared_dir))  # type: ignore[no-untyped-call]
        self.requests = Counter(
            "hr_api_requests",
            "API requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hr_api_request_duration_seconds",
            "API request latency by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scrape_registry.register(_WarehouseCollector(pool, version, study_rules))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class _WarehouseCollector(Collector):
    """Pool figures and, read at scrape time from the load records, each active user's newest reading."""

    def __init__(self, pool: ConnectionPool, version: str, study_rules: StudyRules | None = None) -> None:
        self._pool = pool
        self._version = version
        self._study_rules = study_rules

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily("hr_api_info", "The API's version.", labels=["version"])
        info.add_metric([self._version], 1)
        yield info
        stats = self._pool.stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        connections = GaugeMetricFamily("hr_api_db_pool_connections", "Pool connections.", labels=["state"])
        connections.add_metric(["in_use"], size - idle)
        connections.add_metric(["idle"], idle)
        yield connections
        yield GaugeMetricFamily("hr_api_db_pool_max_connections", "Pool size limit.", value=stats["pool_max"])
        yield GaugeMetricFamily(
            "hr_api_db_pool_requests_waiting",
            "Requests waiting for a connection.",
            value=stats.get("requests_waiting", 0),
        )
        yield from self._freshness()

    def _freshness(self) -> Iterator[Metric]:
        active = GaugeMetricFamily("hr_user_active", "1 for each active (not retired) user.", labels=["user_id"])
        newest = GaugeMetricFamily(
            "hr_user_newest_reading_timestamp_seconds",
            "Time of the newest reading loaded for each active user (Unix seconds).",
            labels=["user_id"],
        )
        try:
            with self._pool.connection(wait_seconds=SCRAPE_WAIT_SECONDS) as conn:
                extents = user_extents(conn)
            up = 1
        except WarehouseError as exc:
            log.warning("metrics: warehouse unavailable: %s", exc)
            extents, up = {}, 0
        yield GaugeMetricFamily("hr_api_database_up", "1 when the warehouse answered this scrape.", value=up)
        for extent in extents.values():
            if extent.retired_at is not None:
                continue
            active.add_metric([extent.user_id], 1)
            if extent.last_reading is not None:
                newest.add_metric([extent.user_id], extent.last_reading.timestamp())
        yield active
        yield newest
        if up and self._study_rules is not None:
            yield from self._study_flags(self._study_rules)

    def _study_flags(self, rules: StudyRules) -> Iterator[Metric]:
        """The study view's flags (the participants of every cohort; retired ones raise none)."""
        participant = GaugeMetricFamily(
            "hr_study_participant_flag",
            "1 for each flag a participant raises: no_valid_day, no_data, needs_reconnect.",
            labels=["user_id", "cohort", "flag"],
        )
        counts = GaugeMetricFamily(
            "hr_study_flagged_participants", "Participants raising each flag, per cohort.", labels=["cohort", "flag"]
        )
        try:
            with self._pool.connection(wait_seconds=SCRAPE_WAIT_SECONDS) as conn:
                statuses = participant_statuses(conn, StudyScope(True, frozenset()), rules, datetime.now(UTC))
        except WarehouseError as exc:
            log.warning("metrics: study flags unavailable: %s", exc)
            return
        for status in statuses:
            for flag in status.flags:
                participant.add_metric([status.user_id, status.cohort or "", flag], 1)
        for cohort, by_flag in flagged_by_cohort(statuses).items():
            for flag, user_ids in by_flag.items():
                counts.add_metric([cohort or "", flag], len(user_ids))
        yield participant
        yield counts


class MetricsMiddleware:
    """Counts and times every request under its route template (``/users/{user_id}``, not the id)."""

    def __init__(self, app: ASGIApp, metrics: Callable[[], ApiMetrics]) -> None:
        self.app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._metrics().observe(scope["method"], _route(scope), status, time.perf_counter() - started)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else UNMATCHED_ROUTE
