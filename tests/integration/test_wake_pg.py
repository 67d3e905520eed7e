"""PostgreSQL: idle workers wake on LISTEN/NOTIFY; a lost LISTEN connection falls back
to polling, says so once, and listens again.

Every idle pause of the slots is 5 s, so a claim well before that came from a notice
(or, with the connection lost, from the watcher's own poll); attempts are counted.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from collector.config.database import DatabaseConfig
from collector.repositories.queue import JobQueue
from collector.worker import Worker
from collector.worker.wake import NotifyWatcher, Wakeup, watcher_for
from tests.integration.test_wake import (
    LONG_PAUSE,
    URL,
    CountingQueue,
    RecordingDownloader,
)
from tests.worker_fixtures import SUBPROCESS_TIMEOUT, WorkerThread, wait_until


@pytest.fixture
def database(pg_schema_url: str) -> str:
    """Every test here runs on PostgreSQL (a schema of its own; skipped without a server)."""
    return pg_schema_url


@pytest.fixture
def pg_db(db: DatabaseConfig) -> DatabaseConfig:
    return db


@pytest.fixture
def idle_pg_worker(pg_db: DatabaseConfig, downloads: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr("collector.worker.loop.IDLE_FIRST", LONG_PAUSE)
    started: list[WorkerThread] = []

    def start(**watcher: float) -> tuple[Worker, CountingQueue, RecordingDownloader]:
        downloader = RecordingDownloader()
        worker = Worker(DatabaseConfig(pg_db.location), downloader=downloader, idle_max=LONG_PAUSE)
        queue = worker.queue = CountingQueue(worker.db)
        for name, value in watcher.items():
            setattr(worker.watcher, name, value)
        started.append(WorkerThread(worker, burst=False).start())
        wait_until(lambda: queue.claims >= 1, what="the first claim attempt")
        wait_until(lambda: worker.watcher.listening, what="the watcher to LISTEN")
        return worker, queue, downloader

    yield start
    for item in started:
        if item.thread.is_alive():
            item.worker.stop(abort=True)
            item.thread.join(10)
        item.worker.db.dispose()


def add_from_another_process(url: str, location: str) -> float:
    subprocess.run(
        [sys.executable, "-m", "collector", "--database-url", location, "add", url],
        check=True,
        capture_output=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    return time.monotonic()


def test_postgresql_workers_get_a_notify_watcher(pg_db: DatabaseConfig) -> None:
    assert isinstance(watcher_for(pg_db), NotifyWatcher)


def test_an_idle_worker_claims_a_job_queued_by_another_process_on_notice(
    pg_db: DatabaseConfig, idle_pg_worker: Any
) -> None:
    worker, queue, downloader = idle_pg_worker()
    assert queue.claims == 1 and worker.watcher.notices == 0

    add_from_another_process(URL.format("pg-1"), str(pg_db.location))
    wait_until(lambda: downloader.jobs, timeout=LONG_PAUSE, what="the claim")

    assert worker.watcher.notices == 1
    assert queue.taken_on == [2]  # the attempt the notice caused, not a later poll
    assert JobQueue(pg_db).get(downloader.jobs[0]).url == URL.format("pg-1")


def test_a_bulk_insert_sends_one_notice(pg_db: DatabaseConfig, downloads: Path) -> None:
    listener = pg_db.dialect.listen(pg_db.location, "collector_jobs")
    try:
        JobQueue(pg_db).enqueue_many([URL.format(f"bulk-{n}") for n in range(50)])
        assert listener.wait(2.0) == 1
        assert listener.wait(0.2) == 0
    finally:
        listener.close()


def test_a_lost_listen_connection_falls_back_to_polling_then_listens_again(
    pg_db: DatabaseConfig, idle_pg_worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="collector.worker.wake")
    # Time enough to see it poll while it is lost: listening again 3 s after the loss.
    worker, _queue, downloader = idle_pg_worker(retry_first=3.0)
    watcher: NotifyWatcher = worker.watcher
    pid = watcher.listener.backend_pid
    admin = DatabaseConfig(pg_db.location)
    try:
        admin.execute_query("SELECT pg_catalog.pg_terminate_backend(?)", (pid,))
        wait_until(lambda: watcher.losses == 1, what="the watcher to notice the loss")
        assert not watcher.listening
        job = JobQueue(admin).enqueue(URL.format("pg-lost")).job
        wait_until(lambda: downloader.jobs, timeout=LONG_PAUSE, what="a claim by polling")
        assert downloader.jobs == [job.id]
        assert watcher.connects == 1  # claimed while nobody listened
        wait_until(lambda: watcher.connects == 2, timeout=15, what="listening again")
    finally:
        admin.dispose()
    lost = [r for r in caplog.records if "lost the LISTEN connection" in r.getMessage()]
    assert len(lost) == 1
    assert any("listening again" in r.getMessage() for r in caplog.records)
    assert watcher.listener.backend_pid != pid

    # And notices work again.
    add_from_another_process(URL.format("pg-after"), str(pg_db.location))
    wait_until(lambda: len(downloader.jobs) == 2, timeout=LONG_PAUSE, what="the next claim")


def test_stopping_closes_the_listen_connection(pg_db: DatabaseConfig) -> None:
    watcher = NotifyWatcher(pg_db)
    watcher.start(Wakeup())
    wait_until(lambda: watcher.listening, what="the watcher to LISTEN")
    pid = watcher.listener.backend_pid
    watcher.stop()
    rows = pg_db.execute_query("SELECT 1 FROM pg_catalog.pg_stat_activity WHERE pid = ?", (pid,))
    assert rows == [] or wait_until(
        lambda: (
            not pg_db.execute_query(
                "SELECT 1 FROM pg_catalog.pg_stat_activity WHERE pid = ?", (pid,)
            )
        ),
        what="the session to end",
    )
