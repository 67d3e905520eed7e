"""GET /api/events: the stream's format and content, one read per tick for every client,
streams freed when their client goes or the server stops, the cap, and sign-in."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import waitress
from flask import Flask
from flask.testing import FlaskClient

from collector.app import create_app
from collector.config.database import DatabaseConfig
from collector.repositories import FileRepository
from collector.repositories.queue import JobQueue
from collector.web.events import RETRY_MS, broadcaster

pytestmark = pytest.mark.both_engines

HOST = {"Host": "127.0.0.1"}
URL = "https://www.youtube.com/watch?v=events{}"
TOKEN = "events-token-0123456789-abcdef"
WAIT = 20.0  # how long a condition may take before the test gives up (not a measure)
# Short heartbeats: a stream writes often, so a gone client is noticed soon.
FAST = {"EVENTS_INTERVAL": 0.2, "EVENTS_HEARTBEAT": 0.2, "EVENTS_STREAM_SECONDS": 60}


def make_app(database: str, **config: Any) -> Flask:
    return create_app({"TESTING": True, "DB_PATH": database, **FAST, **config})


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        time.sleep(0.02)


class Events:
    """The events of a stream (a Flask test client's or a socket's), parsed as they come."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.text = ""
        self.blocks: list[str] = []

    def next_block(self) -> str | None:
        while "\n\n" not in self.text:
            chunk = next(self.chunks, None)
            if chunk is None:
                return None
            self.text += chunk.decode() if isinstance(chunk, bytes) else chunk
        block, self.text = self.text.split("\n\n", 1)
        self.blocks.append(block)
        return block

    def next_event(self, name: str | None = None) -> dict[str, Any] | None:
        """The next event (of ``name``), parsed; None when the stream ends."""
        while (block := self.next_block()) is not None:
            fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
            if "data" in fields and (name is None or fields.get("event") == name):
                return {**fields, "data": json.loads(fields["data"])}
        return None

    def rest(self) -> list[str]:
        """Every block until the stream ends."""
        while self.next_block() is not None:
            pass
        return self.blocks


def open_stream(client: FlaskClient, path: str = "/api/events", **kwargs: Any):
    response = client.get(path, buffered=False, headers={**HOST, **kwargs.pop("headers", {})})
    return response, Events(iter(response.response))


def claim_and_report(db: DatabaseConfig, progress: int) -> str:
    queue = JobQueue(db)
    job, _ = queue.enqueue(URL.format(progress))
    claimed = queue.claim("w1", 60)
    assert claimed is not None and claimed.id == job.id
    queue.report_progress(job.id, "w1", 60, progress=progress, bytes_downloaded=1, operation="x")
    return job.id


def test_the_dashboard_stream_starts_with_retry_and_lists_the_active_jobs(db, database) -> None:
    job, _ = JobQueue(db).enqueue(URL.format(1))
    app = make_app(database, EVENTS_STREAM_SECONDS=0)
    response = app.test_client().get("/api/events", headers=HOST)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    body = response.get_data(as_text=True)
    assert body.startswith(f"retry: {RETRY_MS}\n\n")
    events = Events(iter([body]))
    active = events.next_event("active")
    assert active is not None
    assert active["id"].startswith(broadcaster(app).boot + ".")
    assert [item["id"] for item in active["data"]["items"]] == [job.id]
    assert active["data"]["items"][0]["status"] == "pending"


def test_the_recent_jobs_carry_their_thumbnail(db, database) -> None:
    queue, files = JobQueue(db), FileRepository(db)
    pictured, _ = queue.enqueue(URL.format(1))
    bare, _ = queue.enqueue(URL.format(2))
    image = files.create_file(pictured.id, "/d/thumb.jpg", "image", 10)
    files.create_file(bare.id, "/d/bare.mp4", "video", 10)
    app = make_app(database, EVENTS_STREAM_SECONDS=0)
    body = app.test_client().get("/api/events", headers=HOST).get_data(as_text=True)
    recent = Events(iter([body])).next_event("recent")
    assert recent is not None
    assert [(i["id"], i["thumbnail_id"]) for i in recent["data"]["items"]] == [
        (bare.id, None),
        (pictured.id, image.id),
    ]


