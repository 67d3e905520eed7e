"""Live progress for the pages: Server-Sent Events from one broadcaster per app.

``GET /api/events`` is the dashboard's stream (events ``active``, ``stats``, ``recent``);
``GET /api/events?job=ID`` is a job page's stream (event ``job``). Each event's data is
the JSON the API answers for the same thing, whole (not a diff), so a client that
missed events only needs the next one.

One :class:`Broadcaster` per app reads the database for every open stream: a thread
that, while at least one stream is open, reads the dashboard's active jobs once per
``EVENTS_INTERVAL`` (1 s) and offers the result to every stream's subscriber. A
subscriber keeps only the newest event of each name that it has not sent yet, so a
slow client never holds more than one snapshot. The counts and the recent jobs are
read again only when the active list changes (a job queued, started, finished), when
a dashboard stream opens (once per tick, however many opened), or every
``STATS_EVERY`` seconds. A new stream's first events are the next tick's, not an
older snapshot: the page it serves was rendered just before. A job page whose job is
not among the dashboard's active jobs costs one read of that job per tick, whatever
the number of its viewers.
So the reads per second do not grow with the number of browsers watching.

A stream starts with ``retry:`` (how long EventSource waits before reconnecting),
sends a comment every ``EVENTS_HEARTBEAT`` seconds (15) when nothing happens, so that
proxies keep it open and a gone client is noticed, ends after
``EVENTS_STREAM_SECONDS`` (the browser reconnects, sending Last-Event-ID), and ends at
once when the broadcaster is closed (``collector serve`` does that on SIGTERM and
Ctrl-C). At most ``EVENTS_MAX_STREAMS`` streams are open at once: beyond that the
answer is 503 with Retry-After, and the pages fall back to polling the JSON API.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collector.config.database import DatabaseConfig, DatabaseError
from collector.models.job import Job
from collector.repositories import FileRepository, JobRepository

from . import params
from .metrics import app_metrics
from .views import job_dict

logger = logging.getLogger(__name__)

bp = Blueprint("events", __name__)

EXTENSION = "collector.events"
# The dashboard's lists: as many as the page shows (pages.py).
ACTIVE_ON_DASHBOARD = 20
RECENT_ON_DASHBOARD = 10
DEFAULTS: dict[str, float] = {
    "EVENTS_INTERVAL": 1.0,
    "EVENTS_HEARTBEAT": 15.0,
    "EVENTS_STREAM_SECONDS": 600.0,
    "EVENTS_MAX_STREAMS": 64,  # collector serve --max-streams
}
RETRY_MS = 2000
STATS_EVERY = 30.0
RETRY_AFTER_BUSY = 30


class TooManyStreams(Exception):
    """Every stream slot is taken."""


@dataclass(eq=False)
class Subscriber:
    """One open stream: the events it has not sent yet, newest of each name."""

    job_id: str | None
    pending: dict[str, str] = field(default_factory=dict)
    sent: dict[str, str] = field(default_factory=dict)
    closed: bool = False
    ready: threading.Condition = field(default_factory=threading.Condition)

    def offer(self, name: str, data: str, event_id: str) -> None:
        """Queue ``data`` as event ``name`` unless it is what the client has already."""
        with self.ready:
            if self.sent.get(name) == data:
                return
            self.sent[name] = data
            self.pending.pop(name, None)  # the newest goes last
            self.pending[name] = f"id: {event_id}\nevent: {name}\ndata: {data}\n\n"
            self.ready.notify()

    def take(self, timeout: float) -> list[str] | None:
        """The events waiting (within ``timeout`` s; [] if none came), None once closed."""
        with self.ready:
            if not self.pending and not self.closed:
                self.ready.wait(timeout)
            if self.closed:
                return None
            events = list(self.pending.values())
            self.pending.clear()
            return events

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify()


class Broadcaster:
    """One per app: reads what the open streams show, once per interval, for all of them."""

    def __init__(
        self,
        database: DatabaseConfig,
        interval: float = 1.0,
        max_streams: int = 64,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, not {interval}")
        self.db = database
        self.interval = interval
        self.max_streams = max_streams
        self.boot = secrets.token_hex(4)
        self.version = 0
        self.ticks = 0
        self.statements = 0  # every statement the broadcaster ran (DatabaseConfig.capture)
        self.subscribers: set[Subscriber] = set()
        self.closed = False
        self.cached: dict[str, str] = {}  # the dashboard's last events, for new streams
        self._last: dict[str, str] = {}  # everything the last tick read, to number changes
        self._shape: tuple[tuple[str, str], ...] | None = None
        self._refresh = False  # a new dashboard stream wants the counts and recent jobs
        self._stats_read = 0.0
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- streams ------------------------------------------------------------------------

    @property
    def event_id(self) -> str:
        return f"{self.boot}.{self.version}"

    def subscribe(self, job: dict[str, Any] | None = None, last_event_id: str = "") -> Subscriber:
        """A new stream: the dashboard's (``job`` None) or one job's, its first events queued.

        Raises TooManyStreams when ``max_streams`` are open, or once closed.
        """
        subscriber = Subscriber(job_id=None if job is None else str(job["id"]))
        with self._lock:
            if self.closed or len(self.subscribers) >= self.max_streams:
                raise TooManyStreams(f"{len(self.subscribers)} streams open")
            if job is not None:
                subscriber.offer("job", _encode(job), self.event_id)
            elif self.cached and last_event_id == self.event_id:
                subscriber.sent.update(self.cached)  # a reconnection that missed nothing
            else:
                # A page just rendered, or a reconnection that missed something: the next
                # tick reads everything (a second old would be older than the page).
                self._refresh = True
            self.subscribers.add(subscriber)
            self._start()
            self._lock.notify_all()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self.subscribers.discard(subscriber)
        subscriber.close()

    def open_streams(self) -> int:
        with self._lock:
            return len(self.subscribers)

    def close(self) -> None:
        """End every stream now and refuse new ones (the server is stopping)."""
        with self._lock:
            self.closed = True
            subscribers = list(self.subscribers)
            self._lock.notify_all()
        self._stop.set()
        for subscriber in subscribers:
            subscriber.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)

    # -- the thread ---------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="collector-events", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            while self._wait_for_streams():
                started = time.monotonic()
                try:
                    self.tick()
                except DatabaseError as exc:  # busy, damaged, gone: try again next tick
                    logger.warning("live progress could not read the database: %s", exc)
                except Exception:  # a bug: logged, and the streams of every page go on
                    logger.exception("live progress: a tick failed")
                self._stop.wait(max(0.0, started + self.interval - time.monotonic()))
        finally:
            self.db.close()

    def _wait_for_streams(self) -> bool:
        """Block while no stream is open (giving the connection back); False once closed."""
        with self._lock:
            if not self.subscribers and not self.closed:
                self.db.close()
                # After a pause: read everything anew, and send nothing older.
                self._shape, self._last, self.cached = None, {}, {}
            while not self.subscribers and not self.closed:
                self._lock.wait()
            return not self.closed

    def tick(self) -> None:
        """Read once what the open streams show and offer it to each of them."""
        with self._lock:
            subscribers = list(self.subscribers)
            refresh, self._refresh = self._refresh, False
        dashboards = [s for s in subscribers if s.job_id is None]
        watched = {s.job_id for s in subscribers if s.job_id is not None}
        repo = JobRepository(self.db)
        with self.db.capture() as statements:
            items = [job_dict(j) for j in repo.page(limit=ACTIVE_ON_DASHBOARD, active=True).items]
            events = {"active": _encode({"items": items})}
            shape = tuple((item["id"], item["status"]) for item in items)
            stale = time.monotonic() - self._stats_read >= STATS_EVERY
            if dashboards and (shape != self._shape or stale or refresh):
                events["stats"] = _encode(repo.get_job_statistics())
                recent = recent_with_thumbnails(self.db, repo.get_recent_jobs(RECENT_ON_DASHBOARD))
                events["recent"] = _encode({"items": recent})
                self._shape, self._stats_read = shape, time.monotonic()
            jobs: dict[str, Any] = {item["id"]: item for item in items}
            for job_id in sorted(watched - set(jobs)):
                found = repo.get_job(job_id)
                jobs[job_id] = None if found is None else job_dict(found)
        with self._lock:
            self.ticks += 1
            self.statements += len(statements)
            read = {**events, **{f"job {key}": _encode(value) for key, value in jobs.items()}}
            if any(self._last.get(name) != data for name, data in read.items()):
                self.version += 1
            self._last = {**self._last, **read}
            self.cached.update(events)
            event_id = self.event_id
        for subscriber in dashboards:
            for name, data in events.items():
                subscriber.offer(name, data, event_id)
        for subscriber in subscribers:
            if subscriber.job_id is not None:
                subscriber.offer("job", _encode(jobs.get(subscriber.job_id)), event_id)

    def counters(self) -> dict[str, int]:
        """Ticks, statements run, streams open: for tests and the benchmark."""
        with self._lock:
            return {
                "ticks": self.ticks,
                "statements": self.statements,
                "streams": len(self.subscribers),
            }


def recent_with_thumbnails(db: DatabaseConfig, recent: list[Job]) -> list[dict[str, Any]]:
    """The recent jobs as the stream sends them: each with ``thumbnail_id``, its image
    file's id or None (one statement for them all, as the dashboard page reads them)."""
    found = FileRepository(db).get_thumbnails([job.id for job in recent])
    return [
        {**job_dict(job), "thumbnail_id": found[job.id].id if job.id in found else None}
        for job in recent
    ]


