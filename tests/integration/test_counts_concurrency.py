"""Job statistics stay exact while several writers move jobs through every transition
at once, with the counts tables folded (compact_counts) and expired leases recovered
under them.

The statistics are read from the counts table the triggers keep (on PostgreSQL
insert-only delta rows, folded from time to time): whatever interleaving the writers
and the folding take, the sum per status must be what GROUP BY over the jobs says,
and no writer may meet a deadlock or a busy error.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS
from collector.repositories import JobRepository
from collector.repositories.queue import JobQueue, Recovered
from collector.schema.derived import counts_table
from collector.schema.reconcile import compact_counts
from tests.conftest import beside

pytestmark = pytest.mark.both_engines

WRITERS = 4
ROUNDS = 100  # per writer; each round is 3 to 5 transactions
LEASE = 300.0  # no lease expires during the test: each writer keeps the jobs it claims
ABANDONED = 0.01  # the lease of a job its writer walks away from (a dead worker's)
MAX_RETRIES = 3
JOIN_TIMEOUT = 120.0
COUNTS = counts_table("jobs", "status")


def truth(db: DatabaseConfig) -> dict[str, int]:
    """Jobs per status by GROUP BY over the jobs themselves (a connection of its own)."""
    with beside(db) as conn:
        rows = conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
    return {row[0]: int(row[1]) for row in rows}


def nonzero(statistics: dict[str, int]) -> dict[str, int]:
    return {status: n for status, n in statistics.items() if n}


def counts_rows(db: DatabaseConfig) -> Counter[str]:
    """How many rows the counts table holds for each status."""
    with beside(db) as conn:
        return Counter(row[0] for row in conn.execute(f'SELECT status FROM "{COUNTS}"'))


def writer(db: DatabaseConfig, number: int) -> Counter[str]:
    """``ROUNDS`` rounds of enqueue, claim and one ending each; what it did, by ending.

    A job claimed may be any writer's (or one lease recovery requeued): whoever claims
    it owns it until it ends it, or walks away from it (a short lease, left to expire).
    """
    queue = JobQueue(db)
    me = f"writer-{number}"
    done: Counter[str] = Counter()
    for round_ in range(ROUNDS):
        queue.enqueue(f"https://www.youtube.com/watch?v=w{number}r{round_}")
        ending = round_ % 6
        job = queue.claim(me, ABANDONED if ending == 5 else LEASE)
        if job is None:  # the others took every claimable job: a pending one to cancel
            extra = queue.enqueue(f"https://www.youtube.com/watch?v=w{number}r{round_}x").job
            queue.cancel(extra.id)
            done["cancel pending"] += 1
            continue
        if ending == 0:
            assert queue.complete(job.id, me) is not None
            done["complete"] += 1
        elif ending == 1:
            assert queue.fail(job.id, me, "HTTP Error 500") is not None
            queue.retry(job.id)
            done["fail, retry"] += 1
        elif ending == 2:
            assert queue.cancel(job.id).status == "cancelling"
            assert queue.finish_cancel(job.id, me) is not None
            done["cancel running"] += 1
        elif ending == 3:
            assert queue.reschedule(job.id, me, "timed out", 0.0) is not None
            done["reschedule"] += 1
        elif ending == 4:
            assert queue.fail(job.id, me, "HTTP Error 404: Not Found") is not None
            done["fail"] += 1
        else:  # a worker that died: its lease runs out, lease recovery takes the job back
            done["abandon"] += 1
    return done


def test_statistics_exact_under_concurrent_transitions_and_compaction(
    db: DatabaseConfig, jobs: JobRepository
) -> None:
    # Jobs queued one by one beforehand: on PostgreSQL each left a delta row, so the
    # first fold under the writers has rows to fold, whatever the timing.
    queue = JobQueue(db)
    for n in range(10):
        queue.enqueue(f"https://www.youtube.com/watch?v=before{n}")
    errors: list[BaseException] = []
    results: list[Counter[str]] = [Counter() for _ in range(WRITERS)]
    folded: list[int] = []
    reads: list[dict[str, int]] = []
    recovered: list[Recovered] = []
    writing = threading.Event()
    writing.set()
    barrier = threading.Barrier(WRITERS + 1, timeout=30)

    def write(index: int) -> None:
        try:
            barrier.wait()
            results[index] = writer(db, index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()  # this thread's connection

    def fold() -> None:
        try:
            barrier.wait()
            queue = JobQueue(db)
            while writing.is_set():
                folded.append(compact_counts(db, ALL_MODELS))
                reads.append(JobRepository(db).get_job_statistics())
                recovered.append(queue.recover_expired(MAX_RETRIES))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    writers = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    folder = threading.Thread(target=fold)
    for thread in [*writers, folder]:
        thread.start()
    for thread in writers:
        thread.join(JOIN_TIMEOUT)
    writing.clear()
    folder.join(JOIN_TIMEOUT)

    assert not any(t.is_alive() for t in [*writers, folder]), "a thread did not finish"
    assert errors == []  # no deadlock, no busy database, no failed assertion
    assert sum(sum(r.values()) for r in results) == WRITERS * ROUNDS
    assert reads and all(min(r.values()) >= 0 for r in reads)
    if db.dialect.features.delta_counts:
        assert sum(folded) > 0  # the folding ran under the writers, not only after
    assert any(r.requeued or r.failed for r in recovered)  # recovery ran under them too
    expected = truth(db)
    assert sum(expected.values()) == jobs.count() >= 10 + WRITERS * ROUNDS
    statistics = jobs.get_job_statistics()
    assert nonzero(statistics) == expected

    compact_counts(db, ALL_MODELS)

    assert jobs.get_job_statistics() == statistics
    per_status = counts_rows(db)
    assert set(expected) <= set(per_status)
    assert all(n == 1 for n in per_status.values()), per_status


def test_compaction_leaves_one_row_per_status_and_the_same_statistics(
    db: DatabaseConfig, jobs: JobRepository
) -> None:
    queue = JobQueue(db)
    for n in range(6):
        queue.enqueue(f"https://www.youtube.com/watch?v=c{n}")
    for n in range(4):
        job = queue.claim("w", LEASE)
        assert job is not None
        if n % 2:
            queue.complete(job.id, "w")
        else:
            queue.fail(job.id, "w", "HTTP Error 404: Not Found")
    before = jobs.get_job_statistics()
    rows_before = counts_rows(db)

    removed = compact_counts(db, ALL_MODELS)

    assert jobs.get_job_statistics() == before
    assert nonzero(before) == truth(db) == {"pending": 2, "completed": 2, "failed": 2}
    after = counts_rows(db)
    assert set(truth(db)) <= set(after)
    assert all(n == 1 for n in after.values()), after
    assert removed == sum(rows_before.values()) - sum(after.values())
    if db.dialect.features.delta_counts:
        assert removed > 0  # six inserts and four status changes left delta rows
    assert compact_counts(db, ALL_MODELS) == 0


def test_the_worker_folds_the_counts_in_its_upkeep(db: DatabaseConfig, jobs: JobRepository) -> None:
    from collector.worker import Worker

    queue = JobQueue(db)
    for n in range(5):
        job = queue.enqueue(f"https://www.youtube.com/watch?v=k{n}").job
        queue.cancel(job.id)
    before = jobs.get_job_statistics()
    worker = Worker(db, name="fold-test")

    # Nothing to claim (every job is cancelled): only its upkeep runs.
    assert worker.work_once("fold-test/0") is False

    assert jobs.get_job_statistics() == before
    assert nonzero(before) == truth(db) == {"cancelled": 5}
    rows = counts_rows(db)
    assert rows["cancelled"] == 1  # five enqueues and five cancels folded into one
    assert all(n == 1 for n in rows.values()), rows
