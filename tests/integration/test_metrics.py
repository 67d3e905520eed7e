"""``/metrics``: Prometheus' text format, read back with prometheus_client's own parser.

Jobs by status against a GROUP BY, real downloads from the loopback media server
counted by outcome and cause, request latency by route template, and the API's
sign-in rules.
"""

from __future__ import annotations

import errno
import io
import os
import re
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from yt_dlp.utils import DownloadError, UnsupportedError

from collector.app import create_app
from collector.config.database import DatabaseConfig
from collector.models.job import STATUSES, Job
from collector.models.outbound import NO_HOSTS, AllowedHosts
from collector.models.values import utcnow
from collector.repositories.queue import JobQueue
from collector.schema.derived import counts_table
from collector.web.metrics import worker_metrics
from collector.worker import Downloader, DownloadFailed
from collector.worker.metrics import CAUSES, WorkerMetrics, classify, queue_wait
from tests.conftest import reading
from tests.media_server import MediaServer, media_bytes
from tests.worker_fixtures import (
    SUBPROCESS_TIMEOUT,
    TEST_DOWNLOADER_OPTIONS,
    make_worker,
    wait_until,
    worker_command,
)

TOKEN = "metrics-token-for-tests-0123456789"
CLIP = media_bytes(120_000, "clip")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float) -> bytes:
    """The body of ``url`` once it answers (a process starting up), within ``timeout`` s."""
    return wait_until(lambda: _get(url), timeout, f"{url} to answer")


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read()
    except OSError:
        return None


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: FlaskClient, headers: Mapping[str, str] | None = None) -> Samples:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return parse(response.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 if absent (a labelled counter appears once incremented)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def labelled(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (sample, labels), v in samples.items() if sample == name}


# -- jobs by status -------------------------------------------------------------------------------


def test_jobs_by_status_equal_a_group_by(
    app: Flask, client: FlaskClient, queue: JobQueue, db_path: Path
) -> None:
    ids = [queue.enqueue(f"https://example.com/v{i}").job.id for i in range(7)]
    for worker in ("w/1", "w/2", "w/3", "w/4"):
        queue.claim(worker, 60)  # the four oldest
    queue.complete(ids[0], "w/1")
    queue.fail(ids[1], "w/2", "HTTP Error 404: Not Found")
    queue.cancel(ids[2])  # running: cancelling
    queue.cancel(ids[6])  # pending: cancelled

    samples = scrape(client)

    gauges = {
        dict(labels)["status"]: v for labels, v in labelled(samples, "collector_jobs").items()
    }
    with reading(db_path) as conn:
        rows = conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
    assert gauges == {**dict.fromkeys(STATUSES, 0), **{status: n for status, n in rows}}
    assert gauges == {
        "pending": 2,
        "running": 1,
        "cancelling": 1,
        "completed": 1,
        "failed": 1,
        "cancelled": 1,
    }


def test_a_scrape_reads_the_counts_not_the_jobs(
    app: Flask, client: FlaskClient, queue: JobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue.enqueue("https://example.com/a")
    statements: list[str] = []
    connect = DatabaseConfig.connect

    def traced(self: DatabaseConfig) -> sqlite3.Connection:
        conn = connect(self)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(DatabaseConfig, "connect", traced)
    scrape(client)

    reads = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert any(counts_table("jobs", "status") in sql for sql in reads), statements
    assert not [sql for sql in reads if re.search(r'\bFROM\s+"?jobs"?(\s|$)', sql)]


def test_jobs_by_status_follow_changes(app: Flask, client: FlaskClient, queue: JobQueue) -> None:
    assert value(scrape(client), "collector_jobs", status="pending") == 0
    queue.enqueue("https://example.com/a")
    queue.enqueue("https://example.com/b")
    assert value(scrape(client), "collector_jobs", status="pending") == 2


# -- downloads, in this process -------------------------------------------------------------------


def test_a_completed_download_is_counted(
    app: Flask,
    client: FlaskClient,
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
) -> None:
    media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(media_server.url("clip.mp4")).job

    assert make_worker(db, metrics=worker_metrics(app)).run(burst=True) == 1

    assert queue.get(job.id).status == "completed"
    samples = scrape(client)
    finished = labelled(samples, "collector_jobs_finished_total")
    assert finished == {(("cause", "none"), ("outcome", "completed")): 1}
    assert value(samples, "collector_downloaded_bytes_total") == len(CLIP)
    assert value(samples, "collector_queue_wait_seconds_count") == 1
    assert value(samples, "collector_queue_wait_seconds_bucket", le="+Inf") == 1
    assert value(samples, "collector_download_duration_seconds_count", outcome="completed") == 1
    assert value(samples, "collector_download_duration_seconds_sum", outcome="completed") > 0
    assert value(samples, "collector_jobs", status="completed") == 1


def test_a_not_found_download_is_counted_as_failed_http_404(
    app: Flask,
    client: FlaskClient,
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
) -> None:
    job = queue.enqueue(media_server.url("missing.mp4")).job

    make_worker(db, metrics=worker_metrics(app)).run(burst=True)

    assert queue.get(job.id).status == "failed"
    samples = scrape(client)
    finished = labelled(samples, "collector_jobs_finished_total")
    assert finished == {(("cause", "http_404"), ("outcome", "failed")): 1}
    assert value(samples, "collector_downloaded_bytes_total") == 0
    assert value(samples, "collector_download_duration_seconds_count", outcome="failed") == 1


def test_a_retried_download_is_counted_with_its_cause_then_completed(
    app: Flask,
    client: FlaskClient,
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
) -> None:
    media_server.add("clip.mp4", CLIP, failures=1)  # one 503, then the file
    job = queue.enqueue(media_server.url("clip.mp4", route="flaky")).job

    assert make_worker(db, metrics=worker_metrics(app)).run(burst=True) == 2

    assert queue.get(job.id).status == "completed"
    samples = scrape(client)
    assert labelled(samples, "collector_jobs_finished_total") == {
        (("cause", "http_5xx"), ("outcome", "retrying")): 1,
        (("cause", "none"), ("outcome", "completed")): 1,
    }
    assert value(samples, "collector_downloaded_bytes_total") == len(CLIP)
    assert value(samples, "collector_queue_wait_seconds_count") == 2


def test_worker_metrics_share_the_app_registry_once(app: Flask) -> None:
    assert worker_metrics(app) is worker_metrics(app)
    other = create_app({"TESTING": True, "DB_PATH": app.config["DB_PATH"]})
    assert worker_metrics(other) is not worker_metrics(app)  # no "Duplicated timeseries"


def test_a_web_only_app_shows_no_worker_metrics(app: Flask, client: FlaskClient) -> None:
    names = {name for name, _ in scrape(client)}
    assert "collector_jobs" in names
    assert not [name for name in names if name.startswith(("collector_download", "collector_q"))]


# -- causes ---------------------------------------------------------------------------------------


LOOPBACK = AllowedHosts.parse("127.0.0.1")


def download_error(
    media_server: MediaServer, url: str, tmp_path: Path, allowed: AllowedHosts = LOOPBACK
) -> DownloadFailed:
    with pytest.raises(DownloadFailed) as caught:
        Downloader(TEST_DOWNLOADER_OPTIONS).download(
            url, tmp_path / "job", lambda update: None, allowed=allowed
        )
    return caught.value


@pytest.mark.parametrize(
    ("path", "cause"),
    [
        ("media/missing.mp4", "http_404"),
        ("flaky/clip.mp4", "http_5xx"),
        ("media/cut.mp4", "network"),  # the body cut short: yt-dlp reports it as text only
    ],
)
def test_causes_of_real_download_errors(
    media_server: MediaServer, tmp_path: Path, path: str, cause: str
) -> None:
    media_server.add("clip.mp4", CLIP, failures=1)
    media_server.add("cut.mp4", CLIP, cut_after=5000)
    url = f"http://127.0.0.1:{media_server.port}/{path}"
    assert classify(download_error(media_server, url, tmp_path)) == cause


def test_cause_of_a_closed_port(media_server: MediaServer, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/clip.mp4"
    assert classify(download_error(media_server, url, tmp_path)) == "network"


def test_cause_of_a_refused_internal_address(media_server: MediaServer, tmp_path: Path) -> None:
    media_server.add("clip.mp4", CLIP)
    # No allowed hosts: the loopback server is an internal address like any other.
    error = download_error(media_server, media_server.url("clip.mp4"), tmp_path, NO_HOSTS)

    assert error.message.startswith("refused: ")
    assert classify(error) == "refused"
    assert media_server.files["clip.mp4"].requests == []


def wrapped(cause: BaseException, transient: bool = False) -> DownloadFailed:
    """A DownloadFailed as engine.py raises it: from yt-dlp's DownloadError around ``cause``."""
    error = DownloadError("ERROR: " + str(cause), exc_info=(type(cause), cause, None))
    try:
        raise DownloadFailed(str(cause), transient) from error
    except DownloadFailed as failed:
        return failed


def http_error(status: int) -> BaseException:
    from yt_dlp.networking.common import Response
    from yt_dlp.networking.exceptions import HTTPError

    response = Response(io.BytesIO(), url="http://example.com/", headers={}, status=status)
    return HTTPError(response)


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (wrapped(http_error(403)), "http_403"),
        (wrapped(http_error(410)), "http_4xx"),
        (wrapped(http_error(429), transient=True), "http_429"),
        (wrapped(http_error(502), transient=True), "http_5xx"),
        (wrapped(TimeoutError("timed out"), transient=True), "timeout"),
        (wrapped(UnsupportedError("http://example.com/page")), "unsupported"),
        (wrapped(OSError(errno.ENOSPC, "No space left on device")), "storage"),
        (DownloadFailed("something odd"), "other"),
        (DownloadFailed("Downloaded 1 bytes, expected 2 bytes", transient=True), "network"),
        (OSError(errno.EROFS, "Read-only file system"), "storage"),
        (KeyError("a bug"), "internal"),
    ],
)
def test_causes(error: BaseException, cause: str) -> None:
    assert classify(error) == cause
    assert cause in CAUSES


def test_no_cause_for_outcomes_that_are_not_failures() -> None:
    metrics = WorkerMetrics()
    job = make_job()
    for outcome in ("cancelled", "released", "lost"):
        metrics.job_ended(job, outcome, 0.0, wrapped(ConnectionResetError("cut")))
    metrics.job_ended(job, "failed", 0.0, wrapped(ConnectionResetError("reset")))
    finished = {
        (s.labels["outcome"], s.labels["cause"]): s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == "collector_jobs_finished_total"
    }
    assert finished == {
        ("cancelled", "none"): 1,
        ("released", "none"): 1,
        ("lost", "none"): 1,
        ("failed", "network"): 1,
    }


def make_job(**fields: object) -> Job:
    now = utcnow()
    values: dict[str, object] = {
        "id": "j1",
        "created_at": now,
        "updated_at": now,
        "url": "https://example.com/v",
        "platform": "other",
        "status": "running",
        "title": None,
        "progress": 0,
        "current_operation": None,
        "error_message": None,
        "retry_count": 0,
        "bytes_downloaded": 0,
        "completed_at": None,
        "worker_id": "w/0",
        "lease_expires_at": None,
        "next_attempt_at": None,
    }
    values.update(fields)
    return Job(**values)


def test_queue_wait_counts_from_creation_or_the_next_attempt() -> None:
    created = utcnow()
    claimed = created + timedelta(seconds=90)
    assert queue_wait(make_job(created_at=created, updated_at=claimed)) == 90
    retry_at = created + timedelta(seconds=60)
    job = make_job(created_at=created, updated_at=claimed, next_attempt_at=retry_at)
    assert queue_wait(job) == 30
    # A clock that stepped back never gives a negative wait.
    assert queue_wait(make_job(created_at=claimed, updated_at=created)) == 0


# -- request latency ------------------------------------------------------------------------------


def test_request_latency_by_route_template(app: Flask, client: FlaskClient) -> None:
    assert client.get("/api/jobs/no-such-job").status_code == 404
    assert client.get("/api/jobs/another-one").status_code == 404
    assert client.get("/api/stats").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert client.open("/api/stats", method="BREW").status_code == 405

    counts = labelled(scrape(client), "collector_http_request_duration_seconds_count")

    def count(method: str, route: str, status: str) -> float:
        return counts.get((("method", method), ("route", route), ("status", status)), 0)

    assert count("GET", "/api/jobs/<job_id>", "404") == 2  # one series, not one per id
    assert count("GET", "/api/stats", "200") == 1
    assert count("GET", "unmatched", "404") == 1
    assert count("other", "unmatched", "405") == 1
    assert not [labels for labels in counts if "no-such-job" in str(labels)]


# -- sign-in --------------------------------------------------------------------------------------


@pytest.fixture
def secured(db_path: Path):
    app = create_app({"TESTING": True, "DB_PATH": str(db_path), "AUTH_TOKEN": TOKEN})
    with app.app_context():
        yield app


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-wrong-token-0000"}, {"Authorization": TOKEN}],
)
def test_with_a_token_metrics_need_it(secured: Flask, headers: dict[str, str]) -> None:
    response = secured.test_client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"].startswith("authentication required")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_with_a_token_metrics_answer_the_bearer(secured: Flask) -> None:
    samples = scrape(secured.test_client(), {"Authorization": "Bearer " + TOKEN})
    assert value(samples, "collector_jobs", status="pending") == 0


