"""The worker against a loopback media server: real yt-dlp downloads, no network.

Each test queues URLs of tests/media_server.py and runs a Worker (in a thread, or
``collector worker`` as a process) on the test's own database and download folder.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from collector.config.database import DatabaseBusyError, DatabaseConfig
from collector.models.values import utcnow
from collector.repositories import FileRepository, SettingsRepository
from collector.repositories.queue import JobQueue
from collector.repositories.settings_repository import load_settings
from collector.worker import Downloader, DownloadFailed, DownloadResult, DownloadStopped
from collector.worker.errors import MAX_MESSAGE
from collector.worker.files import collect_files
from collector.worker.job_run import JobRun
from tests.media_server import MediaServer, media_bytes
from tests.worker_fixtures import (
    SUBPROCESS_TIMEOUT,
    TEST_DOWNLOADER_OPTIONS,
    WorkerThread,
    downloading,
    files_under,
    job_where,
    make_worker,
    spawn_worker,
    start_worker_thread,
    wait_until,
)

pytestmark = pytest.mark.both_engines

CLIP = media_bytes(200_000, "clip")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_download_end_to_end(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(media_server.url("clip.mp4")).job

    assert make_worker(db).run(burst=True) == 1

    done = queue.get(job.id)
    assert (done.status, done.progress, done.title) == ("completed", 100, "clip")
    assert done.bytes_downloaded == len(CLIP)
    assert done.error_message is None and done.current_operation is None
    assert done.completed_at is not None and done.lease_expires_at is None
    rows = {row.file_type: row for row in FileRepository(db).get_job_files(job.id)}
    assert set(rows) == {"video", "metadata"}  # the media and yt-dlp's .info.json
    video = rows["video"]
    assert Path(video.file_path).read_bytes() == CLIP
    assert video.file_size == len(CLIP) and Path(video.file_path).suffix == ".mp4"
    assert Path(video.file_path).parent == downloads / job.id
    assert rows["metadata"].file_size == Path(rows["metadata"].file_path).stat().st_size
    # Only the recorded files are left: no partial data, no temporary folder.
    assert files_under(downloads) == sorted(Path(r.file_path) for r in rows.values())


@pytest.mark.parametrize(
    ("name", "content_type", "file_type"),
    [
        ("clip.webm", "video/webm", "video"),
        ("song.m4a", "audio/mp4", "audio"),
        ("song.mp3", "audio/mpeg", "audio"),
        ("photo.jpg", "image/jpeg", "image"),
    ],
)
def test_each_file_is_recorded_with_its_type(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    name: str,
    content_type: str,
    file_type: str,
) -> None:
    data = media_bytes(30_000, name)
    media_server.add(name, data, content_type=content_type)
    job = queue.enqueue(media_server.url(name)).job

    make_worker(db).run(burst=True)

    assert queue.get(job.id).status == "completed"
    rows = FileRepository(db).get_job_files(job.id)
    assert sorted(row.file_type for row in rows) == sorted([file_type, "metadata"])
    media = next(row for row in rows if row.file_type == file_type)
    assert Path(media.file_path).suffix == Path(name).suffix
    assert media.file_size == len(data) and Path(media.file_path).read_bytes() == data


def test_not_found_fails_with_a_short_message(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    job = queue.enqueue(media_server.url("missing.mp4")).job

    make_worker(db).run(burst=True)

    failed = queue.get(job.id)
    assert failed.status == "failed"
    assert failed.error_message == "HTTP Error 404: Not Found"
    assert failed.retry_count == 0  # a 404 is not worth retrying
    assert FileRepository(db).get_job_files(job.id) == []
    assert files_under(downloads) == []


def test_unreachable_host_fails_after_its_retries(
    db: DatabaseConfig, queue: JobQueue, downloads: Path
) -> None:
    SettingsRepository(db).set("max_retries", "2")
    job = queue.enqueue(f"http://127.0.0.1:{closed_port()}/clip.mp4").job

    assert make_worker(db).run(burst=True) == 3  # the first try and two retries

    failed = queue.get(job.id)
    assert (failed.status, failed.retry_count) == ("failed", 2)
    assert failed.error_message == "Connection refused"
    assert files_under(downloads) == []


def test_unsupported_page_fails_with_one_readable_line(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    media_server.add(
        "page.html", b"<html><body>no media here</body></html>", content_type="text/html"
    )
    job = queue.enqueue(media_server.url("page.html")).job

    make_worker(db).run(burst=True)

    failed = queue.get(job.id)
    message = failed.error_message
    assert failed.status == "failed"
    assert message == "Unsupported URL: " + media_server.url("page.html")
    assert "\n" not in message and "Traceback" not in message and len(message) <= MAX_MESSAGE


def test_transient_failures_retry_with_backoff_then_succeed(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    media = media_server.add("flaky.mp4", CLIP, failures=2)
    job = queue.enqueue(media_server.url("flaky.mp4", route="flaky")).job
    worker = make_worker(db)

    assert worker.work_once("w/0") is True  # 503: back to pending, later
    waiting = queue.get(job.id)
    assert (waiting.status, waiting.retry_count) == ("pending", 1)
    assert waiting.error_message == "HTTP Error 503: Service Unavailable"
    assert waiting.next_attempt_at is not None and waiting.worker_id is None
    delay = (waiting.next_attempt_at - waiting.updated_at).total_seconds()
    assert delay == pytest.approx(0.05, abs=0.02)  # retry_backoff_seconds * 2**0
    assert worker.queue.pending_wait() > 0

    assert worker.run(burst=True) == 2  # waits out the backoff: 503 once more, then served
    done = queue.get(job.id)
    assert (done.status, done.retry_count, done.error_message) == ("completed", 2, None)
    assert len(media.requests) == 4  # 2 refused, then a look at the headers and the download


def test_a_dropped_connection_is_retried_and_resumed(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    media = media_server.add("cut.mp4", CLIP, cut_after=50_000)
    job = queue.enqueue(media_server.url("cut.mp4")).job
    worker = make_worker(db)

    assert worker.work_once("w/0") is True
    waiting = queue.get(job.id)
    assert (waiting.status, waiting.retry_count) == ("pending", 1)
    assert waiting.error_message == f"Downloaded 50000 bytes, expected {len(CLIP)} bytes"

    media.cut_after = None
    assert worker.run(burst=True) == 1

    assert queue.get(job.id).status == "completed"
    assert media.requests[-1] == "bytes=50000-"  # resumed where the connection dropped
    video = FileRepository(db).get_job_files_by_type(job.id, "video")
    assert Path(video[0].file_path).read_bytes() == CLIP


def test_transient_failures_stop_at_max_retries(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    SettingsRepository(db).set("max_retries", "1")
    media_server.add("down.mp4", CLIP, failures=100)
    job = queue.enqueue(media_server.url("down.mp4", route="flaky")).job

    assert make_worker(db).run(burst=True) == 2

    failed = queue.get(job.id)
    assert (failed.status, failed.retry_count) == ("failed", 1)
    assert failed.error_message == "HTTP Error 503: Service Unavailable"


def test_cancel_a_running_download(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    worker_threads: list[WorkerThread],
) -> None:
    # 400 kB at 4 kB every 50 ms: five seconds if nobody stopped it.
    media_server.add("slow.mp4", media_bytes(400_000, "slow"), delay=0.05)
    job = queue.enqueue(media_server.url("slow.mp4", route="slow")).job
    running = start_worker_thread(worker_threads, db, lease_seconds=30)
    wait_until(lambda: downloading(queue, job.id), 10, "the download to start")
    assert files_under(downloads / job.id)  # partial data on disk

    started = time.monotonic()
    assert queue.cancel(job.id).status == "cancelling"
    wait_until(lambda: job_where(queue, job.id, status="cancelled"), 5, "the cancel")
    took = time.monotonic() - started

    # Noticed at the next progress write (about once a second), stopped at the next
    # block yt-dlp reads: measured 1.8 s here.
    assert took < 3.0
    assert running.join(10) == 1
    assert not (downloads / job.id).exists()  # partial files removed
    cancelled = queue.get(job.id)
    assert cancelled.current_operation is None and cancelled.completed_at is not None
    assert FileRepository(db).get_job_files(job.id) == []


@pytest.mark.parametrize("stop_by", ["cancel", "shutdown"])
def test_stop_a_download_whose_server_went_silent(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    worker_threads: list[WorkerThread],
    stop_by: str,
) -> None:
    # Headers, then nothing for 25 s: no progress hook runs until the socket times out
    # (20 s here), so only cutting the connection can stop it sooner.
    media = media_server.add("silent.mp4", media_bytes(100_000, "silent"), delay=25)
    job = queue.enqueue(media_server.url("silent.mp4", route="slow")).job
    patient = Downloader({**TEST_DOWNLOADER_OPTIONS, "socket_timeout": 20})
    running = start_worker_thread(
        worker_threads, db, burst=False, lease_seconds=30, downloader=patient
    )
    wait_until(lambda: len(media.requests) == 2, 10, "the download request")

    started = time.monotonic()
    if stop_by == "cancel":
        queue.cancel(job.id)
        wait_until(lambda: job_where(queue, job.id, status="cancelled"), 6, "the cancel")
    else:
        running.worker.stop(abort=True)
        wait_until(lambda: job_where(queue, job.id, status="pending"), 6, "the hand-back")
    took = time.monotonic() - started

    assert took < 3.5  # the renewal (every 2 s) notices a cancel; a shutdown is immediate
    running.worker.stop()
    assert running.join(10) == 1
    assert (downloads / job.id).exists() is (stop_by == "shutdown")  # kept to resume


def test_cancel_a_pending_job_at_once(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(media_server.url("clip.mp4")).job

    assert queue.cancel(job.id).status == "cancelled"

    assert make_worker(db).run(burst=True) == 0
    assert queue.get(job.id).status == "cancelled"
    assert media_server.files["clip.mp4"].requests == []


def test_retry_downloads_a_cancelled_job(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(media_server.url("clip.mp4")).job
    queue.cancel(job.id)

    assert queue.retry(job.id).status == "pending"
    assert make_worker(db).run(burst=True) == 1

    assert queue.get(job.id).status == "completed"


def test_retry_downloads_a_failed_job(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    job = queue.enqueue(media_server.url("late.mp4")).job
    make_worker(db).run(burst=True)
    assert queue.get(job.id).status == "failed"
    media_server.add("late.mp4", CLIP)  # the file is there now

    assert queue.retry(job.id).status == "pending"
    assert make_worker(db).run(burst=True) == 1

    done = queue.get(job.id)
    assert (done.status, done.error_message, done.retry_count) == ("completed", None, 0)


def test_progress_is_written_about_once_a_second(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 120 chunks over about 2.4 s; yt-dlp reports after each block it reads.
    media_server.add("slow.mp4", media_bytes(120 * 2048, "slow"), chunk=2048, delay=0.02)
    job = queue.enqueue(media_server.url("slow.mp4", route="slow")).job
    writes: list[tuple[float, int]] = []
    hooks: list[int] = []
    original_report = JobQueue.report_progress

    def report(self: JobQueue, *args: object, **kwargs: object) -> str | None:
        writes.append((time.monotonic(), int(kwargs["progress"])))  # type: ignore[call-overload]
        return original_report(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(JobQueue, "report_progress", report)
    from collector.worker import job_run

    original_on_progress = job_run.JobRun.on_progress

    def on_progress(self: job_run.JobRun, update: object) -> None:
        hooks.append(1)
        original_on_progress(self, update)  # type: ignore[arg-type]

    monkeypatch.setattr(job_run.JobRun, "on_progress", on_progress)
    started = time.monotonic()

    make_worker(db).run(burst=True)

    elapsed = time.monotonic() - started
    assert queue.get(job.id).status == "completed"
    assert 2 <= len(writes) <= elapsed + 1
    assert len(hooks) >= 2 * len(writes)  # most of yt-dlp's reports were not written
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(writes)]
    assert min(gaps) >= 0.95
    percents = [percent for _, percent in writes]
    assert percents == sorted(percents) and 0 < percents[-1] <= 99  # 100 only once completed
    assert queue.get(job.id).progress == 100


def test_a_stopped_worker_claims_nothing(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    media = media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(media_server.url("clip.mp4")).job
    worker = make_worker(db)

    worker.stop()

    assert worker.work_once("w/0") is False
    assert worker.run(burst=True) == 0
    assert queue.get(job.id).status == "pending" and media.requests == []


def test_a_job_claimed_as_the_worker_aborts_is_handed_back(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    media = media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(media_server.url("clip.mp4")).job
    worker = make_worker(db)
    original_claim = JobQueue.claim

    def claim_then_abort(self: JobQueue, worker_id: str, lease: float) -> object:
        claimed = original_claim(self, worker_id, lease)
        worker.stop(abort=True)  # the stop lands between the claim and the download
        return claimed

    monkeypatch.setattr(JobQueue, "claim", claim_then_abort)

    assert worker.work_once("w/0") is True

    back = queue.get(job.id)
    assert (back.status, back.retry_count, back.worker_id) == ("pending", 0, None)
    assert media.requests == []  # not downloaded


# -- several workers, killed workers, signals ---------------------------------------------


def test_killed_worker_job_is_recovered_and_completed_by_another(
    db: DatabaseConfig,
    database: str,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    processes: list[subprocess.Popen],
) -> None:
    data = media_bytes(400_000, "slow")
    media = media_server.add("slow.mp4", data, delay=0.05)
    job = queue.enqueue(media_server.url("slow.mp4", route="slow")).job
    process = spawn_worker(processes, database, "--lease-seconds", "1")
    running = wait_until(lambda: downloading(queue, job.id), 20, "the download to start")
    assert running.worker_id.endswith(f":{process.pid}/0")
    partial = downloads / job.id / ".partial"
    wait_until(lambda: sum(f.stat().st_size for f in files_under(partial)), 10, "partial data")

    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(SUBPROCESS_TIMEOUT) == -signal.SIGKILL
    media.delay = 0.0  # the second attempt is served at full speed
    wait_until(lambda: queue.get(job.id).lease_expires_at < utcnow(), 5, "the lease to expire")

    assert make_worker(db, name="rescuer").run(burst=True) == 1

    done = queue.get(job.id)
    assert (done.status, done.retry_count, done.worker_id) == ("completed", 1, "rescuer/0")
    video = FileRepository(db).get_job_files_by_type(job.id, "video")
    assert len(video) == 1 and Path(video[0].file_path).read_bytes() == data
    assert not (downloads / job.id / ".partial").exists()
    assert (media.requests[-1] or "").startswith("bytes=")  # resumed the killed one's part


def test_a_frozen_worker_loses_its_job_and_leaves_it_alone(
    db: DatabaseConfig,
    database: str,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    processes: list[subprocess.Popen],
) -> None:
    data = media_bytes(200_000, "slow")
    media = media_server.add("slow.mp4", data, delay=0.05)
    job = queue.enqueue(media_server.url("slow.mp4", route="slow")).job
    log = downloads.parent / "frozen.log"
    frozen = spawn_worker(processes, database, "--lease-seconds", "1", log=log)
    wait_until(lambda: downloading(queue, job.id), 20, "the download to start")

    os.kill(frozen.pid, signal.SIGSTOP)  # alive, but renewing nothing
    media.delay = 0.0
    wait_until(lambda: queue.get(job.id).lease_expires_at < utcnow(), 5, "the lease to expire")
    assert make_worker(db, name="rescuer").run(burst=True) == 1
    os.kill(frozen.pid, signal.SIGCONT)

    # The frozen worker wakes, finds the job is not its own any more, and goes idle.
    noticed = ("lease lost to another worker", "no longer ours")
    wait_until(lambda: any(m in log.read_text() for m in noticed), 10, "the loss noticed")
    frozen.send_signal(signal.SIGTERM)
    assert frozen.wait(SUBPROCESS_TIMEOUT) == 0
    done = queue.get(job.id)
    assert (done.status, done.worker_id, done.retry_count) == ("completed", "rescuer/0", 1)
    rows = FileRepository(db).get_job_files(job.id)
    assert sorted(row.file_type for row in rows) == ["metadata", "video"]
    video = next(row for row in rows if row.file_type == "video")
    assert Path(video.file_path).read_bytes() == data


def test_two_worker_processes_take_each_job_once(
    db: DatabaseConfig,
    database: str,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    processes: list[subprocess.Popen],
) -> None:
    served = {}
    for number in range(10):
        name = f"clip{number}.mp4"
        served[name] = media_server.add(name, media_bytes(24_576, name), delay=0.05)
    jobs = {queue.enqueue(media_server.url(n, route="slow")).job.id: n for n in served}
    workers = [spawn_worker(processes, database, "--burst") for _ in range(2)]

    for process in workers:
        assert process.wait(SUBPROCESS_TIMEOUT) == 0, process.stderr.read()

    done = [queue.get(job_id) for job_id in jobs]
    assert {job.status for job in done} == {"completed"}
    assert {job.retry_count for job in done} == {0}
    assert {job.worker_id for job in done} == {f"{socket.gethostname()}:{p.pid}/0" for p in workers}
    for job in done:
        media = served[jobs[job.id]]
        assert len(media.requests) == 2  # one look at the headers, one download: never twice
        video = FileRepository(db).get_job_files_by_type(job.id, "video")
        assert len(video) == 1 and Path(video[0].file_path).read_bytes() == media.data


def test_concurrent_slots_in_one_worker(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    names = [f"clip{number}.mp4" for number in range(6)]
    for name in names:
        media_server.add(name, media_bytes(16_384, name), delay=0.05)
    ids = [queue.enqueue(media_server.url(name, route="slow")).job.id for name in names]

    assert make_worker(db, concurrency=3).run(burst=True) == 6

    done = [queue.get(job_id) for job_id in ids]
    assert {job.status for job in done} == {"completed"}
    assert len({job.worker_id for job in done}) == 3  # every slot took some
    assert all(len(media_server.files[name].requests) == 2 for name in names)


def test_sigterm_lets_the_running_download_finish(
    db: DatabaseConfig,
    database: str,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    processes: list[subprocess.Popen],
) -> None:
    data = media_bytes(60_000, "slow")
    media_server.add("slow.mp4", data, delay=0.1)  # about 1.5 s
    job = queue.enqueue(media_server.url("slow.mp4", route="slow")).job
    process = spawn_worker(processes, database)
    wait_until(lambda: downloading(queue, job.id), 20, "the download to start")

    signalled = utcnow()
    process.send_signal(signal.SIGTERM)

    assert process.wait(SUBPROCESS_TIMEOUT) == 0
    assert "worker stopped: 1 job(s) processed" in process.stderr.read()
    done = queue.get(job.id)
    assert done.status == "completed" and done.completed_at > signalled  # finished after it
    video = FileRepository(db).get_job_files_by_type(job.id, "video")
    assert Path(video[0].file_path).read_bytes() == data


def test_second_sigterm_hands_the_job_back(
    db: DatabaseConfig,
    database: str,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    processes: list[subprocess.Popen],
) -> None:
    data = media_bytes(400_000, "slow")
    media = media_server.add("slow.mp4", data, delay=0.05)  # about 5 s
    job = queue.enqueue(media_server.url("slow.mp4", route="slow")).job
    log = downloads.parent / "worker.log"
    process = spawn_worker(processes, database, log=log)
    wait_until(lambda: downloading(queue, job.id), 20, "the download to start")

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    # The first signal must be handled before the second arrives (two pending are one).
    wait_until(lambda: "finishing running downloads" in log.read_text(), 5, "the first")
    process.send_signal(signal.SIGTERM)
    assert process.wait(SUBPROCESS_TIMEOUT) == 0
    assert time.monotonic() - started < 3

    back = queue.get(job.id)
    assert (back.status, back.retry_count, back.worker_id) == ("pending", 0, None)
    media.delay = 0.0
    assert make_worker(db).run(burst=True) == 1
    video = FileRepository(db).get_job_files_by_type(job.id, "video")
    assert queue.get(job.id).status == "completed"
    assert Path(video[0].file_path).read_bytes() == data


def test_sigterm_stops_an_idle_worker(
    database: str,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    processes: list[subprocess.Popen],
) -> None:
    media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(media_server.url("clip.mp4")).job
    process = spawn_worker(processes, database)
    wait_until(lambda: job_where(queue, job.id, status="completed"), 20, "the first job")

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)

    assert process.wait(SUBPROCESS_TIMEOUT) == 0
    assert time.monotonic() - started < 2


class TakenOver(Downloader):
    """A download during which the job passes to worker B.

    As if worker A had been frozen past its lease: the job is recovered (or, when it
    was being cancelled, cancelled, retried) and claimed by B, which starts writing
    its partial file; then A's download ends as ``ending`` says. A must not touch
    B's files, nor the job.
    """

    def __init__(self, db: DatabaseConfig, ending: str) -> None:
        super().__init__()
        self.db, self.ending = db, ending

    def download(
        self,
        url: str,
        folder: Path,
        on_progress: object,
        stop: object = None,
        allowed: object = None,
        format: str = "best",
    ) -> DownloadResult:
        queue = JobQueue(self.db)
        job = queue.find_queued(url)
        if self.ending == "cancelled":
            queue.cancel(job.id)
        self.db.execute_update(
            "UPDATE jobs SET lease_expires_at = ? WHERE id = ?", ("2000-01-01 00:00:00", job.id)
        )
        queue.recover_expired(3)
        if self.ending == "cancelled":
            queue.retry(job.id)
        assert queue.claim("B", 60).id == job.id
        (folder / ".partial").mkdir(parents=True)
        (folder / ".partial" / "clip.mp4.part").write_bytes(b"B's bytes")
        if self.ending == "fails":
            raise DownloadFailed("HTTP Error 404: Not Found")
        if self.ending == "cancelled":
            raise DownloadStopped("cancel")
        (folder / "clip.mp4").write_bytes(b"A's bytes")
        return DownloadResult("clip", collect_files(folder), 9)


@pytest.mark.parametrize("ending", ["succeeds", "fails", "cancelled"])
def test_a_worker_that_lost_its_lease_leaves_the_new_holders_files(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, ending: str
) -> None:
    job = queue.enqueue("https://example.com/clip.mp4").job
    claimed = queue.claim("A", 60)
    settings = load_settings(db)

    outcome = JobRun(queue, TakenOver(db, ending), claimed, "A", 60, settings).run()

    assert outcome == "lost"
    current = queue.get(job.id)
    assert (current.status, current.worker_id) == ("running", "B")
    assert (downloads / job.id / ".partial" / "clip.mp4.part").read_bytes() == b"B's bytes"
    assert FileRepository(db).get_job_files(job.id) == []


def test_a_progress_write_that_fails_does_not_fail_the_download(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(media_server.url("clip.mp4")).job
    attempts = []

    def locked(self: JobQueue, *args: object, **kwargs: object) -> str | None:
        attempts.append(1)
        raise DatabaseBusyError("database is locked (waited 5000 ms)")

    monkeypatch.setattr(JobQueue, "report_progress", locked)

    make_worker(db).run(burst=True)

    assert attempts  # it was tried, and failed
    done = queue.get(job.id)
    assert (done.status, done.progress, done.bytes_downloaded) == ("completed", 100, len(CLIP))
