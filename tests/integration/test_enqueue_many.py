"""JobQueue.enqueue_many: a batch queued in one transaction, as enqueue would queue each."""

from __future__ import annotations

import pytest

from collector.config.database import DatabaseConfig
from collector.models.urls import InvalidURLError
from collector.repositories.queue import JobQueue, enqueue_listeners

from .test_queue import run_in_threads

pytestmark = pytest.mark.both_engines

URLS = [f"https://www.youtube.com/watch?v={n}" for n in ("a", "b", "c")]


@pytest.fixture
def announced(db: DatabaseConfig) -> list[DatabaseConfig]:
    """The databases this process's enqueue listeners were told about."""
    seen: list[DatabaseConfig] = []
    enqueue_listeners.add(seen.append)
    yield seen
    enqueue_listeners.discard(seen.append)


def test_a_batch_is_queued_in_order_and_claimed_oldest_first(
    queue: JobQueue, announced: list[DatabaseConfig]
) -> None:
    results = queue.enqueue_many(URLS)

    assert [r.created for r in results] == [True, True, True]
    assert [r.job.url for r in results] == URLS
    assert [queue.get(r.job.id).status for r in results] == ["pending"] * 3
    assert [queue.claim("w1", 60).id for _ in URLS] == [r.job.id for r in results]
    assert announced == [queue.db]  # once for the batch, not once per job


def test_a_url_already_queued_or_repeated_is_one_job(
    queue: JobQueue, announced: list[DatabaseConfig]
) -> None:
    first = queue.enqueue(URLS[0]).job
    announced.clear()

    results = queue.enqueue_many([URLS[0], URLS[1], URLS[1]])

    assert [r.created for r in results] == [False, True, False]
    assert results[0].job.id == first.id
    assert results[1].job.id == results[2].job.id
    assert queue.count() == 2
    assert len(announced) == 1


def test_nothing_new_announces_nothing(queue: JobQueue, announced: list[DatabaseConfig]) -> None:
    queue.enqueue(URLS[0])
    announced.clear()

    assert [r.created for r in queue.enqueue_many([URLS[0]])] == [False]
    assert queue.enqueue_many([]) == []
    assert announced == []


def test_an_invalid_url_queues_nothing_of_the_batch(queue: JobQueue) -> None:
    with pytest.raises(InvalidURLError):
        queue.enqueue_many([URLS[0], "ftp://example.com/x", URLS[1]])

    assert queue.count() == 0


def test_batches_racing_on_the_same_urls_make_one_job_each(
    db: DatabaseConfig, queue: JobQueue
) -> None:
    results = run_in_threads(4, lambda i: JobQueue(db).enqueue_many(URLS), db)

    assert queue.count() == len(URLS)
    created = [r.created for batch in results for r in batch]
    assert created.count(True) == len(URLS)
    ids = {tuple(r.job.id for r in batch) for batch in results}
    assert len(ids) == 1  # every batch names the same three jobs


def test_a_url_queued_before_identities_is_found_by_its_url(queue: JobQueue) -> None:
    """A job queued before identities were has none: the batch finds it by its URL."""
    old = queue.enqueue(URLS[0]).job
    queue.db.execute_update("UPDATE jobs SET identity = NULL WHERE id = ?", (old.id,))

    results = queue.enqueue_many([URLS[0], URLS[1]])

    assert [r.created for r in results] == [False, True]
    assert results[0].job.id == old.id
    assert queue.count() == 2


def test_a_url_whose_queued_job_ended_meanwhile_is_queued_again(
    queue: JobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queued job that made the batch skip a URL ends before the batch reads it
    (PostgreSQL's one-trip enqueue reads the queued jobs after its INSERT): the URL is
    queued again, in its place in the results."""
    old = queue.enqueue(URLS[1]).job
    by_key = JobQueue._by_key
    calls: list[int] = []

    def ended_meanwhile(jobs):  # the first look-up: the old job has just completed
        calls.append(1)
        if len(calls) == 1:
            queue.db.execute_update("UPDATE jobs SET status = 'completed' WHERE id = ?", (old.id,))
            return by_key([job for job in jobs if job.id != old.id])
        return by_key(jobs)

    monkeypatch.setattr(JobQueue, "_by_key", staticmethod(ended_meanwhile))

    results = queue.enqueue_many(URLS)

    assert [r.job.url for r in results] == URLS
    assert all(r.job.status == "pending" for r in results)
    assert results[1].job.id != old.id
    assert [r.created for r in results] == [True, True, True]
    assert queue.count() == 4
