"""``/metrics``: Prometheus' text format, from a registry of the app's own.

Each app has its own :class:`~prometheus_client.CollectorRegistry` (tests build many
apps in one process; the global one would refuse their second set of metrics). It
holds the jobs per status, read at each scrape from the counts the database's
triggers keep (no scan of the jobs table), the latency of the app's requests by
route template, the process's own figures, and, when ``collector serve`` runs
download workers in this process, their counters (:func:`worker_metrics`).
``/metrics`` answers under the API's rules (web/auth.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collector.models.job import STATUSES
from collector.repositories import JobRepository

if TYPE_CHECKING:  # the worker package brings yt-dlp, which a web-only app does without
    from collector.worker.metrics import WorkerMetrics

bp = Blueprint("metrics", __name__)

EXTENSION = "collector.metrics"
# Methods outside this set (clients may send any token) are counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
UNMATCHED = "unmatched"  # the route label of a request no route matched (404, 405)


class JobStatusCollector(Collector):
    """``collector_jobs{status=...}``: jobs per status, read when scraped."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self.counts = counts

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        counts = self.counts()
        for status in STATUSES:
            family.add_metric([status], counts.get(status, 0))
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("collector_jobs", "Jobs by status.", labels=["status"])


class AppMetrics:
    """The app's registry, its request latency, and its workers' metrics once asked for."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(JobStatusCollector(lambda: JobRepository().get_job_statistics()))
        ProcessCollector(registry=self.registry)
        self.requests = Histogram(
            "collector_http_request_duration_seconds",
            "Seconds to answer an HTTP request, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.workers: WorkerMetrics | None = None


def app_metrics(app: Flask) -> AppMetrics:
    return app.extensions[EXTENSION]


def worker_metrics(app: Flask) -> WorkerMetrics:
    """The job-run metrics of workers running in ``app``'s process, on its registry."""
    from collector.worker.metrics import WorkerMetrics

    metrics = app_metrics(app)
    if metrics.workers is None:
        metrics.workers = WorkerMetrics(metrics.registry)
    return metrics.workers


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        method = request.method if request.method in METHODS else "other"
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        app_metrics(current_app).requests.labels(
            method=method, route=route, status=str(response.status_code)
        ).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
def metrics() -> Response:
    """The text format, or OpenMetrics when the scraper's Accept header asks for it."""
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(app_metrics(current_app).registry), content_type=content_type)


def install(app: Flask) -> None:
    """The registry, ``/metrics``, and the timing of every request.

    Call before any other ``before_request``: a request the sign-in check answers
    (401, a redirect) is timed too.
    """
    app.extensions[EXTENSION] = AppMetrics()
    app.before_request(_start)
    app.after_request(_observe)
    app.register_blueprint(bp)
