"""Idle workers wake on a change instead of sleeping out their back-off.

Every idle pause here is 5 s (IDLE_FIRST and idle_max), so a job claimed well
before that was claimed because of a wake-up; the claim attempts are counted too,
so "nothing changed, nothing claimed" is a count, not a timing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from collector.config.database import DatabaseConfig
from collector.models.job import Job
from collector.repositories import SettingsRepository
from collector.repositories.queue import JobQueue
from collector.worker import Downloader, DownloadResult, Worker
from collector.worker.wake import DataVersionWatcher, Wakeup, watcher_for
from tests.worker_fixtures import (
    SUBPROCESS_TIMEOUT,
    WorkerThread,
    job_where,
    spawn_worker,
    wait_until,
)

pytestmark = pytest.mark.both_engines

LONG_PAUSE = 5.0
# Well under the 5 s pause, and generous for a loaded machine.
WAKE_BOUND = 2.5
URL = "http://127.0.0.1:9/clip-{}"


class RecordingDownloader(Downloader):
    """Downloads nothing; remembers the jobs it was given (by folder name: the job id)."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[str] = []

    def download(self, url: str, folder: Path, *args: Any, **kwargs: Any) -> DownloadResult:
        self.jobs.append(folder.name)
        return DownloadResult(title=None, files=[], bytes_downloaded=0)


class CountingQueue(JobQueue):
    """A JobQueue that counts claim attempts, and notes which ones took a job."""

    def __init__(self, db: DatabaseConfig) -> None:
        super().__init__(db)
        self.claims = 0
        self.taken_on: list[int] = []

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        self.claims += 1
        job = super().claim(worker_id, lease_seconds)
        if job is not None:
            self.taken_on.append(self.claims)
        return job


@pytest.fixture
def long_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("collector.worker.loop.IDLE_FIRST", LONG_PAUSE)


@pytest.fixture
def idle_worker(
    db: DatabaseConfig,
    database: str,
    downloads: Path,
    long_pauses: None,
    request: pytest.FixtureRequest,
) -> Any:
    """Start a Worker (watch on unless the test is marked otherwise) once it is idle."""
    started: list[WorkerThread] = []

    def start(watch: bool = True) -> tuple[Worker, CountingQueue, RecordingDownloader, Any]:
        downloader = RecordingDownloader()
        worker = Worker(
            DatabaseConfig(database), downloader=downloader, idle_max=LONG_PAUSE, watch=watch
        )
        queue = worker.queue = CountingQueue(worker.db)
        item = WorkerThread(worker, burst=False).start()
        started.append(item)
        wait_until(lambda: queue.claims >= 1, what="the first claim attempt")
        if isinstance(worker.watcher, DataVersionWatcher):
            checks = worker.watcher.checks
            wait_until(lambda: worker.watcher.checks > checks + 2, what="the watcher reading")
        return worker, queue, downloader, item

    yield start
    for item in started:
        if item.thread.is_alive():
            item.worker.stop(abort=True)
            item.thread.join(10)


