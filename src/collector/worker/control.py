"""What keeps a running job honest: a stop flag, a lease heartbeat, a write throttle."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from collector.config.database import DatabaseDamagedError, DatabaseFullError
from collector.repositories.queue import JobQueue

from .errors import DownloadStopped

logger = logging.getLogger(__name__)

CANCEL, LOST, SHUTDOWN = "cancel", "lost", "shutdown"
# Renewals also notice a cancel while no progress is written (a stalled download).
MAX_HEARTBEAT_SECONDS = 2.0


class JobControl:
    """Why the current download must stop; set from any thread, the first reason wins.

    ``on_stop`` callbacks run once, in the thread that stops the job: the engine
    registers one that cuts its connections, since a read from a silent server
    would otherwise block until the socket timeout and never reach a hook.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("a stop callback failed")

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the job is stopped (at once if it already is)."""
        with self._lock:
            if self.reason is None:
                self._callbacks.append(callback)
                return
        callback()

    def observe(self, status: str | None) -> None:
        """Act on the job's status as a lease write returned it (None: not ours any more)."""
        if status is None:
            self.stop(LOST)
        elif status == "cancelling":
            self.stop(CANCEL)

    def check(self) -> None:
        """Raise DownloadStopped if the download must stop (called from yt-dlp's hooks)."""
        if self.reason is not None:
            raise DownloadStopped(self.reason)


class Throttle:
    """True at most once per ``interval`` seconds (the first call always)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: float | None = None

    def ready(self) -> bool:
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        return True


class Heartbeat:
    """Renews a job's lease from a thread of its own, and notices cancel and lost leases.

    Progress writes renew the lease too; the heartbeat covers the stretches without
    progress (extraction, a stalled connection, post-processing).
    """

    def __init__(
        self, queue: JobQueue, job_id: str, worker_id: str, lease: float, control: JobControl
    ) -> None:
        self.queue, self.job_id, self.worker_id = queue, job_id, worker_id
        self.lease, self.control = lease, control
        self.interval = min(lease / 3, MAX_HEARTBEAT_SECONDS)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def renew(self) -> str | None:
        """One renewal: the job's status, None if the job is not ours any more."""
        return self.queue.renew(self.job_id, self.worker_id, self.lease)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._done.wait(self.interval):
                try:
                    status = self.renew()
                except (DatabaseFullError, DatabaseDamagedError):
                    continue  # logged once where it started; the next renewal may fit
                except Exception:
                    logger.exception("%s: could not renew its lease", self._thread.name)
                    continue
                self.control.observe(status)
        finally:
            self.queue.db.close()  # this thread's connection
