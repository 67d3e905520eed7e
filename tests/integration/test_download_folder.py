"""A full or unwritable download folder: the worker stops claiming, jobs wait, work resumes.

The full and read-only folders are real: a tmpfs of 1 MiB mounted for the test (the
suite runs as root, here and in CI; a test that cannot mount fails, it does not skip).
"""

from __future__ import annotations

import errno
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from collector.config.database import DatabaseConfig
from collector.repositories import SettingsRepository
from collector.repositories.queue import JobQueue
from collector.repositories.settings_repository import load_settings
from collector.worker import Downloader, DownloadResult, storage
from collector.worker.job_run import JobRun
from tests.media_server import MediaServer, media_bytes
from tests.worker_fixtures import (
    files_under,
    job_where,
    make_worker,
    start_worker_thread,
    wait_until,
)

BIG = media_bytes(3 * 1024 * 1024, "big")  # three times the tmpfs
CLIP = media_bytes(100_000, "clip")


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (its size and writability changed by the test with ``mount``)."""
    point = tmp_path / "disk"
    point.mkdir()
    mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point))
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=True, timeout=30)


def use_folder(db: DatabaseConfig, folder: Path, min_free_space: str) -> None:
    """Downloads into ``folder`` instead of the ``downloads`` fixture's (which the test
    requests for its other settings: the media server allowed, short retries)."""
    store = SettingsRepository(db)
    store.set("download_dir", str(folder))
    store.set("min_free_space", min_free_space)


def worker_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert worker_lines(caplog, "unexpected error") == []


def test_a_download_that_fills_the_disk_waits_and_resumes_when_space_returns(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    small_disk: Path,
    media_server: MediaServer,
    worker_threads: list,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="collector")
    use_folder(db, small_disk, "0")
    media_server.add("big.mp4", BIG)
    job = queue.enqueue(media_server.url("big.mp4")).job
    running = start_worker_thread(worker_threads, db, burst=False)

    waiting = wait_until(
        lambda: queue.get(job.id).current_operation and job_where(queue, job.id, status="pending"),
        what="the job back in the queue",
    )

    assert (waiting.retry_count, waiting.error_message, waiting.worker_id) == (0, None, None)
    assert waiting.current_operation == "waiting for the download folder: No space left on device"
    assert files_under(small_disk) == []  # the partial data is gone
    requests = len(media_server.files["big.mp4"].requests)
    assert running.worker._folder.reason is not None

    mount("-o", "remount,size=16m", str(small_disk))  # space returns
    done = wait_until(lambda: job_where(queue, job.id, status="completed"), what="completion")
    running.worker.stop()
    running.join()

    assert done.retry_count == 0 and done.bytes_downloaded == len(BIG)
    assert len(media_server.files["big.mp4"].requests) > requests
    assert len(worker_lines(caplog, "not claiming")) == 1
    assert worker_lines(caplog, "not claiming")[0] == (
        f"not claiming: a download into {small_disk} failed: No space left on device"
    )
    assert worker_lines(caplog, "claiming again") == [f"claiming again: {small_disk} is usable"]
    assert_no_traceback(caplog)


def test_a_read_only_folder_claims_nothing_until_it_is_writable(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    small_disk: Path,
    media_server: MediaServer,
    worker_threads: list,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="collector")
    folder = small_disk / "downloads"
    use_folder(db, folder, "0")
    media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(media_server.url("clip.mp4")).job
    mount("-o", "remount,ro", str(small_disk))
    checks = []
    real_check = storage.check_folder

    def counted(folder: Path, min_free_space: int) -> tuple[str | None, int]:
        checks.append(folder)
        return real_check(folder, min_free_space)

    monkeypatch.setattr(storage, "check_folder", counted)
    running = start_worker_thread(worker_threads, db, burst=False)
    wait_until(lambda: len(checks) >= 5, what="five looks at the folder")
    still = queue.get(job.id)
    assert (still.status, still.worker_id, still.retry_count) == ("pending", None, 0)
    assert media_server.files["clip.mp4"].requests == []  # nothing was claimed

    mount("-o", "remount,rw", str(small_disk))
    wait_until(lambda: job_where(queue, job.id, status="completed"), what="completion")
    running.worker.stop()
    running.join()

    assert worker_lines(caplog, "not claiming") == [
        f"not claiming: cannot write to {folder}: Read-only file system"
    ]
    assert worker_lines(caplog, "claiming again") == [f"claiming again: {folder} is usable"]
    assert_no_traceback(caplog)


class Usage(NamedTuple):
    total: int
    used: int
    free: int


def test_below_min_free_space_nothing_is_claimed_until_space_returns(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    worker_threads: list,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="collector")
    folder = downloads
    use_folder(db, folder, "500MiB")
    free = [120 * 1024 * 1024]
    looks = []

    def disk_usage(path: object) -> Usage:
        looks.append(path)
        return Usage(10 * 1024**3, 0, free[0])

    monkeypatch.setattr(storage.shutil, "disk_usage", disk_usage)
    media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(media_server.url("clip.mp4")).job

    assert make_worker(db).run(burst=True) == 0  # burst: nothing it can do now
    running = start_worker_thread(worker_threads, db, burst=False)
    wait_until(lambda: len(looks) >= 6, what="several looks at the free space")
    assert queue.get(job.id).status == "pending"

    free[0] = 2 * 1024**3
    wait_until(lambda: job_where(queue, job.id, status="completed"), what="completion")
    running.worker.stop()
    running.join()

    below = f"not claiming: {folder} has 120.0 MiB free, below min_free_space 500.0 MiB"
    assert worker_lines(caplog, "not claiming") == [below, below]  # once per worker
    assert worker_lines(caplog, "claiming again") == [f"claiming again: {folder} is usable"]
    assert_no_traceback(caplog)


class Refused(Downloader):
    """A download refused by the file system although the folder itself is writable."""

    def download(self, url: str, folder: Path, *args: object, **kwargs: object) -> DownloadResult:
        folder.mkdir(parents=True)
        raise PermissionError(errno.EACCES, "Permission denied", str(folder / "clip.mp4"))


def test_an_error_of_one_download_not_the_folder_fails_that_job(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = queue.enqueue("https://example.com/clip.mp4").job
    claimed = queue.claim("A", 60)

    run = JobRun(queue, Refused(), claimed, "A", 60, load_settings(db))

    assert run.run() == "failed"
    assert run.folder_error is None
    failed = queue.get(job.id)
    refused = downloads / job.id / "clip.mp4"
    assert (failed.status, failed.error_message) == ("failed", f"Permission denied: '{refused}'")
    assert files_under(downloads) == []
    assert_no_traceback(caplog)


def test_storage_error_finds_the_os_error_yt_dlp_wrapped() -> None:
    from yt_dlp.utils import DownloadError, UnavailableVideoError

    full = OSError(errno.ENOSPC, "No space left on device")
    wrapped = DownloadError("unable to write data", (OSError, full, None))

    assert storage.storage_error(wrapped) is full
    try:
        try:
            raise full
        except OSError as err:
            raise UnavailableVideoError(err)  # noqa: B904 (as yt-dlp raises it: context only)
    except UnavailableVideoError as raised:
        assert storage.storage_error(raised) is full
    assert storage.storage_error(DownloadError("HTTP Error 404", None)) is None
    assert storage.storage_error(OSError(errno.ECONNRESET, "reset")) is None