def _encode(value: Any) -> str:
    """One line of JSON (an event's data: line breaks would split it)."""
    return json.dumps(value, separators=(",", ":"), default=str)


class StreamCollector(Collector):
    """``/metrics``: the streams open, and the statements the broadcaster ran."""

    def __init__(self, hub: Broadcaster) -> None:
        self.hub = hub

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        counters = self.hub.counters()
        yield GaugeMetricFamily(
            "collector_event_streams", "Live progress streams open.", value=counters["streams"]
        )
        yield CounterMetricFamily(
            "collector_event_queries",
            "Statements the live progress broadcaster ran (one per tick while streams are open).",
            value=counters["statements"],
        )


def install(app: Flask, database: DatabaseConfig) -> None:
    """The app's broadcaster, its endpoint and its metrics (after metrics.install)."""
    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    hub = Broadcaster(
        database,
        interval=float(app.config["EVENTS_INTERVAL"]),
        max_streams=int(app.config["EVENTS_MAX_STREAMS"]),
    )
    app.extensions[EXTENSION] = hub
    app_metrics(app).registry.register(StreamCollector(hub))
    app.register_blueprint(bp)


def broadcaster(app: Flask | None = None) -> Broadcaster:
    """The broadcaster of ``app`` (default: the current app)."""
    found: Broadcaster = (app or current_app).extensions[EXTENSION]
    return found


