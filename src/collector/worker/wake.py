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

On PostgreSQL the watcher LISTENs on one connection of its own per worker process
(shared by all its slots; not a pooled one), and JobQueue sends one NOTIFY per
transaction that made a job claimable (see ``repositories/queue.py``: enqueue,
enqueue_many, retry, release, lease recovery), delivered at COMMIT. A lost LISTEN
connection is logged once; until it is back the watcher itself polls for a claimable
job every ``poll_interval`` seconds, and it reconnects with a doubling back-off.

Within one process, queueing a job notifies directly too (``JobQueue`` announces
what it queued; see ``repositories/queue.py``): serve's web app and its in-process
workers do not wait for the next look at ``data_version``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from collector.config.database import DatabaseConfig, DatabaseError
from collector.dialects.base import Listener
from collector.repositories.queue import QUEUE_CHANNEL, JobQueue, enqueue_listeners

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


class _WatcherThread:
    """A watcher's thread: started with the Wakeup it notifies, stopped by stop()."""

    _done: threading.Event
    _thread: threading.Thread | None

    def start(self, wakeup: Wakeup) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(wakeup,), name="queue-watcher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and release the connection; returns once the thread ended."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, wakeup: Wakeup) -> None:
        raise NotImplementedError


class DataVersionWatcher(_WatcherThread):
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


class NotifyWatcher(_WatcherThread):
    """PostgreSQL: LISTEN on a connection of its own, one per worker process.

    ``wait_timeout`` bounds how long a stop waits for the thread. While the LISTEN
    connection is lost, it polls ``has_claimable`` every ``poll_interval`` s (through
    the worker's own pool) and tries to listen again after ``retry_first`` s, then
    twice as long each time up to ``retry_max`` s. Once back, it wakes the slots once
    (a job may have been queued while nobody listened).
    """

    def __init__(
        self,
        db: DatabaseConfig,
        *,
        wait_timeout: float = 0.25,
        poll_interval: float = 0.5,
        retry_first: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self.db = db
        self.queue = JobQueue(db)
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.retry_first, self.retry_max = retry_first, retry_max
        self.notices = 0  # notices that woke the slots
        self.losses = 0  # times the LISTEN connection was lost (or could not be opened)
        self.connects = 0  # times it listened
        self.listener: Listener | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def listening(self) -> bool:
        return self.listener is not None

    def _run(self, wakeup: Wakeup) -> None:
        retry = self.retry_first
        next_try = 0.0
        lost = False
        errors = (DatabaseError, self.db.dialect.Error)
        try:
            while not self._done.is_set():
                if self.listener is None and time.monotonic() >= next_try:
                    try:
                        self.listener = self.db.dialect.listen(self.db.location, QUEUE_CHANNEL)
                        self.connects += 1
                        retry = self.retry_first
                        if lost:
                            logger.warning("queue watcher: listening again; polling stops")
                            lost = False
                            wakeup.notify()  # what was queued while nobody listened
                    except errors as exc:
                        if not lost:
                            self.losses += 1
                            logger.warning(
                                "queue watcher: cannot LISTEN (%s); idle slots poll every "
                                "%g s until it can",
                                exc,
                                self.poll_interval,
                            )
                        lost = True
                        next_try = time.monotonic() + retry
                        retry = min(retry * 2, self.retry_max)
                if self.listener is None:
                    self._poll(wakeup)
                    continue
                try:
                    if self.listener.wait(self.wait_timeout):
                        self.notices += 1
                        wakeup.notify()
                except errors as exc:
                    self._close_listener()
                    self.losses += 1
                    lost = True
                    logger.warning(
                        "queue watcher: lost the LISTEN connection (%s); idle slots poll "
                        "every %g s until it is back",
                        str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                        self.poll_interval,
                    )
                    next_try = time.monotonic() + retry
                    retry = min(retry * 2, self.retry_max)
                    wakeup.notify()  # a notice may have been lost with it
        finally:
            self._close_listener()
            self.db.close()  # this thread's pooled connection, if it borrowed one

    def _poll(self, wakeup: Wakeup) -> None:
        """Without LISTEN: one look for a claimable job, then a pause."""
        try:
            if self.queue.has_claimable():
                wakeup.notify()
        except (DatabaseError, self.db.dialect.Error):
            self.db.close()  # the server may be gone too: the reconnect logs it
        self._done.wait(self.poll_interval)

    def _close_listener(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            try:
                listener.close()
            except Exception:  # closing a broken connection: nothing left to release
                logger.debug("queue watcher: closing the LISTEN connection failed", exc_info=True)


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
    """The change watcher of this database's engine (LISTEN/NOTIFY where the engine has
    notifications, else a cheap change check); None (the back-off alone, and
    same-process notices) for an engine with neither."""
    if db.dialect.features.notifications:
        return NotifyWatcher(db)
    return DataVersionWatcher(db) if db.dialect.features.data_version else None
