"""Subscription checks, run by the workers between downloads.

Each worker looks for a due check at most every CHECK_EVERY_SECONDS (one look is one
index probe). A check lists the channel or playlist without downloading anything,
queues the entries the library does not have yet (``enqueue_entries`` skips an entry
whose identity any job already has, whatever its status: a video downloaded once, or
whose files the keep rule removed, is never queued again), then applies the keep
rule: of the subscription's completed downloads that still have their files, those
past the newest ``keep_newest`` lose their files, and their jobs get ``removed_at``.

An entry whose listing gives no upload date is queued even with ``after_date``: a flat
listing of many sites has no dates, and a video skipped then would never be seen again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from collector.config.database import DatabaseError
from collector.config.runtime import RuntimeSettings
from collector.models.entries import Entry, Listing
from collector.models.outbound import AllowedHosts
from collector.models.redaction import redact_text, redact_url
from collector.models.subscription import Subscription
from collector.repositories.queue import JobQueue
from collector.repositories.subscriptions import SubscriptionRepository

from .control import Heartbeat, JobControl
from .errors import DownloadFailed, DownloadStopped, clean_message
from .files import remove_folder
from .job_run import job_folder

logger = logging.getLogger(__name__)

# How often a worker looks for a due check, and how long a check's lease lasts: renewed
# every 2 s while the check runs (CheckHeartbeat), so it runs out only when its worker
# died, and another worker takes the check over within a minute.
CHECK_EVERY_SECONDS = 5.0
CHECK_LEASE_SECONDS = 60.0
NOT_A_PLAYLIST = "the URL lists as a single video, not a playlist or channel"


class Lister(Protocol):
    """What a check needs of the downloader (worker/engine.py Downloader)."""

    def list_entries(
        self, url: str, stop: object = None, allowed: AllowedHosts = ...
    ) -> Listing: ...


def wanted(entries: Sequence[Entry], after_date: str | None) -> list[Entry]:
    """The entries uploaded on or after ``after_date`` (YYYY-MM-DD), and those whose
    date is unknown; all of them without ``after_date``."""
    if after_date is None:
        return list(entries)
    return [e for e in entries if e.upload_date is None or e.upload_date >= after_date]


class SubscriptionChecker:
    """Claims due subscription checks and runs them (one process may run several slots:
    the time between looks is shared)."""

    def __init__(
        self,
        queue: JobQueue,
        downloader: Lister,
        every: float = CHECK_EVERY_SECONDS,
        lease_seconds: float = CHECK_LEASE_SECONDS,
    ) -> None:
        self.queue = queue
        self.subscriptions = SubscriptionRepository(queue.db)
        self.downloader = downloader
        self.every = every
        self.lease_seconds = lease_seconds
        self._lock = threading.Lock()
        self._next_look = 0.0

    def maybe_check(self, worker_id: str, settings: RuntimeSettings) -> bool:
        """Run one due check if it is time to look; whether one ran."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_look:
                return False
            self._next_look = now + self.every
        return self.check_once(worker_id, settings)

    def check_once(self, worker_id: str, settings: RuntimeSettings) -> bool:
        """Claim the most overdue check and run it; False if none could be claimed."""
        if not self.subscriptions.any_due():
            return False  # the usual look: a read, no write transaction
        sub = self.subscriptions.claim_due(worker_id, self.lease_seconds)
        if sub is None:
            return False
        control = JobControl()
        try:
            with CheckHeartbeat(self, sub.id, worker_id, control):
                queued, title = self.run_check(sub, settings, control)
        except DownloadStopped:
            logger.warning("subscription %s: check lease lost to another worker", sub.id)
            return True
        except DownloadFailed as exc:
            if control.reason is not None:  # the listing was cut: the lease went elsewhere
                logger.warning("subscription %s: check lease lost to another worker", sub.id)
                return True
            self._failed(sub, worker_id, clean_message(exc.message) or "the listing failed")
        except CheckFailed as exc:
            self._failed(sub, worker_id, str(exc))
        except DatabaseError:
            raise  # the loop's to handle (damaged, full); the lease brings the check back
        except Exception as exc:  # a check must end, whatever went wrong
            logger.exception("subscription %s: check failed", sub.id)
            self._failed(sub, worker_id, redact_text(str(exc))[:300] or type(exc).__name__)
        else:
            self.subscriptions.finish_check(sub.id, worker_id, queued=queued, title=title)
            logger.info("subscription %s: checked, %d new job(s)", sub.id, queued)
        return True

    def _failed(self, sub: Subscription, worker_id: str, message: str) -> None:
        done = self.subscriptions.finish_check(sub.id, worker_id, error=message)
        failures = done.failures if done is not None else sub.failures + 1
        logger.warning(
            "subscription %s (%s): check failed (%d in a row): %s",
            sub.id,
            redact_url(sub.url),
            failures,
            message,
        )

    def run_check(
        self, sub: Subscription, settings: RuntimeSettings, control: JobControl | None = None
    ) -> tuple[int, str | None]:
        """List, queue the new entries, apply the keep rule: (jobs queued, title).

        ``control`` stops the listing when the check's lease is lost (DownloadStopped
        once the listing is over: nothing is queued then)."""
        control = control or JobControl()
        listing = self.downloader.list_entries(
            sub.url, stop=control, allowed=settings.allowed_hosts
        )
        control.check()
        if not listing.playlist:
            raise CheckFailed(NOT_A_PLAYLIST)
        entries = wanted(listing.entries, sub.after_date)
        jobs = self.queue.enqueue_entries(entries, subscription_id=sub.id, format=sub.format)
        if sub.keep_newest is not None:
            self.apply_keep(sub, settings)
        return len(jobs), listing.title

    def apply_keep(self, sub: Subscription, settings: RuntimeSettings) -> int:
        """Remove the files of the subscription's downloads past the newest
        ``keep_newest``; the number of jobs whose files were removed."""
        if sub.keep_newest is None:
            return 0
        removed = 0
        for kept in self.subscriptions.kept_jobs(sub.id)[sub.keep_newest :]:
            folder = job_folder(settings, kept.id)
            if not remove_folder(folder, settings.download_dir):
                logger.error("subscription %s: could not remove %s", sub.id, folder)
                continue
            if self.subscriptions.mark_removed(kept.id):
                removed += 1
        if removed:
            logger.info("subscription %s: removed the files of %d job(s)", sub.id, removed)
        return removed


class CheckHeartbeat(Heartbeat):
    """Renews a check's lease from a thread of its own while the check runs (a listing of
    a large channel is many requests); a lease another worker took stops the listing."""

    def __init__(
        self, checker: SubscriptionChecker, sub_id: str, worker_id: str, control: JobControl
    ) -> None:
        super().__init__(checker.queue, sub_id, worker_id, checker.lease_seconds, control)
        self.subscriptions = checker.subscriptions

    def renew(self) -> str | None:
        held = self.subscriptions.renew_check(self.job_id, self.worker_id, self.lease)
        return "running" if held else None


class CheckFailed(Exception):
    """A check that cannot succeed as the subscription stands (its message is shown)."""
