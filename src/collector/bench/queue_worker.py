"""A worker process for ``collector bench queue``: collector's Worker, a no-op download.

``python -m collector.bench.queue_worker DB RECORD [--no-watch]`` runs the real
claim, lease and finish path of JobQueue (Worker.run, one slot); only the download
is skipped. Each download appends ``job_id worker_id unix_time`` to RECORD, so the
bench can count every job run (a job claimed twice is there twice) and see when
it started. A file RECORD.ready appears once the worker runs; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from collector.config.database import DatabaseConfig
from collector.models.outbound import NO_HOSTS, AllowedHosts
from collector.worker import Downloader, DownloadResult, ProgressUpdate, Worker
from collector.worker.connections import StopSignal


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
    ) -> DownloadResult:
        # The job's folder is named for its id (worker/job_run.py job_folder).
        self.record.write(f"{folder.name} {self.name} {time.time():.6f}\n")
        return DownloadResult(title=None, files=[], bytes_downloaded=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("db", type=Path)
    parser.add_argument("record", type=Path)
    parser.add_argument("--no-watch", action="store_true", help="Idle back-off only.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    name = args.record.stem
    db = DatabaseConfig(args.db)
    with args.record.open("a", buffering=1) as record:
        worker = Worker(
            db,
            downloader=NoopDownloader(record, name),
            name=name,
            watch=not args.no_watch,
        )
        Path(f"{args.record}.ready").touch()
        processed = worker.run()
    db.close()
    logging.getLogger(__name__).warning("%s stopped after %d job(s)", name, processed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
