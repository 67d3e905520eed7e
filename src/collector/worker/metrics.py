"""The worker's Prometheus metrics: how job runs end and why, bytes, queue wait, duration.

A :class:`WorkerMetrics` registers its counters and histograms on the registry it is
given: the web app's (``collector serve`` runs its workers in its own process), or one
that ``collector worker --metrics-port`` serves. Labels are few and fixed: ``outcome``
is what :meth:`JobRun.run <collector.worker.job_run.JobRun.run>` returned and ``cause``
one of :data:`CAUSES`, never an error's text.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from yt_dlp.networking.exceptions import (
    CertificateVerifyError,
    HTTPError,
)
from yt_dlp.utils import DownloadError, ExtractorError, UnsupportedError

from collector.models.job import Job

from .engine import RETRYABLE, DownloadResult
from .errors import DownloadFailed, DownloadRefused
from .storage import STORAGE_ERRNOS, storage_error

# Why a run failed or will be retried. "none" for runs that did not end in an error.
CAUSES = (
    "none",
    "http_403",
    "http_404",
    "http_429",
    "http_4xx",  # any other 4xx
    "http_5xx",
    "timeout",
    "tls",  # the certificate or the TLS handshake
    "network",  # refused, reset, unresolvable, or the body cut short
    "refused",  # the outbound policy: an internal address nobody allowed
    "unsupported",  # no extractor takes the URL
    "extractor",  # an extractor could not read the page
    "storage",  # the download folder: full, read-only, not permitted
    "other",  # a download error none of the above describes
    "internal",  # not a download error at all: a bug, see the log
)
# Outcomes that are not failures: they carry cause="none" whatever stopped the download
# (a cancel cuts the connection, which yt-dlp reports as a network error).
NO_CAUSE_OUTCOMES = frozenset({"completed", "cancelled", "released", "lost"})
MAX_CHAIN = 10

QUEUE_WAIT_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
DURATION_BUCKETS = (0.5, 1, 2.5, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)


class WorkerMetrics:
    """Counters and histograms of job runs, on ``registry``; safe to share between slots."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.finished = Counter(
            "collector_jobs_finished",
            "Job runs by how they ended (outcome) and why they failed or will be retried (cause).",
            ["outcome", "cause"],
            registry=self.registry,
        )
        self.bytes = Counter(
            "collector_downloaded_bytes",
            "Bytes fetched by downloads that completed.",
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "collector_queue_wait_seconds",
            "Seconds from when a job could first be claimed (created_at, or next_attempt_at "
            "for an automatic retry) to its claim.",
            buckets=QUEUE_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.duration = Histogram(
            "collector_download_duration_seconds",
            "Seconds from the start of a job's download to its recorded outcome.",
            ["outcome"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )

    def job_started(self, job: Job) -> float:
        """Record the claimed job's queue wait; the start time to give :meth:`job_ended`."""
        self.queue_wait.observe(queue_wait(job))
        return time.monotonic()

    def job_ended(
        self,
        job: Job,
        outcome: str,
        started: float,
        error: BaseException | None = None,
        result: DownloadResult | None = None,
    ) -> None:
        """Count a run of ``job`` that ended in ``outcome`` (and ``error``, if it raised)."""
        cause = "none" if outcome in NO_CAUSE_OUTCOMES or error is None else classify(error)
        self.finished.labels(outcome=outcome, cause=cause).inc()
        self.duration.labels(outcome=outcome).observe(max(0.0, time.monotonic() - started))
        if outcome == "completed" and result is not None:
            self.bytes.inc(max(0, result.bytes_downloaded))


def queue_wait(job: Job) -> float:
    """Seconds the claimed ``job`` waited: from created_at or its next_attempt_at.

    The claim stamps ``updated_at``. A job handed back (shutdown, expired lease) or
    retried by hand counts from ``created_at`` too: the row keeps no time it re-entered
    the queue.
    """
    ready: datetime = max(job.created_at, job.next_attempt_at or job.created_at)
    return max(0.0, (job.updated_at - ready).total_seconds())


def classify(error: BaseException) -> str:
    """The cause (one of :data:`CAUSES`) of a run's error, from the exceptions behind it.

    The most telling exception anywhere in the chain wins: an HTTP status over the
    transport error that carries it, a timeout over the connection error around it.
    """
    if not isinstance(error, DownloadFailed):
        # yt-dlp raises some write errors as UnavailableVideoError, the OSError its context
        return "storage" if storage_error(error) else "internal"
    if isinstance(error, DownloadRefused):
        return "refused"
    chain = _chain(error.__cause__)
    for cause, matches in RULES:
        if any(matches(item) for item in chain):
            return cause if cause != "http" else _http(chain)
    # yt-dlp reports what its downloader gave up retrying (a short read, a dropped
    # connection) as text only: engine.py marks it transient.
    return "network" if error.transient else "other"


def _chain(error: BaseException | None) -> list[BaseException]:
    """``error`` and the exceptions behind it (yt-dlp's exc_info and cause, __cause__)."""
    chain: list[BaseException] = []
    while error is not None and len(chain) < MAX_CHAIN and error not in chain:
        chain.append(error)
        if isinstance(error, DownloadError) and error.exc_info and error.exc_info[1]:
            error = error.exc_info[1]
            continue
        cause = getattr(error, "cause", None)
        error = cause if isinstance(cause, BaseException) else error.__cause__
    return chain


def _http(chain: list[BaseException]) -> str:
    status = next(item.status for item in chain if isinstance(item, HTTPError))
    if status in (403, 404, 429):
        return f"http_{status}"
    return "http_5xx" if status >= 500 else "http_4xx"


def _storage(error: BaseException) -> bool:
    """The folder full or unwritable: the errors that hand a job back (worker/storage.py)."""
    return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS


# In order: the first rule that matches any exception of the chain names the cause.
RULES: tuple[tuple[str, Callable[[BaseException], bool]], ...] = (
    ("http", lambda e: isinstance(e, HTTPError)),
    ("tls", lambda e: isinstance(e, CertificateVerifyError | ssl.SSLError)),
    ("timeout", lambda e: isinstance(e, TimeoutError)),
    ("unsupported", lambda e: isinstance(e, UnsupportedError)),
    ("storage", _storage),
    # After "timeout": the errors the engine retries are the network's (engine.RETRYABLE).
    ("network", lambda e: isinstance(e, RETRYABLE)),
    ("extractor", lambda e: isinstance(e, ExtractorError)),
)