def test_without_a_token_metrics_are_for_loopback_host_names(client: FlaskClient) -> None:
    assert client.get("/metrics", headers={"Host": "evil.example"}).status_code == 403
    assert client.get("/metrics", headers={"Host": "localhost:5000"}).status_code == 200


def test_openmetrics_when_asked(client: FlaskClient) -> None:
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.status_code == 200
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")


# -- a standalone worker's own port ---------------------------------------------------------------


def counted(url: str) -> Samples | None:
    """A scrape of ``url`` once it counts a completed job (the count follows the status)."""
    samples = parse(wait_for(url, 10).decode())
    done = value(samples, "collector_jobs_finished_total", outcome="completed", cause="none")
    return samples if done else None


def test_worker_process_serves_its_metrics(
    db_path: Path, db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    media_server.add("clip.mp4", CLIP)
    queue.enqueue(media_server.url("clip.mp4"))
    port = free_port()
    command = worker_command(db_path, "--metrics-port", str(port))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        samples = wait_until(lambda: counted(f"http://127.0.0.1:{port}/metrics"), 20, "the count")
    finally:
        process.terminate()
        err = process.communicate(timeout=SUBPROCESS_TIMEOUT)[1]
    assert process.returncode == 0, err
    assert f"worker metrics at http://127.0.0.1:{port}/metrics" in err
    finished = labelled(samples, "collector_jobs_finished_total")
    assert finished == {(("cause", "none"), ("outcome", "completed")): 1}
    assert value(samples, "collector_downloaded_bytes_total") == len(CLIP)
    assert "collector_jobs" not in {name for name, _ in samples}  # the web app's, fleet-wide


def test_worker_metrics_port_in_use_is_a_clear_error(db_path: Path, db: DatabaseConfig) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            worker_command(db_path, "--burst", "--metrics-port", str(port)),
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
            env={**os.environ},
            check=False,
        )
    assert result.returncode == 1
    assert f"Error: cannot serve metrics on 127.0.0.1 port {port}: " in result.stderr
    assert "Traceback" not in result.stderr


