"""Waking idle worker slots when the queue may have a job for them.

An idle slot waits on its worker's ``Wakeup`` instead of sleeping out its back-off.
One ``ChangeWatcher`` per worker process (a thread of its own, never one per slot)
notices that the database changed and calls ``Wakeup.notify()``; the slots then try
a claim. The back-off stays as the safety net: a missed notice costs at most one
idle pause, as before.

On SQLite the watcher reads ``PRAGMA data_version`` on a connection of its own every
``interval`` seconds: the number changes when another connection commits (a write
of any worker, the web app or the CLI), not on reads, nor on writes that change
nothing (a claim that found no job). A read of it costs about 10 µs. A change wakes
the slots only if a pending job is claimable now, so the progress writes of running
jobs do not send every idle slot to the claim statement.

Another engine brings its own watcher (on PostgreSQL, LISTEN on one connection per
process) behind the same two methods, ``start(wakeup)`` and ``stop()``.

Within one process, queueing a job notifies directly too (``JobQueue`` announces
what it queued; see ``repositories/queue.py``): serve's web app and its in-process
workers do not wait for the next look at ``data_version``.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from collector.config.database import DatabaseConfig, DatabaseError
from collector.repositories.queue import JobQueue, enqueue_listeners

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 0.05


class Wakeup:
    """What idle slots wait on: a notice counter, and a stop that wakes every waiter.

    A slot reads ``seen()`` before it tries to claim and passes it to ``wait``, so
    a notice that arrives while it claims is not lost: the wait returns at once.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._notices = 0
        self._stopped = False

    def seen(self) -> int:
        with self._cond:
            return self._notices

    def notify(self) -> None:
        """Something may be claimable: wake every waiting slot."""
        with self._cond:
            self._notices += 1
            self._cond.notify_all()

    def stop(self) -> None:
        """The worker stops: wake every waiter now, and every later wait returns at once."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a notice after ``seen``; True if one came (or a stop)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._stopped or self._notices != seen, timeout=max(0.0, timeout)
            )


class ChangeWatcher(Protocol):
    """Calls ``wakeup.notify()`` when the queue may have a new job, from a thread of its own."""

    def start(self, wakeup: Wakeup) -> None:
        """Begin watching; returns at once."""

    def stop(self) -> None:
        """Stop watching and release the connection; returns once the thread ended."""


class DataVersionWatcher:
    """SQLite: ``PRAGMA data_version`` on its own connection, read every ``interval`` s."""

    def __init__(self, db: DatabaseConfig, interval: float = WATCH_INTERVAL) -> None:
        # A DatabaseConfig of its own: its connection belongs to the watcher's thread.
        self.db = DatabaseConfig(db.location, db.busy_timeout_ms, db.dialect)
        self.queue = JobQueue(self.db)
        self.interval = interval
        self.checks = 0  # data_version reads (for tests and the bench)
        self.notices = 0  # changes that found a claimable job
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, wakeup: Wakeup) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(wakeup,), name="queue-watcher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, wakeup: Wakeup) -> None:
        version: int | None = None
        failing = False
        try:
            while not self._done.wait(self.interval):
                try:
                    current = self._version()
                    if version is not None and current != version and self._claimable():
                        self.notices += 1
                        wakeup.notify()
                    version = current
                    if failing:
                        logger.info("queue watcher: reading the database again")
                    failing = False
                except (DatabaseError, self.db.dialect.Error) as exc:
                    if not failing:
                        logger.warning("queue watcher: %s; idle slots poll until it reads", exc)
                    failing, version = True, None
        finally:
            self.db.close()

    def _version(self) -> int:
        version = self.db.dialect.data_version(self.db.connection())
        self.checks += 1
        return version

    def _claimable(self) -> bool:
        return self.queue.has_claimable()


class DirectNotices:
    """Jobs queued in this process on the worker's database wake it without a watcher."""

    def __init__(self, db: DatabaseConfig, wakeup: Wakeup) -> None:
        self.key = db.key
        self.wakeup = wakeup

    def __call__(self, db: DatabaseConfig) -> None:
        if db.key == self.key:
            self.wakeup.notify()

    def __enter__(self) -> DirectNotices:
        enqueue_listeners.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        enqueue_listeners.discard(self)


def watcher_for(db: DatabaseConfig) -> ChangeWatcher | None:
    """The change watcher of this database's engine; None (the back-off alone, and
    same-process notices) for an engine with no cheap change check."""
    return DataVersionWatcher(db) if db.dialect.features.data_version else None
