"""claim_many and complete_many: batches of jobs per statement, never one job twice."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from collector.config.database import DatabaseConfig
from collector.repositories.queue import JobQueue
from tests.integration.test_queue import run_in_threads
from tests.worker_fixtures import SUBPROCESS_TIMEOUT

pytestmark = pytest.mark.both_engines

URL = "https://example.com/clip-{}"

# A claimer in a process of its own: claims batches until none is left, prints the ids.
CLAIMER = """
import sys
from collector.config.database import DatabaseConfig
from collector.repositories.queue import JobQueue
queue = JobQueue(DatabaseConfig(sys.argv[1]))
name = sys.argv[2]
while True:
    jobs = queue.claim_many(name, 60, 7)
    if not jobs:
        break
    done = queue.complete_many(name, [job.id for job in jobs])
    assert done == {job.id for job in jobs}, (done, jobs)
    for job in jobs:
        print(job.id)
"""


def queued(queue: JobQueue, count: int) -> list[str]:
    return [e.job.id for e in queue.enqueue_many(URL.format(n) for n in range(count))]


def test_claim_many_takes_the_oldest_first_up_to_n(queue: JobQueue) -> None:
    ids = queued(queue, 5)

    first = queue.claim_many("w1", 60, 3)
    rest = queue.claim_many("w2", 60, 3)

    assert [job.id for job in first] == ids[:3]
    assert [job.id for job in rest] == ids[3:]
    assert {job.status for job in first + rest} == {"running"}
    assert {job.worker_id for job in first} == {"w1"}
    assert queue.claim_many("w3", 60, 3) == []
    assert queue.get(ids[0]).lease_expires_at is not None


def test_claim_many_leaves_jobs_waiting_for_their_next_attempt(queue: JobQueue) -> None:
    ids = queued(queue, 2)
    job = queue.claim("w1", 60)
    queue.reschedule(job.id, "w1", "transient", 3600)

    assert [j.id for j in queue.claim_many("w2", 60, 10)] == ids[1:]


@pytest.mark.parametrize("n", [0, -1, True, 2.5])
def test_claim_many_refuses_a_count_that_is_not_a_positive_whole_number(
    queue: JobQueue, n: object
) -> None:
    with pytest.raises(ValueError, match="n must be"):
        queue.claim_many("w1", 60, n)  # type: ignore[arg-type]  # the wrong types on purpose


def test_complete_many_completes_only_this_workers_running_jobs(queue: JobQueue) -> None:
    ids = queued(queue, 3)
    mine = [job.id for job in queue.claim_many("w1", 60, 2)]
    theirs = queue.claim("w2", 60)

    done = queue.complete_many("w1", [*mine, theirs.id, "no-such-job"])

    assert done == set(mine)
    assert [queue.get(i).status for i in ids] == ["completed", "completed", "running"]
    assert queue.complete_many("w1", mine) == set()  # already completed: nothing changes


def test_threads_claiming_batches_never_take_one_job_twice(db: DatabaseConfig) -> None:
    ids = queued(JobQueue(db), 200)
    queue = JobQueue(db)

    def drain(index: int) -> list[str]:
        taken: list[str] = []
        while batch := queue.claim_many(f"w{index}", 60, 10):
            taken.extend(job.id for job in batch)
        return taken

    results = run_in_threads(4, drain, db)
    claims = Counter(job_id for taken in results for job_id in taken)

    assert sorted(claims) == sorted(ids)
    assert set(claims.values()) == {1}


def test_processes_claiming_batches_never_take_one_job_twice(db: DatabaseConfig) -> None:
    ids = queued(JobQueue(db), 300)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(db.location), f"p{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    outputs = [p.communicate(timeout=SUBPROCESS_TIMEOUT) for p in processes]

    assert [p.returncode for p in processes] == [0, 0, 0], [err for _, err in outputs]
    claims = Counter(line for out, _ in outputs for line in out.split())
    assert sorted(claims) == sorted(ids)
    assert set(claims.values()) == {1}
    assert (
        JobQueue(db).db.execute_query("SELECT COUNT(*) FROM jobs WHERE status = ?", ("completed",))[
            0
        ][0]
        == 300
    )


def test_complete_and_claim_finishes_one_batch_and_takes_the_next_together(
    queue: JobQueue,
) -> None:
    ids = queued(queue, 4)
    first = [job.id for job in queue.claim_many("w1", 60, 2)]

    second = queue.complete_and_claim("w1", first, 60, 2)

    assert [job.id for job in second] == ids[2:]
    assert [queue.get(i).status for i in ids] == ["completed"] * 2 + ["running"] * 2
    assert queue.complete_and_claim("w1", [j.id for j in second], 60, 2) == []
    assert {queue.get(i).status for i in ids} == {"completed"}
    assert queue.complete_and_claim("w1", [], 60, 2) == []


def test_complete_and_claim_leaves_other_workers_jobs_alone(queue: JobQueue) -> None:
    ids = queued(queue, 3)
    theirs = queue.claim("w2", 60)

    taken = queue.complete_and_claim("w1", [theirs.id], 60, 5)

    assert queue.get(theirs.id).status == "running"
    assert sorted(job.id for job in taken) == sorted(ids[1:])


def test_a_failing_batch_leaves_nothing_and_the_connection_usable(
    queue: JobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """enqueue_many runs pipelined on PostgreSQL: an insert that fails still rolls the
    whole batch back, raises, and leaves the connection ready for the next one."""
    from collector.models.job import Job

    original = Job.to_row
    fields = Job.field_names()

    def broken(self: Job) -> tuple:
        row = list(original(self))
        row[fields.index("url")] = None  # NOT NULL
        return tuple(row)

    monkeypatch.setattr(Job, "to_row", broken)
    with pytest.raises(Exception):  # noqa: B017  # each engine's own error class
        queue.enqueue_many([URL.format("bad-1"), URL.format("bad-2")])
    monkeypatch.setattr(Job, "to_row", original)

    assert queue.db.execute_query("SELECT COUNT(*) FROM jobs")[0][0] == 0
    assert [e.created for e in queue.enqueue_many([URL.format("good")])] == [True]
    assert queue.claim_many("w1", 60, 5)[0].url == URL.format("good")
