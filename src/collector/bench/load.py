"""The load run: writers, readers and workers on one database, and what was lost.

``collector bench load`` starts ``collector serve --workers 0`` and N ``collector
worker`` processes on a new database, a loopback media server for them to download
from, and threads in this process that queue URLs (POST /api/jobs) and read the
dashboard and API for ``seconds``. Then it stops the fleet with SIGTERM (running
jobs go back to the queue) and checks the database: every job the API
acknowledged is there, none is left running, the statistics equal a GROUP BY, the
integrity check passes, and no clip was downloaded twice. It reports requests per
second, p50/p99 per kind, 5xx answers and "database is locked" in any log.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .fleet import Fleet, request
from .loopback import LoopbackMedia
from .timing import percentile

READ_PATHS = (
    "/",
    "/api/jobs?limit=50",
    "/api/stats",
    "/jobs?status=active",
    "/api/jobs?status=failed",
)
# A download is one GET to look at the headers and one to fetch; a third or more
# means the clip was fetched again (a retry, or two workers on one job).
GETS_PER_DOWNLOAD = 2


@dataclass(frozen=True)
class LoadOptions:
    """The shape of a load run."""

    seconds: float = 60.0
    workers: int = 3
    writers: int = 2
    readers: int = 4
    write_rate: float = 140.0  # jobs per second over all writers; 0: as fast as they can
    clip_bytes: int = 64_000


@dataclass
class Samples:
    """Latency and status of every request of one kind."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # no HTTP answer at all (connection refused or reset)

    def add(self, started: float, status: int) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.statuses[status] += 1

    def summary(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "requests": len(ordered),
            "per_second": round(len(ordered) / seconds, 1),
            "p50_ms": round(statistics.median(ordered), 2) if ordered else None,
            "p99_ms": round(percentile(ordered, 0.99), 2) if ordered else None,
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "5xx": sum(count for code, count in self.statuses.items() if code >= 500),
            "no_answer": self.errors,
        }


class _Client:
    """A keep-alive connection to the fleet's web app, reopened after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, samples: Samples, method: str, path: str, body: Any = None) -> bytes | None:
        started = time.perf_counter()
        try:
            status, payload = request(self.port, method, path, body, self.conn)
        except (OSError, http.client.HTTPException):
            samples.errors += 1
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return None
        samples.add(started, status)
        return payload if status < 300 else None


def run_load(
    folder: Path,
    options: LoadOptions,
    progress: Callable[[str], None] = lambda _: None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """One load run in ``folder`` (a new SQLite database there, or the server database
    ``database_url`` names); every figure as a dict."""
    folder.mkdir(parents=True, exist_ok=True)
    media = LoopbackMedia(size=options.clip_bytes).start()
    fleet = Fleet(folder, database_url or folder / "collector.db")
    try:
        port = fleet.serve(workers=0)
        for number in range(options.workers):
            fleet.worker(f"worker-{number}")
        progress(f"fleet up: serve on port {port}, {options.workers} worker(s)")
        writes, reads, acked = _drive(port, media, options)
        progress("stopping the fleet (SIGTERM)")
    finally:
        exit_codes = fleet.stop()
        media.stop()
    checks = _check(fleet, acked, media)
    return {
        "engine": fleet.engine(),
        "options": asdict(options),
        "writes": writes.summary(options.seconds),
        "reads": reads.summary(options.seconds),
        "acknowledged_jobs": len(acked),
        "database_is_locked_logged": fleet.logged("database is locked"),
        "tracebacks_logged": fleet.logged("Traceback"),
        "exit_codes": exit_codes,
        **checks,
    }


def _drive(port: int, media: LoopbackMedia, options: LoadOptions) -> tuple[Samples, Samples, set]:
    writes, reads = Samples(), Samples()
    acked: set[str] = set()
    lock = threading.Lock()
    deadline = time.monotonic() + options.seconds
    interval = options.writers / options.write_rate if options.write_rate > 0 else 0.0

    def writer(number: int) -> None:
        client, sent = _Client(port), 0
        started = time.monotonic()
        while time.monotonic() < deadline:
            payload = client.call(
                writes, "POST", "/api/jobs", {"url": media.url(f"w{number}-{sent}")}
            )
            sent += 1
            if payload is not None:
                with lock:
                    acked.add(json.loads(payload)["id"])
            if interval:
                time.sleep(max(0.0, started + sent * interval - time.monotonic()))

    def reader(number: int) -> None:
        client, turn = _Client(port), number
        while time.monotonic() < deadline:
            client.call(reads, "GET", READ_PATHS[turn % len(READ_PATHS)])
            turn += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(options.writers)]
    threads += [threading.Thread(target=reader, args=(n,)) for n in range(options.readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return writes, reads, acked


def _check(fleet: Fleet, acked: set[str], media: LoopbackMedia) -> dict[str, Any]:
    """What the database holds after the run, against what the API acknowledged."""
    statuses = fleet.statuses()
    fetched_again = sum(1 for count in media.gets.values() if count > GETS_PER_DOWNLOAD)
    return {
        "jobs_by_status": dict(sorted(statuses.items())),
        "files": fleet.count("SELECT COUNT(*) FROM files"),
        "lost_jobs": len(acked - fleet.job_ids()),
        "left_running": statuses.get("running", 0) + statuses.get("cancelling", 0),
        "statistics_equal_group_by": fleet.counted_statuses() == statuses,
        "integrity_check": fleet.integrity(),
        "clips_fetched_more_than_once": fetched_again,
    }
