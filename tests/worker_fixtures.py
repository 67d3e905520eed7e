"""Fixtures and helpers for the queue, worker and job CLI tests.

Every wait is bounded: ``wait_until`` fails the test with a description when its
condition is not met in time, so nothing here can hang the suite.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from collector.config.database import DatabaseConfig
from collector.models.job import Job
from collector.repositories import SettingsRepository
from collector.repositories.queue import JobQueue
from collector.worker import Downloader, Worker

from .media_server import MediaServer, media_server  # noqa: F401  (re-exported fixture)

T = TypeVar("T")

# yt-dlp's own retries are off: the queue's retries are what the tests exercise.
TEST_DOWNLOADER_OPTIONS = {"retries": 0, "fragment_retries": 0, "socket_timeout": 5}
SUBPROCESS_TIMEOUT = 30.0
ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def queue(db: DatabaseConfig) -> JobQueue:
    return JobQueue(db)


@pytest.fixture
def downloads(db: DatabaseConfig, tmp_path: Path) -> Path:
    """The download folder (a setting in the test's database); retries wait 50 ms.

    The loopback media server is allowed by the allowed_hosts setting, as an
    operator would allow an internal host: nothing else internal is.
    """
    folder = tmp_path / "downloads"
    store = SettingsRepository(db)
    store.set("allowed_hosts", "127.0.0.1")
    store.set("download_dir", str(folder))
    store.set("retry_backoff_seconds", "0.05")
    return folder


def make_worker(db: DatabaseConfig, **options: Any) -> Worker:
    """A worker for tests: short lease, quick idle polling, yt-dlp without own retries."""
    options.setdefault("lease_seconds", 2.0)
    options.setdefault("idle_max", 0.2)
    options.setdefault("downloader", Downloader(TEST_DOWNLOADER_OPTIONS))
    return Worker(db, **options)


class WorkerThread:
    """A Worker running in a thread (no signal handlers there), joined with a bound."""

    def __init__(self, worker: Worker, burst: bool = True) -> None:
        self.worker = worker
        self.processed: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(burst,), daemon=True)

    def _run(self, burst: bool) -> None:
        try:
            self.processed = self.worker.run(burst=burst)
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            self.worker.db.close()  # this thread's connection

    def start(self) -> WorkerThread:
        self.thread.start()
        return self

    def join(self, timeout: float = 15.0) -> int:
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.worker.stop(abort=True)
            self.thread.join(5)
            raise AssertionError(f"worker thread still running after {timeout:.0f} s")
        if self.error is not None:
            raise self.error
        assert self.processed is not None
        return self.processed


@pytest.fixture
def worker_threads() -> Iterator[list[WorkerThread]]:
    """Worker threads a test starts; any still running at the end are stopped."""
    started: list[WorkerThread] = []
    yield started
    for item in started:
        if item.thread.is_alive():
            item.worker.stop(abort=True)
            item.thread.join(10)


def start_worker_thread(
    started: list[WorkerThread], db: DatabaseConfig, burst: bool = True, **options: Any
) -> WorkerThread:
    item = WorkerThread(make_worker(db, **options), burst=burst)
    started.append(item)
    return item.start()


def database_option(database: str | Path) -> list[str]:
    """The CLI option naming ``database``: an SQLite path, or a postgresql:// URL."""
    if str(database).startswith(("postgresql://", "postgres://")):
        return ["--database-url", str(database)]
    return ["--db", str(database)]


def worker_command(database: str | Path, *args: str) -> list[str]:
    """``collector worker ARGS`` on ``database`` (the ``database`` fixture, or a path)."""
    return [sys.executable, "-m", "collector", *database_option(database), "worker", *args]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """Subprocesses a test starts; any still alive at the end are killed (by pid)."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(SUBPROCESS_TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def spawn_worker(
    started: list[subprocess.Popen], database: str | Path, *args: str, log: Path | None = None
) -> subprocess.Popen:
    """``collector worker ARGS`` in a process of its own, output captured.

    With ``log``, its stderr goes to that file, to be read while it runs.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("w") if log is not None else contextlib.nullcontext() as log_file:
        process = subprocess.Popen(
            worker_command(database, *args),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log_file if log_file is not None else subprocess.PIPE,
            text=True,
        )
    started.append(process)
    return process


def job_where(queue: JobQueue, job_id: str, **wanted: Any) -> Job | None:
    """The job if every ``wanted`` field has its value (for wait_until)."""
    job = queue.get(job_id)
    return job if all(getattr(job, key) == value for key, value in wanted.items()) else None


def downloading(queue: JobQueue, job_id: str) -> Job | None:
    """The job once it is running and some of its bytes have been recorded."""
    job = queue.get(job_id)
    return job if job.status == "running" and job.bytes_downloaded > 0 else None


def files_under(folder: Path) -> list[Path]:
    """Every file under ``folder`` (partial data included), for 'nothing left behind'."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
