"""One claimed job, from download to its final status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector.config.database import DatabaseDamagedError, DatabaseError, DatabaseFullError
from collector.config.runtime import RuntimeSettings
from collector.models.entries import Listing
from collector.models.job import Job
from collector.models.redaction import redact_url
from collector.repositories.queue import JobNotFoundError, JobQueue

from .control import CANCEL, LOST, SHUTDOWN, Heartbeat, JobControl, Throttle
from .engine import Downloader, DownloadResult, ProgressUpdate
from .errors import DownloadFailed, DownloadStopped, clean_message
from .files import remove_folder, remove_partial
from .metrics import WorkerMetrics
from .storage import folder_is_the_cause, storage_error

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 1.0


class JobRun:
    """Downloads one job under its lease and records how it ended.

    ``run()`` returns the outcome: completed, failed, retrying, cancelled, released
    (handed back at shutdown), requeued (the download folder could not take it: see
    ``folder_error``) or lost (the lease went to another worker).
    """

    def __init__(
        self,
        queue: JobQueue,
        downloader: Downloader,
        job: Job,
        worker_id: str,
        lease_seconds: float,
        settings: RuntimeSettings,
        control: JobControl | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.queue, self.downloader, self.job = queue, downloader, job
        self.worker_id, self.lease, self.settings = worker_id, lease_seconds, settings
        self.control = control or JobControl()
        self.metrics = metrics or WorkerMetrics()
        self.folder = job_folder(settings, job.id)
        self.throttle = Throttle(PROGRESS_INTERVAL)
        self.percent = 0
        # Set when the download folder was full or unwritable (the worker stops claiming).
        self.folder_error: OSError | None = None

    def run(self) -> str:
        logger.info("job %s: downloading %s", self.job.id, redact_url(self.job.url))
        started, error, result = self.metrics.job_started(self.job), None, None
        try:
            with Heartbeat(self.queue, self.job.id, self.worker_id, self.lease, self.control):
                result = self.downloader.download(
                    self.job.url,
                    self.folder,
                    self.on_progress,
                    self.control,
                    allowed=self.settings.allowed_hosts,
                    format=self.job.format or self.settings.default_format,
                )
                self.control.check()
        except Exception as exc:
            error = exc
            outcome = self._record(self._after_error, exc)
        else:
            outcome = self._record(self._after_success, result)
        logger.info("job %s: %s", self.job.id, outcome)
        self.metrics.job_ended(self.job, outcome, started, error, result)
        return outcome

    def _record(self, record: Callable[[Any], str], what: Any) -> str:
        """Write how the job ended; on a full disk, leave it to lease recovery."""
        try:
            return record(what)
        except DatabaseFullError as exc:
            logger.warning(
                "job %s: its outcome was not recorded (%s); it goes back to the queue "
                "when its lease expires",
                self.job.id,
                exc.reason,
            )
            return "unrecorded"

    def on_progress(self, update: ProgressUpdate) -> None:
        """yt-dlp's progress, written at most once a second; raises to stop the download."""
        self.control.check()
        if update.percent is not None:
            self.percent = min(update.percent, 99)  # 100 means completed
        if not self.throttle.ready():
            return
        try:
            status = self.queue.report_progress(
                self.job.id,
                self.worker_id,
                self.lease,
                progress=self.percent,
                bytes_downloaded=update.bytes_downloaded,
                operation=update.operation[:200],
                title=update.title,
            )
        except DatabaseError as exc:
            # Progress is worth a retry next second, not the download: the heartbeat
            # keeps the lease, and a lost one is noticed there. A full disk or a
            # damaged file is logged once, where it started.
            if not isinstance(exc, (DatabaseFullError, DatabaseDamagedError)):
                logger.warning("job %s: progress not recorded: %s", self.job.id, exc)
            return
        self.control.observe(status)
        self.control.check()

    def _after_success(self, result: DownloadResult) -> str:
        if result.listing is not None:
            return self._after_listing(result.listing)
        files = [(f.path, f.file_type, f.size) for f in result.files]
        done = self.queue.complete(
            self.job.id,
            self.worker_id,
            files,
            title=result.title,
            bytes_downloaded=result.bytes_downloaded,
            metadata=result.metadata,
        )
        if done is None:
            return self._not_running()
        # Only once the job is ours and completed: a worker that lost its lease must not
        # touch the folder, which the job's new holder is writing to.
        remove_partial(self.folder)
        return "completed"

    def _after_listing(self, listing: Listing) -> str:
        """A playlist or channel: completed as listed, its new entries queued as its
        children (in the playlist's format)."""
        done = self.queue.complete_listing(
            self.job.id, self.worker_id, listing, format=self.job.format
        )
        if done is None:
            return self._not_running()
        remove_folder(self.folder, self.settings.download_dir)  # nothing was downloaded
        return "listed"

    def _after_error(self, exc: Exception) -> str:
        reason = self.control.reason or (exc.reason if isinstance(exc, DownloadStopped) else None)
        if reason == CANCEL:
            return self._cancel()
        if reason == LOST:
            logger.warning("job %s: lease lost to another worker; leaving it", self.job.id)
            return "lost"
        if reason == SHUTDOWN:
            released = self.queue.release(self.job.id, self.worker_id)
            return "released" if released is not None else self._not_running()
        folder_error = storage_error(exc)
        if folder_error is not None:
            if folder_is_the_cause(self.settings.download_dir, folder_error):
                return self._requeue(folder_error)
            return self._failed(clean_message(str(folder_error)), transient=False)
        if isinstance(exc, DownloadFailed):
            return self._failed(exc.message, exc.transient)
        logger.exception("job %s: unexpected error", self.job.id)
        return self._failed(clean_message(f"{type(exc).__name__}: {exc}"), transient=False)

    def _failed(self, message: str, transient: bool) -> str:
        if transient and self.job.retry_count < self.settings.max_retries:
            delay = self.settings.retry_delay(self.job.retry_count)
            logger.warning("job %s: %s; retrying in %.3g s", self.job.id, message, delay)
            job = self.queue.reschedule(self.job.id, self.worker_id, message, delay)
            return "retrying" if job is not None else self._not_running()
        if not self._still_ours():
            return self._not_running()
        logger.warning("job %s failed: %s", self.job.id, message)
        # Files go before the status: once failed, a retry may start a new download here.
        remove_folder(self.folder, self.settings.download_dir)
        job = self.queue.fail(self.job.id, self.worker_id, message)
        return "failed" if job is not None else self._not_running()

    def _requeue(self, error: OSError) -> str:
        """The download folder is full or unwritable: back to pending, no retry spent."""
        if not self._still_ours():
            return self._not_running()
        reason = error.strerror or str(error)
        logger.warning(
            "job %s: back to pending, the download folder failed: %s", self.job.id, reason
        )
        remove_folder(self.folder, self.settings.download_dir)
        self.folder_error = error
        operation = f"waiting for the download folder: {reason}"[:200]
        job = self.queue.release(self.job.id, self.worker_id, operation)
        return "requeued" if job is not None else self._not_running()

    def _still_ours(self) -> bool:
        """Renew the lease: True if this worker still runs the job (and may touch its files)."""
        return self.queue.renew(self.job.id, self.worker_id, self.lease) == "running"

    def _cancel(self) -> str:
        if self.queue.renew(self.job.id, self.worker_id, self.lease) is None:
            logger.warning("job %s left this worker before its cancel was done", self.job.id)
            return "lost"
        remove_folder(self.folder, self.settings.download_dir)
        job = self.queue.finish_cancel(self.job.id, self.worker_id)
        return "cancelled" if job is not None else "lost"

    def _not_running(self) -> str:
        """The job left 'running' under us: a cancel that raced the end, or a lost lease."""
        try:
            current = self.queue.get(self.job.id)
        except JobNotFoundError:
            logger.warning("job %s was deleted while it ran", self.job.id)
            return "lost"
        if current.status == "cancelling" and current.worker_id == self.worker_id:
            return self._cancel()
        logger.warning("job %s is %s, no longer ours", self.job.id, current.status)
        return "lost"


def job_folder(settings: RuntimeSettings, job_id: str) -> Path:
    """Where a job's files go: a folder of its own under the download folder."""
    return settings.download_dir / job_id
