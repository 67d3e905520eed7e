"""Worker: claims jobs from the queue and runs them, one per loop iteration per slot.

``run(burst=True)`` returns once no job is pending (tests, cron). ``concurrency``
runs that many slots, each in its own thread with its own database connection
(DatabaseConfig gives each thread one). The first SIGTERM or SIGINT lets running
downloads finish and then stops; a second one stops them and hands their jobs back
to the queue. A killed worker's jobs come back when their leases expire: every
worker recovers expired leases before it claims. An idle slot backs off up to
``idle_max`` seconds, but a change in the queue wakes it sooner (worker/wake.py).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

from collector.config.database import (
    DatabaseConfig,
    DatabaseDamagedError,
    DatabaseFullError,
    get_db_config,
)
from collector.config.runtime import default_min_free_space
from collector.config.settings import Config
from collector.repositories.queue import JobQueue
from collector.repositories.settings_repository import load_settings

from .control import SHUTDOWN, JobControl
from .engine import Downloader
from .files import remove_folder
from .job_run import JobRun, job_folder
from .metrics import WorkerMetrics
from .storage import FolderGate
from .subscriptions import SubscriptionChecker
from .upkeep import Upkeep
from .wake import ChangeWatcher, DirectNotices, Wakeup, watcher_for

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60.0
MIN_LEASE_SECONDS = 0.5
# A day: longer only delays recovery after a crash, and expiry times past year 9999
# cannot be written at all (every claim would fail).
MAX_LEASE_SECONDS = 86_400.0
IDLE_FIRST, IDLE_MAX = 0.2, 5.0
MAX_CONCURRENCY = 64


class Worker:
    """Claims and downloads jobs until stopped (or, in burst mode, until none is pending)."""

    def __init__(
        self,
        db: DatabaseConfig | None = None,
        *,
        concurrency: int = 1,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        downloader: Downloader | None = None,
        name: str | None = None,
        idle_max: float = IDLE_MAX,
        metrics: WorkerMetrics | None = None,
        watch: bool = True,
    ) -> None:
        if isinstance(concurrency, bool) or not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be from 1 to {MAX_CONCURRENCY}, not {concurrency}")
        if not lease_seconds >= MIN_LEASE_SECONDS:
            raise ValueError(f"lease_seconds must be at least {MIN_LEASE_SECONDS}")
        if lease_seconds > MAX_LEASE_SECONDS:
            raise ValueError(f"lease_seconds must be at most {MAX_LEASE_SECONDS:g}")
        Config.allowed_hosts()  # a bad COLLECTOR_ALLOWED_HOSTS stops the start, not each job
        default_min_free_space()  # and so does a bad COLLECTOR_MIN_FREE_SPACE
        self.db = db if db is not None else get_db_config()
        self.queue = JobQueue(self.db)
        self.concurrency = concurrency
        self.lease_seconds = float(lease_seconds)
        self.downloader = downloader or Downloader()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.idle_max = idle_max
        self.metrics = metrics or WorkerMetrics()
        self._stopping = threading.Event()
        # Idle slots wait here; the watcher (one per worker) and this process's
        # enqueues wake them (worker/wake.py). Without ``watch``, only the back-off.
        self.wakeup = Wakeup()
        self.watcher: ChangeWatcher | None = watcher_for(self.db) if watch else None
        self._aborting = False
        self._lock = threading.Lock()
        self._controls: set[JobControl] = set()
        self._processed = 0
        self._next_recovery = 0.0
        self.upkeep = Upkeep(self.db, self.name)
        self._damaged: DatabaseDamagedError | None = None
        self._folder = FolderGate()  # closed while the download folder is full or unwritable
        self.checker = SubscriptionChecker(self.queue, self.downloader)

    # -- running and stopping ---------------------------------------------------------

    def run(self, burst: bool = False) -> int:
        """Work until stopped (or the queue is empty, with ``burst``).

        Returns the job runs of this call (a job retried twice counts three times).
        """
        previous = self._install_signal_handlers()
        before = self._processed
        logger.info("worker %s started (%d slot(s))", self.name, self.concurrency)
        threads = [
            threading.Thread(target=self._slot, args=(i, burst), name=f"slot-{i}", daemon=True)
            for i in range(1, self.concurrency)
        ]
        watcher = None if burst else self.watcher
        notices = DirectNotices(self.db, self.wakeup)
        try:
            if watcher is not None:
                watcher.start(self.wakeup)
            with notices:
                for thread in threads:
                    thread.start()
                self._slot(0, burst)
                for thread in threads:
                    while thread.is_alive():
                        thread.join(0.2)  # stay responsive to signals
        finally:
            if watcher is not None:
                watcher.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        processed = self._processed - before
        logger.info("worker %s stopped after %d job(s)", self.name, processed)
        if self._damaged is not None:
            raise self._damaged
        return processed

    def stop(self, abort: bool = False) -> None:
        """Stop after the running downloads; ``abort``: stop them and hand their jobs back."""
        self._stopping.set()
        self.wakeup.stop()  # no slot sits out its idle pause
        if abort:
            with self._lock:
                self._aborting = True  # also for a job claimed while this runs
                controls = list(self._controls)
            for control in controls:
                control.stop(SHUTDOWN)

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stopping.is_set():
            logger.warning("%s again: stopping downloads and handing their jobs back", name)
            self.stop(abort=True)
        else:
            logger.warning("%s: finishing running downloads, then stopping", name)
            self.stop()

    # -- the loop ---------------------------------------------------------------------------

    def _slot(self, index: int, burst: bool) -> None:
        worker_id = f"{self.name}/{index}"
        idle = IDLE_FIRST
        try:
            while not self._stopping.is_set():
                seen = self.wakeup.seen()  # a notice during the claim cuts the pause
                try:
                    if self.work_once(worker_id):
                        idle = IDLE_FIRST
                        continue
                    # A closed folder is looked at again every idle_max seconds.
                    closed = self._folder.reason is not None
                    wait = None if closed else self.queue.pending_wait()
                    if closed and not burst:
                        wait = self.idle_max
                except DatabaseDamagedError as exc:
                    # Nothing to do but stop: leases bring the jobs back once it is restored.
                    self._damaged = exc
                    self.stop(abort=True)
                    return
                except DatabaseFullError:
                    wait = None  # logged once where the condition started; retried, backing off
                except Exception:
                    logger.exception("worker %s: loop iteration failed", worker_id)
                    wait = None
                if wait is None and burst:
                    return
                pause = idle if wait is None else min(max(wait, 0.05), self.idle_max)
                idle = min(idle * 2, self.idle_max)
                if self.wakeup.wait(seen, pause):
                    idle = IDLE_FIRST
        finally:
            if index:
                self.db.close()  # this slot thread's connection

    def work_once(self, worker_id: str) -> bool:
        """Recover expired leases, claim one job and run it; False if none was claimable.

        A stopping worker claims nothing, nor one whose download folder is full or
        unwritable (worker/storage.py).
        """
        if self._stopping.is_set():
            return False
        settings = load_settings(self.db)
        self._recover(settings.max_retries)
        self.upkeep.run_due()  # fresh planner statistics, folded counts (worker/upkeep.py)
        self.checker.maybe_check(worker_id, settings)  # a due subscription's check, if any
        if not self._folder.open(settings.download_dir, settings.min_free_space):
            return False
        job = self.queue.claim(worker_id, self.lease_seconds)
        if job is None:
            return False
        control = JobControl()
        with self._lock:
            self._controls.add(control)
            if self._aborting:
                control.stop(SHUTDOWN)  # hand it straight back
        try:
            run = JobRun(
                self.queue,
                self.downloader,
                job,
                worker_id,
                self.lease_seconds,
                settings,
                control,
                self.metrics,
            )
            run.run()
            if run.folder_error is not None:
                self._folder.close_after(settings.download_dir, run.folder_error)
        finally:
            with self._lock:
                self._controls.discard(control)
                self._processed += 1
        return True

    def _recover(self, max_retries: int) -> None:
        """Return jobs of dead workers to the queue, at most every few seconds per worker."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_recovery:
                return
            self._next_recovery = now + min(self.lease_seconds / 2, IDLE_MAX)
        recovered = self.queue.recover_expired(max_retries)
        if recovered.cancelled:
            settings = load_settings(self.db)
            for job in recovered.cancelled:
                remove_folder(job_folder(settings, job.id), settings.download_dir)