# -- collector serve: its in-process workers on the app's registry --------------------------------


def test_serve_counts_its_workers_downloads(tmp_path: Path, media_server: MediaServer) -> None:
    media_server.add("clip.mp4", CLIP)
    port = free_port()
    env = {
        **os.environ,
        "COLLECTOR_DB_PATH": str(tmp_path / "c.db"),
        "COLLECTOR_DOWNLOAD_DIR": str(tmp_path / "downloads"),
        "COLLECTOR_ALLOWED_HOSTS": "127.0.0.1",  # the loopback media server
    }
    env.pop("COLLECTOR_TOKEN", None)
    command = [sys.executable, "-m", "collector", "serve", "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", 20)
        request = urllib.request.Request(
            f"{base}/api/jobs",
            data=f'{{"url": "{media_server.url("clip.mp4")}"}}'.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201
        samples = wait_until(lambda: counted(f"{base}/metrics"), 20, "the count")
    finally:
        process.terminate()
        process.communicate(timeout=SUBPROCESS_TIMEOUT)
    finished = labelled(samples, "collector_jobs_finished_total")
    assert finished == {(("cause", "none"), ("outcome", "completed")): 1}
    assert value(samples, "collector_downloaded_bytes_total") == len(CLIP)
    assert (
        value(
            samples,
            "collector_http_request_duration_seconds_count",
            method="POST",
            route="/api/jobs",
            status="201",
        )
        == 1
    )