def test_a_reconnection_that_missed_nothing_gets_nothing_again(db, database) -> None:
    JobQueue(db).enqueue(URL.format(3))
    hub = broadcaster(make_app(database))
    held = hub.subscribe()  # open throughout: the broadcaster keeps what it sent
    first: list[str] = []
    wait_until(lambda: first.extend(held.take(0) or []) or first, "the first events")
    again = hub.subscribe(None, last_event_id=hub.event_id)
    stale = hub.subscribe(None, last_event_id="older.1")
    ticks = hub.counters()["ticks"]
    wait_until(lambda: hub.counters()["ticks"] >= ticks + 2, "two more ticks")
    try:
        assert again.take(0) == []
        assert any("event: active" in event for event in stale.take(0) or [])
    finally:
        for subscriber in (held, again, stale):
            hub.unsubscribe(subscriber)
        hub.close()


def test_a_job_stream_starts_with_the_job(db, database) -> None:
    job, _ = JobQueue(db).enqueue(URL.format(2))
    app = make_app(database, EVENTS_STREAM_SECONDS=0)
    client = app.test_client()
    events = Events(iter([client.get(f"/api/events?job={job.id}", headers=HOST).get_data()]))
    first = events.next_event()
    assert first is not None and first["event"] == "job"
    assert first["data"]["id"] == job.id
    assert client.get("/api/events?job=nope", headers=HOST).status_code == 404
    assert client.get("/api/events?job=", headers=HOST).status_code == 400


def test_a_progress_write_reaches_the_open_streams(db, database) -> None:
    app = make_app(database)
    client = app.test_client()
    dashboard, dashboard_events = open_stream(client)
    job_id = claim_and_report(db, 10)
    job, job_events = open_stream(client, f"/api/events?job={job_id}")
    try:
        assert job_events.next_event("job")["data"]["progress"] == 10
        JobQueue(db).report_progress(
            job_id, "w1", 60, progress=42, bytes_downloaded=5, operation="y"
        )
        seen = job_events.next_event("job")
        assert seen["data"]["progress"] == 42
        assert seen["data"]["current_operation"] == "y"
        while (active := dashboard_events.next_event("active")) is not None:
            if [i["progress"] for i in active["data"]["items"]] == [42]:
                break
        assert active is not None, "the dashboard's stream ended before showing 42%"
    finally:
        dashboard.close()
        job.close()


def test_many_streams_cost_one_read_per_tick(db, database) -> None:
    claim_and_report(db, 5)
    app = make_app(database)
    hub = broadcaster(app)
    client = app.test_client()
    streams = [open_stream(client) for _ in range(20)]
    try:
        for _, events in streams:
            assert events.next_event("active") is not None
        # Opening streams read the counts and recent jobs too (once per tick); after
        # that, one read a tick for all of them.
        before = hub.counters()
        wait_until(lambda: hub.counters()["ticks"] >= before["ticks"] + 5, "five more ticks")
        after = hub.counters()
        assert after["streams"] == 20
        assert after["statements"] - before["statements"] == after["ticks"] - before["ticks"]
        scraped = client.get("/metrics", headers=HOST).get_data(as_text=True)
        assert "collector_event_streams 20.0" in scraped
        assert "collector_event_queries_total" in scraped
    finally:
        for response, _ in streams:
            response.close()
    assert hub.counters()["streams"] == 0


def test_a_closed_stream_gives_up_its_place(db, database) -> None:
    app = make_app(database, EVENTS_MAX_STREAMS=2)
    hub = broadcaster(app)
    client = app.test_client()
    first, _ = open_stream(client)
    second, _ = open_stream(client)
    refused = client.get("/api/events", headers=HOST)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "30"
    assert "too many live streams" in refused.get_json()["error"]
    first.close()
    assert hub.counters()["streams"] == 1
    third, _ = open_stream(client)
    assert third.status_code == 200
    second.close()
    third.close()


