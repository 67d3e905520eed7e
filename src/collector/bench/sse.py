"""The live-progress benchmark: N browsers watching the dashboard's event stream.

A real waitress server on a free loopback port serves the app it is handed (the CLI
builds it: bench sits below the app). Running jobs get progress written four times a
second. First the dashboard (``GET /``) and ``GET /api/jobs`` are timed with nobody
watching; then ``clients`` threads open ``GET /api/events`` and read it as browsers
do, and the same requests are timed again. The broadcaster's counters give the
statements it ran per second meanwhile; the clients count the events they got.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collector.config.database import DatabaseConfig
from collector.repositories.queue import JobQueue

from .timing import percentile

URL = "https://www.youtube.com/watch?v=sse-bench-{}"
RUNNING = 4
QUEUED = 12  # all of them on the dashboard (its 20 newest active jobs)
WRITE_EVERY = 0.25
REQUEST_TIMEOUT = 5.0
PATHS = ("/api/jobs", "/")


@dataclass
class Watcher:
    """One client reading the stream in a thread: what it got."""

    port: int
    status: int = 0
    events: int = 0
    error: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    connected: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT * 4)
        try:
            connection.request("GET", "/api/events", headers={"Accept": "text/event-stream"})
            response = connection.getresponse()
            self.status = response.status
            self.connected.set()
            if response.status != 200:
                return
            while not self.stop.is_set():
                chunk = response.read1(65536)
                if not chunk:
                    return
                self.events += chunk.count(b"\nevent: ")
        except OSError as exc:
            self.error = str(exc)
        finally:
            self.connected.set()
            connection.close()


def _seed(db: DatabaseConfig) -> list[str]:
    """Jobs queued, RUNNING of them claimed: the ids of the running ones."""
    queue = JobQueue(db)
    queue.enqueue_many([URL.format(n) for n in range(QUEUED)])
    running = []
    for _ in range(RUNNING):
        job = queue.claim("sse-bench", 3600)
        if job is not None:
            running.append(job.id)
    return running


def _write_progress(db: DatabaseConfig, job_ids: list[str], stop: threading.Event) -> None:
    queue = JobQueue(db)
    step = 0
    try:
        while not stop.wait(WRITE_EVERY):
            step += 1
            for job_id in job_ids:
                queue.report_progress(
                    job_id,
                    "sse-bench",
                    3600,
                    progress=step % 101,
                    bytes_downloaded=step * 1000,
                    operation="downloading",
                )
    finally:
        db.close()


def _time_requests(port: int, seconds: float) -> dict[str, Any]:
    """p50/p99 (ms) of each path, asked one after another for ``seconds``."""
    samples: dict[str, list[float]] = {path: [] for path in PATHS}
    timeouts = dict.fromkeys(PATHS, 0)
    deadline = time.monotonic() + seconds
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        while time.monotonic() < deadline:
            for path in PATHS:
                started = time.perf_counter()
                try:
                    connection.request("GET", path)
                    connection.getresponse().read()
                except OSError:  # a timeout: no thread was free to answer
                    timeouts[path] += 1
                    connection.close()
                    connection = http.client.HTTPConnection(
                        "127.0.0.1", port, timeout=REQUEST_TIMEOUT
                    )
                    continue
                samples[path].append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return {
        path: {
            "requests": len(values),
            "timeouts": timeouts[path],
            "p50_ms": _round(percentile(values, 0.5)),
            "p99_ms": _round(percentile(values, 0.99)),
        }
        for path, values in samples.items()
    }


def _drain(dispatcher: Any, timeout: float = 10.0) -> None:
    """Wait until waitress runs no request and has none queued (streams ended)."""
    deadline = time.monotonic() + timeout
    while (dispatcher.queue or dispatcher.active_count) and time.monotonic() < deadline:
        time.sleep(0.05)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def run_sse_bench(
    db: DatabaseConfig,
    app: Any,
    counters: Callable[[], dict[str, int]],
    close_streams: Callable[[], None],
    *,
    clients: int,
    seconds: float,
    threads: int,
    connection_limit: int,
) -> dict[str, Any]:
    """Serve ``app`` (a WSGI app on ``db``) with waitress and measure; the figures."""
    import waitress

    running = _seed(db)
    server = waitress.create_server(
        app, host="127.0.0.1", port=0, threads=threads, connection_limit=connection_limit
    )
    port = server.effective_port
    closing = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except OSError:  # its sockets closed under it: the end of the run
            if not closing.is_set():
                raise

    serving = threading.Thread(target=serve, name="sse-bench-server", daemon=True)
    serving.start()
    stop_writes = threading.Event()
    writer = threading.Thread(
        target=_write_progress, args=(db, running, stop_writes), name="sse-bench-writer"
    )
    writer.start()
    watchers = [Watcher(port) for _ in range(clients)]
    try:
        alone = _time_requests(port, seconds)
        for watcher in watchers:
            threading.Thread(target=watcher.run, daemon=True).start()
        connect_by = time.monotonic() + REQUEST_TIMEOUT
        for watcher in watchers:
            watcher.connected.wait(max(0.0, connect_by - time.monotonic()))
        before, started = counters(), time.monotonic()
        events_before = sum(w.events for w in watchers)
        watched = _time_requests(port, seconds)
        after, elapsed = counters(), time.monotonic() - started
        events = sum(w.events for w in watchers) - events_before
    finally:
        for watcher in watchers:
            watcher.stop.set()
        close_streams()
        stop_writes.set()
        writer.join()
        _drain(server.task_dispatcher)
        closing.set()
        server.close()
        serving.join(10)
    served = [w for w in watchers if w.status == 200]
    return {
        "engine": db.dialect.name,
        "cpus": os.cpu_count(),
        "clients": clients,
        "streams_served": len(served),
        "streams_refused": sum(1 for w in watchers if w.status == 503),
        "streams_unanswered": sum(1 for w in watchers if w.status == 0),
        "seconds": seconds,
        "threads": threads,
        "connection_limit": connection_limit,
        "running_jobs": len(running),
        "progress_writes_per_s": round(len(running) / WRITE_EVERY, 1),
        "broadcaster_ticks_per_s": round((after["ticks"] - before["ticks"]) / elapsed, 2),
        "queries_per_s": round((after["statements"] - before["statements"]) / elapsed, 2),
        "events_per_stream_per_s": round(events / max(1, len(served)) / elapsed, 2),
        "without_watchers": alone,
        "with_watchers": watched,
        "note": "loopback, one requester after another; the machine was shared with other work",
    }


def report_lines(result: dict[str, Any]) -> list[str]:
    """The figures for a terminal."""
    lines = [
        f"{result['clients']} watchers on {result['engine']} ({result['cpus']} CPUs), "
        f"waitress threads={result['threads']} connection_limit={result['connection_limit']}",
        f"streams served {result['streams_served']}, refused {result['streams_refused']}, "
        f"unanswered {result['streams_unanswered']}",
        f"broadcaster: {result['broadcaster_ticks_per_s']} ticks/s, "
        f"{result['queries_per_s']} queries/s; "
        f"{result['events_per_stream_per_s']} events/s per stream "
        f"({result['running_jobs']} running jobs, {result['progress_writes_per_s']} writes/s)",
    ]
    for phase in ("without_watchers", "with_watchers"):
        for path, figures in result[phase].items():
            lines.append(
                f"{phase.replace('_', ' '):17} GET {path:9} p50 {figures['p50_ms']} ms  "
                f"p99 {figures['p99_ms']} ms  ({figures['requests']} requests, "
                f"{figures['timeouts']} timed out after {REQUEST_TIMEOUT:.0f} s)"
            )
    return lines
