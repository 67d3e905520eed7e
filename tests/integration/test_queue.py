"""JobQueue: queueing, claiming under a lease, finishing, cancel, retry and recovery."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from collector.config.database import DatabaseConfig
from collector.models.job import Job
from collector.models.urls import InvalidURLError
from collector.models.values import to_db_timestamp, utcnow
from collector.repositories import FileRepository
from collector.repositories.queue import (
    LOST_WORKER_MESSAGE,
    JobNotFoundError,
    JobQueue,
    JobStateError,
)

pytestmark = pytest.mark.both_engines

URL = "https://www.youtube.com/watch?v=abc"
BARRIER_TIMEOUT = 10


def expire_lease(db: DatabaseConfig, job_id: str) -> None:
    """Make a job's lease lapse, as if its worker had stopped renewing it."""
    past = to_db_timestamp(utcnow() - timedelta(seconds=1))
    db.execute_update("UPDATE jobs SET lease_expires_at = ? WHERE id = ?", (past, job_id))


def claimed(queue: JobQueue, worker: str = "w1", lease: float = 60) -> Job:
    job = queue.claim(worker, lease)
    assert job is not None
    return job


def run_in_threads(count: int, work: Callable[[int], object], db: DatabaseConfig) -> list:
    """Run ``work(i)`` in ``count`` threads released together; their results in order."""
    results: list[object] = [None] * count
    errors: list[BaseException] = []
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT)

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()  # this thread's connection

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    assert errors == []
    return results


# -- queueing ---------------------------------------------------------------------------


def test_enqueue_creates_a_pending_job(queue: JobQueue) -> None:
    result = queue.enqueue("  " + URL + "\n")

    assert result.created is True
    job = queue.get(result.job.id)
    assert (job.url, job.platform, job.status, job.retry_count) == (URL, "youtube", "pending", 0)
    assert job.worker_id is None and job.lease_expires_at is None


@pytest.mark.parametrize("status_after", ["pending", "running"])
def test_same_url_while_queued_is_the_same_job(queue: JobQueue, status_after: str) -> None:
    first = queue.enqueue(URL).job
    if status_after == "running":
        assert claimed(queue).id == first.id

    again = queue.enqueue(URL)

    assert again.created is False
    assert again.job.id == first.id and again.job.status == status_after
    assert queue.count() == 1


@pytest.mark.parametrize("finish", ["complete", "fail", "cancel"])
def test_same_url_after_the_job_ended_is_a_new_job(queue: JobQueue, finish: str) -> None:
    first = queue.enqueue(URL).job
    if finish == "cancel":
        queue.cancel(first.id)
    else:
        claimed(queue)
        if finish == "complete":
            queue.complete(first.id, "w1")
        else:
            queue.fail(first.id, "w1", "broken")

    again = queue.enqueue(URL)

    assert again.created is True and again.job.id != first.id
    assert queue.count() == 2


def test_same_url_queued_at_once_from_many_threads_is_one_job(
    db: DatabaseConfig, queue: JobQueue
) -> None:
    results = run_in_threads(8, lambda i: JobQueue(db).enqueue(URL), db)

    assert len({result.job.id for result in results}) == 1
    assert sum(result.created for result in results) == 1
    assert queue.count() == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/video.mp4", "only http and https URLs can be queued"),
        ("file:///etc/passwd", "only http and https URLs can be queued"),
        ("javascript:alert(1)", "only http and https URLs can be queued"),
        ("example.com/video", "only http and https URLs can be queued"),
        ("https://", "URL has no host"),
        ("http://exa mple.com/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
        ("", "a URL must be a non-empty string"),
        ("   ", "a URL must be a non-empty string"),
        ("https://example.com/" + "a" * 5000, "not a valid URL"),
        ("http://a\x00b.com/", "not a valid URL"),
        ("http://example.com/\x07clip", "not a valid URL"),
        ("http://example.com/\ud800", "not a valid URL"),
        ("http://example.com/\u202eclip", "not a valid URL"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://example.com:abc/", "not a valid URL"),
    ],
)
def test_only_http_and_https_urls_are_queued(queue: JobQueue, url: str, message: str) -> None:
    with pytest.raises(InvalidURLError, match=message):
        queue.enqueue(url)
    assert queue.count() == 0


def test_invalid_url_error_is_a_value_error(queue: JobQueue) -> None:
    with pytest.raises(ValueError, match=r"not 'ftp://x/'"):
        queue.enqueue("ftp://x/")


# -- claiming -----------------------------------------------------------------------------


def test_claim_takes_the_oldest_pending_job_under_a_lease(queue: JobQueue) -> None:
    first = queue.enqueue("https://example.com/1").job
    second = queue.enqueue("https://example.com/2").job

    job = claimed(queue, "w1", lease=60)

    assert job.id == first.id
    assert (job.status, job.worker_id, job.current_operation) == ("running", "w1", "starting")
    remaining = (job.lease_expires_at - utcnow()).total_seconds()
    assert 55 < remaining <= 60
    assert claimed(queue, "w2").id == second.id
    assert queue.claim("w3", 60) is None