def test_closing_the_broadcaster_ends_every_stream(db, database) -> None:
    app = make_app(database, EVENTS_HEARTBEAT=30)
    client = app.test_client()
    streams = [open_stream(client) for _ in range(3)]
    broadcaster(app).close()
    for _, events in streams:
        events.rest()  # returns: the stream ended
    assert broadcaster(app).counters()["streams"] == 0
    assert client.get("/api/events", headers=HOST).status_code == 503


def test_the_stream_is_behind_the_token(db, database) -> None:
    app = make_app(database, AUTH_TOKEN=TOKEN, EVENTS_STREAM_SECONDS=0)
    client = app.test_client()
    assert client.get("/api/events").status_code == 401
    answer = client.get("/api/events", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.mimetype == "text/event-stream"


# -- a real waitress server -----------------------------------------------------------------------


@pytest.fixture
def server(database: str) -> Iterator[tuple[Flask, int]]:
    app = make_app(database)
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield app, server.effective_port
    broadcaster(app).close()
    # Stop the loop before closing its sockets: closed under a select() in progress,
    # they make the loop thread fail (EBADF). An empty map ends it after one poll.
    channels = list(server._map.values())
    server._map.clear()
    thread.join(10)
    for channel in channels:  # the listening socket, the trigger, open connections
        channel.close()
    server.task_dispatcher.shutdown()


class Stream(Events):
    """A stream read from a socket, as a browser would."""

    def __init__(self, port: int, path: str = "/api/events") -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        self.connection.request("GET", path)
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type").startswith("text/event-stream")
        super().__init__(iter(lambda: self.response.read1(4096) or None, None))

    def close(self) -> None:
        self.response.close()
        self.connection.close()


def test_waitress_streams_events_and_frees_a_gone_client(db, server) -> None:
    app, port = server
    job_id = claim_and_report(db, 7)
    events = Stream(port)
    assert events.next_event("active")["data"]["items"][0]["id"] == job_id
    JobQueue(db).report_progress(job_id, "w1", 60, progress=64, bytes_downloaded=9, operation="z")
    while (active := events.next_event("active")) is not None:
        if active["data"]["items"][0]["progress"] == 64:
            break
    assert active is not None
    hub = broadcaster(app)
    assert hub.counters()["streams"] == 1
    events.close()  # the client goes: its socket is closed
    wait_until(lambda: hub.counters()["streams"] == 0, "the gone client's stream freed")


def test_waitress_sends_heartbeats(server) -> None:
    _, port = server
    events = Stream(port)
    try:
        while (block := events.next_block()) is not None and block != ": keep-alive":
            pass
        assert block == ": keep-alive"
    finally:
        events.close()


@pytest.mark.sqlite_only
def test_serve_ends_open_streams_on_sigterm(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Streams last 10 minutes (EVENTS_STREAM_SECONDS): only the stop can end them here.
    env = {**os.environ, "COLLECTOR_DB_PATH": str(tmp_path / "c.db")}
    env.pop("COLLECTOR_TOKEN", None)
    command = [sys.executable, "-m", "collector", "serve", "--port", str(port), "--workers", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                streams = [Stream(port) for _ in range(5)]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        for events in streams:
            assert events.next_event("active") is not None
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=WAIT)
        for events in streams:
            events.rest()  # each stream ended (not cut by a timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert b"still running" not in err  # waitress did not wait for stream threads


def test_a_failed_read_does_not_end_live_progress(db, database, monkeypatch) -> None:
    from collector.config.database import DatabaseBusyError
    from collector.repositories import JobRepository

    JobQueue(db).enqueue(URL.format(4))
    hub = broadcaster(make_app(database))
    real_page = JobRepository.page
    failures = [DatabaseBusyError("database is locked"), RuntimeError("a bug")]

    def page(self, *args, **kwargs):
        if failures:
            raise failures.pop(0)
        return real_page(self, *args, **kwargs)

    monkeypatch.setattr(JobRepository, "page", page)
    subscriber = hub.subscribe()
    got: list[str] = []
    try:
        wait_until(
            lambda: got.extend(subscriber.take(0) or []) or got, "an event after two failures"
        )
        assert failures == []
        assert any("event: active" in event for event in got)
    finally:
        hub.unsubscribe(subscriber)
        hub.close()
