"""Prometheus metrics of an API process (``GET /metrics``).

Process metrics are module-level objects so any part of the server can update
them (the webhook dispatcher increments ``WEBHOOK_DELIVERIES``). Figures that
belong to the whole deployment (jobs per state, task durations) are read from the
store at scrape time by ``StoreCollector``, so every API server reports the same
values whichever one is scraped.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.store import Store

__all__ = [
    "EVENT_SUBSCRIBERS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "JOBS_SUBMITTED",
    "WEBHOOK_DELIVERIES",
    "WEBHOOK_DELIVERY_SECONDS",
    "MetricsMiddleware",
    "StoreCollector",
]

HTTP_REQUESTS = Counter(
    "conveyor_http_requests_total",
    "HTTP requests served, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "conveyor_http_request_duration_seconds",
    "Time to serve an HTTP request (event streams excluded), by method and route template",
    ["method", "route"],
)
JOBS_SUBMITTED = Counter(
    "conveyor_jobs_submitted_total", "Jobs created through this API server", ["identifier"]
)
EVENT_SUBSCRIBERS = Gauge(
    "conveyor_event_subscribers", "Clients following job events (SSE and WebSocket) right now"
)
#: Incremented by the webhook dispatcher (conveyor.notify): one per delivery attempt.
WEBHOOK_DELIVERIES = Counter(
    "conveyor_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, retry, failed, ...)",
    ["outcome"],
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "conveyor_webhook_delivery_duration_seconds", "Time of one webhook delivery attempt"
)

_STREAM_ROUTES = frozenset({"/jobs/{job_id}/events"})
_QUANTILES = (0.5, 0.9, 0.99)


class StoreCollector(Collector):
    """Queue depth per state and recent task durations, read from the store per scrape."""

    def __init__(self, store: Store, recent: int = 1000) -> None:
        self.store = store
        self.recent = recent

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("conveyor_jobs", "Jobs in the database by state", labels=["state"])
        for state, count in self.store.count_jobs_by_state().items():
            jobs.add_metric([state.value], count)
        yield jobs
        by_task: dict[str, list[float]] = defaultdict(list)
        for identifier, seconds in self.store.recent_task_durations(self.recent):
            by_task[identifier].append(seconds)
        durations = GaugeMetricFamily(
            "conveyor_task_duration_seconds",
            f"Quantiles of the successful attempt's duration over the last {self.recent} "
            "completed tasks, by task identifier",
            labels=["identifier", "quantile"],
        )
        for identifier, values in sorted(by_task.items()):
            values.sort()
            for q in _QUANTILES:
                index = min(len(values) - 1, int(q * len(values)))
                durations.add_metric([identifier, str(q)], values[index])
            durations.add_metric([identifier, "mean"], statistics.fmean(values))
        yield durations


def store_registry(store: Store) -> CollectorRegistry:
    """A registry holding only this app's store collector (the default one has the rest)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    return registry


class MetricsMiddleware:
    """Counts and times HTTP requests by route template (ASGI middleware: streams pass
    through untouched, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].endswith("/events"):  # a stream: counted, not wrapped per chunk
            try:
                await self.app(scope, receive, send)
            finally:
                HTTP_REQUESTS.labels(scope["method"], _route(scope), "stream").inc()
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route(scope)
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(method, route, str(status["code"])).inc()
            if route not in _STREAM_ROUTES:
                HTTP_REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)


def _route(scope: Scope) -> str:
    return getattr(scope.get("route"), "path", None) or "unmatched"