def test_claim_on_an_empty_queue(queue: JobQueue) -> None:
    assert queue.claim("w1", 60) is None
    assert queue.pending_wait() is None


def test_claim_waits_for_next_attempt_at(queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    claimed(queue)
    queue.reschedule(job.id, "w1", "HTTP Error 503", delay_seconds=30)

    assert queue.claim("w2", 60) is None
    assert 25 < queue.pending_wait() <= 30


def test_many_claimers_never_take_the_same_job(db: DatabaseConfig, queue: JobQueue) -> None:
    ids = {queue.enqueue(f"https://example.com/{n}").job.id for n in range(40)}

    def claim_all(index: int) -> list[str]:
        mine, worker = [], JobQueue(db)
        while (job := worker.claim(f"w{index}", 60)) is not None:
            mine.append(job.id)
        return mine

    taken = run_in_threads(6, claim_all, db)

    every = [job_id for mine in taken for job_id in mine]
    assert sorted(every) == sorted(ids)  # each one claimed, none twice
    rows = db.execute_query("SELECT id, worker_id FROM jobs WHERE status = 'running'")
    owner = {row["id"]: row["worker_id"] for row in rows}
    for index, mine in enumerate(taken):
        assert all(owner[job_id] == f"w{index}" for job_id in mine)


# -- the worker's writes ------------------------------------------------------------------


def test_renew_extends_the_lease_only_for_its_holder(queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    claimed(queue, "w1", lease=1)

    assert queue.renew(job.id, "w1", 120) == "running"
    assert (queue.get(job.id).lease_expires_at - utcnow()).total_seconds() > 100
    assert queue.renew(job.id, "w2", 120) is None
    queue.cancel(job.id)
    assert queue.renew(job.id, "w1", 120) == "cancelling"


def test_report_progress_records_clamped_values(queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    claimed(queue)

    status = queue.report_progress(
        job.id, "w1", 60, progress=140, bytes_downloaded=-5, operation="downloading", title="T"
    )

    assert status == "running"
    row = queue.get(job.id)
    assert (row.progress, row.bytes_downloaded, row.current_operation, row.title) == (
        100,
        0,
        "downloading",
        "T",
    )
    assert (
        queue.report_progress(job.id, "w2", 60, progress=5, bytes_downloaded=1, operation="x")
        is None
    )
    assert queue.get(job.id).progress == 100


def test_complete_records_the_files_with_the_job(db: DatabaseConfig, queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    claimed(queue)
    files = [(Path("/d/a.mp4"), "video", 1000), (Path("/d/a.info.json"), "metadata", 20)]

    assert queue.complete(job.id, "w2", files) is None  # not its job: nothing changes
    assert FileRepository(db).get_job_files(job.id) == []
    done = queue.complete(job.id, "w1", files, title="A", bytes_downloaded=1000)

    assert done is not None
    assert (done.status, done.progress, done.title, done.bytes_downloaded) == (
        "completed",
        100,
        "A",
        1000,
    )
    assert done.completed_at is not None and done.lease_expires_at is None
    recorded = {
        (f.file_path, f.file_type, f.file_size) for f in FileRepository(db).get_job_files(job.id)
    }
    assert recorded == {("/d/a.mp4", "video", 1000), ("/d/a.info.json", "metadata", 20)}


def test_fail_keeps_the_message(queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    claimed(queue)

    failed = queue.fail(job.id, "w1", "HTTP Error 404: Not Found")

    assert failed is not None
    assert (failed.status, failed.error_message) == ("failed", "HTTP Error 404: Not Found")
    assert failed.completed_at is not None


def test_reschedule_counts_the_retry(queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    claimed(queue)

    again = queue.reschedule(job.id, "w1", "timed out", delay_seconds=10)

    assert again is not None
    assert (again.status, again.retry_count, again.worker_id) == ("pending", 1, None)
    assert again.error_message == "timed out"
    assert again.current_operation == "retrying after: timed out"
    assert 9 < (again.next_attempt_at - utcnow()).total_seconds() <= 10


def test_release_hands_a_job_back_untouched(queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    claimed(queue)
    queue.report_progress(job.id, "w1", 60, progress=40, bytes_downloaded=4000, operation="x")

    back = queue.release(job.id, "w1")

    assert back is not None
    assert (back.status, back.retry_count, back.worker_id) == ("pending", 0, None)
    assert (back.progress, back.bytes_downloaded, back.current_operation) == (0, 0, None)
    assert queue.release(job.id, "w1") is None  # no longer running under w1
    assert claimed(queue, "w2").id == job.id


# -- cancel and retry ------------------------------------------------------------------------


def test_cancel_a_pending_job_at_once(queue: JobQueue) -> None:
    job = queue.enqueue(URL).job

    cancelled = queue.cancel(job.id)

    assert cancelled.status == "cancelled" and cancelled.completed_at is not None
    assert queue.claim("w1", 60) is None


def test_cancel_a_running_job_asks_its_worker(queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    claimed(queue)

    asked = queue.cancel(job.id)

    assert (asked.status, asked.current_operation) == ("cancelling", "cancelling")
    assert queue.cancel(job.id).status == "cancelling"  # asking twice is harmless
    assert queue.complete(job.id, "w1") is None  # too late to complete it
    done = queue.finish_cancel(job.id, "w1")
    assert done is not None and done.status == "cancelled"


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_cancel_a_finished_job_is_refused(queue: JobQueue, status: str) -> None:
    job = queue.enqueue(URL).job
    if status == "cancelled":
        queue.cancel(job.id)
    else:
        claimed(queue)
        queue.complete(job.id, "w1") if status == "completed" else queue.fail(job.id, "w1", "x")

    with pytest.raises(JobStateError, match=f"job {job.id} is {status}; only pending or running"):
        queue.cancel(job.id)


def test_unknown_job_is_a_clear_error(queue: JobQueue) -> None:
    for action in (queue.cancel, queue.retry, queue.get):
        with pytest.raises(JobNotFoundError, match="no job with id 'nope'"):
            action("nope")


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_retry_puts_a_job_back_to_pending(queue: JobQueue, status: str) -> None:
    job = queue.enqueue(URL).job
    claimed(queue)
    if status == "failed":
        queue.fail(job.id, "w1", "broken")
    else:
        queue.cancel(job.id)
        queue.finish_cancel(job.id, "w1")

    again = queue.retry(job.id)

    assert (again.status, again.retry_count, again.error_message) == ("pending", 0, None)
    assert again.worker_id is None and again.completed_at is None and again.progress == 0
    assert claimed(queue, "w2").id == job.id


@pytest.mark.parametrize("status", ["pending", "running", "completed"])
def test_retry_refuses_other_statuses(queue: JobQueue, status: str) -> None:
    job = queue.enqueue(URL).job
    if status != "pending":
        claimed(queue)
    if status == "completed":
        queue.complete(job.id, "w1")

    with pytest.raises(JobStateError, match="only failed or cancelled jobs can be retried"):
        queue.retry(job.id)


def test_retry_refuses_a_url_queued_again_meanwhile(queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    queue.cancel(job.id)
    newer = queue.enqueue(URL).job

    with pytest.raises(JobStateError, match=f"already queued as job {newer.id}"):
        queue.retry(job.id)
    assert queue.get(job.id).status == "cancelled"


# -- recovery of expired leases -------------------------------------------------------------


def test_expired_lease_goes_back_to_pending_with_one_more_retry(
    db: DatabaseConfig, queue: JobQueue
) -> None:
    job = queue.enqueue(URL).job
    live = queue.enqueue("https://example.com/live").job
    claimed(queue, "dead")
    claimed(queue, "alive")
    expire_lease(db, job.id)

    recovered = queue.recover_expired(max_retries=3)

    assert [j.id for j in recovered.requeued] == [job.id]
    assert recovered.failed == [] and recovered.cancelled == []
    back = queue.get(job.id)
    assert (back.status, back.retry_count, back.worker_id) == ("pending", 1, None)
    assert queue.get(live.id).status == "running"  # its lease is current
    assert queue.renew(job.id, "dead", 60) is None  # the dead worker cannot write any more
    assert claimed(queue, "rescuer").id == job.id


def test_expired_lease_with_no_retries_left_fails(db: DatabaseConfig, queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    claimed(queue)
    db.execute_update("UPDATE jobs SET retry_count = 2 WHERE id = ?", (job.id,))
    expire_lease(db, job.id)

    recovered = queue.recover_expired(max_retries=2)

    assert [j.id for j in recovered.failed] == [job.id]
    failed = queue.get(job.id)
    assert (failed.status, failed.error_message) == ("failed", LOST_WORKER_MESSAGE)


def test_expired_lease_while_cancelling_ends_cancelled(db: DatabaseConfig, queue: JobQueue) -> None:
    job = queue.enqueue(URL).job
    claimed(queue)
    queue.cancel(job.id)
    expire_lease(db, job.id)

    recovered = queue.recover_expired(max_retries=3)

    assert [j.id for j in recovered.cancelled] == [job.id]
    assert queue.get(job.id).status == "cancelled"


def test_recovery_with_nothing_expired_changes_nothing(queue: JobQueue) -> None:
    queue.enqueue(URL)
    claimed(queue)

    assert queue.recover_expired(max_retries=3) == ([], [], [])