@bp.get("/api/events")
def events() -> ResponseReturnValue:
    """The stream of the dashboard, or with ``?job=ID`` of one job (see the module)."""
    job = None
    job_id = request.args.get("job")
    if job_id == "":
        abort(400, "job: give a job's id, or leave the parameter out for the dashboard's stream")
    if job_id is not None:
        job = job_dict(params.job_or_404(job_id))
    hub = broadcaster()
    try:
        subscriber = hub.subscribe(job, request.headers.get("Last-Event-ID", ""))
    except TooManyStreams:
        response = jsonify(
            error=f"too many live streams open (at most {hub.max_streams}); poll the JSON API"
        )
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_BUSY)
        return response
    config = current_app.config
    body = _stream(
        hub,
        subscriber,
        heartbeat=float(config["EVENTS_HEARTBEAT"]),
        seconds=float(config["EVENTS_STREAM_SECONDS"]),
    )
    return Response(
        body,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _stream(
    hub: Broadcaster, subscriber: Subscriber, heartbeat: float, seconds: float
) -> Iterator[str]:
    """The stream's text; its subscriber goes when it ends or its client does.

    It starts with the current state: at once when the broadcaster has one, else
    with the first tick's, whatever ``seconds`` says.
    """
    deadline = time.monotonic() + seconds
    try:
        yield f"retry: {RETRY_MS}\n\n"
        events = subscriber.take(timeout=heartbeat)
        while events is not None:
            yield "".join(events) if events else ": keep-alive\n\n"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            events = subscriber.take(timeout=min(heartbeat, remaining))
            if events == [] and time.monotonic() >= deadline:
                return
    finally:
        hub.unsubscribe(subscriber)