def add_from_another_process(db_path: Path, url: str) -> float:
    """``collector add URL`` in a process of its own; the time it exited (committed)."""
    subprocess.run(
        [sys.executable, "-m", "collector", "--db", str(db_path), "add", url],
        check=True,
        capture_output=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    return time.monotonic()


@pytest.mark.sqlite_only
def test_an_idle_worker_claims_a_job_queued_by_another_process_at_once(
    db: DatabaseConfig, idle_worker: Any
) -> None:
    """Another process's commit is seen by the data_version watcher: SQLite's."""
    worker, queue, downloader, _ = idle_worker()
    assert queue.claims == 1 and worker.watcher.notices == 0

    committed = add_from_another_process(db.db_path, URL.format(1))
    done = wait_until(
        lambda: downloader.jobs and time.monotonic(), timeout=LONG_PAUSE, what="the claim"
    )

    assert done - committed < WAKE_BOUND
    assert worker.watcher.notices == 1
    assert queue.taken_on == [2]  # the attempt after the wake-up, not a later poll
    assert JobQueue(db).get(downloader.jobs[0]).url == URL.format(1)
    wait_until(lambda: job_where(JobQueue(db), downloader.jobs[0], status="completed"))


@pytest.mark.sqlite_only
def test_without_a_new_job_an_idle_worker_claims_nothing(
    db: DatabaseConfig, idle_worker: Any
) -> None:
    """The data_version watcher reads on and wakes nothing: SQLite's watcher."""
    worker, queue, downloader, _ = idle_worker()
    # A commit that queues nothing (a setting) changes data_version but wakes no slot.
    SettingsRepository(DatabaseConfig(db.db_path)).set("max_retries", "2")
    checks = worker.watcher.checks
    wait_until(lambda: worker.watcher.checks > checks + 10, what="ten more watcher reads")

    assert queue.claims == 1
    assert worker.watcher.notices == 0
    assert downloader.jobs == []


def test_a_job_queued_in_the_same_process_wakes_the_worker_without_a_watcher(
    database: str, idle_worker: Any
) -> None:
    worker, queue, downloader, _ = idle_worker(watch=False)
    assert worker.watcher is None

    queued = time.monotonic()
    job = JobQueue(DatabaseConfig(database)).enqueue(URL.format(2)).job
    done = wait_until(lambda: downloader.jobs and time.monotonic(), timeout=LONG_PAUSE)

    assert done - queued < WAKE_BOUND
    assert downloader.jobs == [job.id]
    assert queue.taken_on == [2]


def test_a_batch_wakes_the_worker_once_and_it_drains_it(database: str, idle_worker: Any) -> None:
    downloader = idle_worker(watch=False)[2]
    urls = [URL.format(f"batch-{n}") for n in range(5)]
    jobs = [e.job.id for e in JobQueue(DatabaseConfig(database)).enqueue_many(urls)]

    wait_until(lambda: len(downloader.jobs) == 5, timeout=LONG_PAUSE, what="the batch")
    assert downloader.jobs == jobs  # oldest first, each once


def test_stop_while_idle_is_prompt(idle_worker: Any) -> None:
    worker, queue, _, item = idle_worker()
    stopping = time.monotonic()
    worker.stop()
    item.join(WAKE_BOUND)  # fails the test if the worker is still running then

    assert time.monotonic() - stopping < WAKE_BOUND
    assert not any(t.name == "queue-watcher" for t in threading.enumerate())
    assert queue.claims == 1


def test_sigterm_stops_an_idle_worker_process_promptly(
    database: str, downloads: Path, processes: list[subprocess.Popen], tmp_path: Path
) -> None:
    assert not downloads.exists()
    process = spawn_worker(processes, database, log=tmp_path / "worker.log")
    # The loop made the download folder before its first claim: its handlers are in.
    wait_until(downloads.exists, timeout=SUBPROCESS_TIMEOUT, what="the first claim")
    time.sleep(1.0)  # past the first idle pauses, into the longer ones
    signalled = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    process.wait(SUBPROCESS_TIMEOUT)

    assert process.returncode == 0
    assert time.monotonic() - signalled < WAKE_BOUND


def test_wakeup_keeps_a_notice_that_came_before_the_wait() -> None:
    wakeup = Wakeup()
    seen = wakeup.seen()
    wakeup.notify()
    assert wakeup.wait(seen, 0.0) is True
    assert wakeup.wait(wakeup.seen(), 0.0) is False
    wakeup.stop()
    assert wakeup.wait(wakeup.seen(), LONG_PAUSE) is True  # returns at once


@pytest.mark.sqlite_only
def test_data_version_changes_on_another_connections_commit_only(
    db: DatabaseConfig, downloads: Path
) -> None:
    """PRAGMA data_version is SQLite's."""
    watcher = DataVersionWatcher(db)
    try:
        first = watcher._version()
        JobQueue(db).claim("nobody", 1.0)  # a write that changes nothing
        SettingsRepository(watcher.db).set("max_retries", "2")  # its own connection's
        assert watcher._version() == first
        JobQueue(DatabaseConfig(db.db_path)).enqueue(URL.format(3))
        assert watcher._version() != first
    finally:
        watcher.db.close()


@pytest.mark.sqlite_only
def test_an_engine_without_a_change_counter_gets_no_watcher(db: DatabaseConfig) -> None:
    """Starts from SQLite, the engine with a change counter, and takes it away."""
    assert isinstance(watcher_for(db), DataVersionWatcher)
    no_counter = replace(db.dialect.features, data_version=False)
    engine = SimpleNamespace(dialect=SimpleNamespace(features=no_counter))

    assert watcher_for(engine) is None  # the back-off and same-process notices alone
