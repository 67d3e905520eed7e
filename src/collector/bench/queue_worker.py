"""A worker process for ``collector bench queue``: collector's Worker, a no-op download.

``python -m collector.bench.queue_worker DB RECORD [--no-watch] [--batch N]`` runs the
real claim, lease and finish path of JobQueue (Worker.run, one slot); only the
download is skipped. DB is an SQLite path or a postgresql:// URL. Each download
appends ``job_id worker_id unix_time`` to RECORD, so the bench can count every job
run (a job claimed twice is there twice) and see when it started. A file
RECORD.ready appears once the worker runs; SIGTERM stops it.

With ``--batch N`` (N > 1) it runs the queue's batch path instead of Worker.run: it
claims up to N jobs in one statement (``JobQueue.claim_many``), runs the no-op for
each, and completes them with its next claim (``JobQueue.complete_and_claim``: one
statement on PostgreSQL); idle, it waits on the same change watcher (LISTEN/NOTIFY on
PostgreSQL) with the same back-off, and keeps up the statistics and the counts as
Worker does (worker/upkeep.py). After a claim that found less than a full batch,
the next one waits until FILL_PAUSE after it.
This skips what Worker.run does around each job (the settings read, the download
folder check, the lease heartbeat thread, files and per-job outcome).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from collector.config.database import DatabaseConfig
from collector.models.outbound import NO_HOSTS, AllowedHosts
from collector.repositories.queue import JobQueue
from collector.worker import Downloader, DownloadResult, ProgressUpdate, Worker
from collector.worker.connections import StopSignal
from collector.worker.loop import DEFAULT_LEASE_SECONDS, IDLE_FIRST, IDLE_MAX
from collector.worker.upkeep import Upkeep
from collector.worker.wake import Wakeup, watcher_for


class NoopDownloader(Downloader):
    """Downloads nothing: records the job and returns an empty result at once."""

    def __init__(self, record: IO[str], name: str) -> None:
        super().__init__()
        self.record = record
        self.name = name

    def download(
        self,
        url: str,
        folder: Path,
        on_progress: Callable[[ProgressUpdate], None],
        stop: StopSignal | None = None,
        allowed: AllowedHosts = NO_HOSTS,
        format: str = "best",
    ) -> DownloadResult:
        # The job's folder is named for its id (worker/job_run.py job_folder).
        self.record.write(f"{folder.name} {self.name} {time.time():.6f}\n")
        return DownloadResult(title=None, files=[], bytes_downloaded=0)


# After a claim that found fewer jobs than a batch, the next claim waits until this long
# after it (a notice that comes meanwhile is kept): while an enqueuer adds a batch every
# few milliseconds, every worker process would otherwise claim a job or two per notice.
# An idle fleet's first claim does not wait (the claim before it was long ago).
FILL_PAUSE = 0.025


def run_batches(db: DatabaseConfig, record: IO[str], name: str, batch: int, watch: bool) -> int:
    """Claim up to ``batch`` jobs at a time, record each, complete them together; until
    SIGTERM. Returns the jobs run."""
    queue = JobQueue(db)
    wakeup = Wakeup()
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()
        wakeup.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watcher = watcher_for(db) if watch else None
    if watcher is not None:
        watcher.start(wakeup)
    worker_id, processed, idle = f"{name}/0", 0, IDLE_FIRST
    upkeep = Upkeep(db, name)
    finished: list[str] = []  # run, to be completed with the next claim (one commit)
    last_claim, partial = 0.0, False
    try:
        while not stopping.is_set():
            if partial:  # the queue was nearly empty: let a batch gather first
                stopping.wait(max(0.0, last_claim + FILL_PAUSE - time.monotonic()))
            upkeep.run_due()
            seen = wakeup.seen()
            last_claim = time.monotonic()
            jobs = queue.complete_and_claim(worker_id, finished, DEFAULT_LEASE_SECONDS, batch)
            finished = []
            partial = len(jobs) < batch
            if jobs:
                lines = [f"{job.id} {name} {time.time():.6f}\n" for job in jobs]
                record.write("".join(lines))
                finished = [job.id for job in jobs]
                processed += len(jobs)
                idle = IDLE_FIRST
                continue
            idle = IDLE_FIRST if wakeup.wait(seen, idle) else min(idle * 2, IDLE_MAX)
        if finished:
            queue.complete_many(worker_id, finished)
    finally:
        if watcher is not None:
            watcher.stop()
    return processed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("db", help="An SQLite path or a postgresql:// URL.")
    parser.add_argument("record", type=Path)
    parser.add_argument("--no-watch", action="store_true", help="Idle back-off only.")
    parser.add_argument("--batch", type=int, default=1, help="Jobs per claim (>1: batch path).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    name = args.record.stem
    db = DatabaseConfig(args.db)
    if args.batch > 1:
        with args.record.open("a", buffering=1) as record:
            Path(f"{args.record}.ready").touch()
            processed = run_batches(db, record, name, args.batch, not args.no_watch)
        db.dispose()
        logging.getLogger(__name__).warning("%s stopped after %d job(s)", name, processed)
        return 0
    with args.record.open("a", buffering=1) as record:
        worker = Worker(
            db,
            downloader=NoopDownloader(record, name),
            name=name,
            watch=not args.no_watch,
        )
        Path(f"{args.record}.ready").touch()
        processed = worker.run()
    db.dispose()
    logging.getLogger(__name__).warning("%s stopped after %d job(s)", name, processed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
