"""A worker's upkeep: statistics checked every few seconds, counts folded every minute."""

from __future__ import annotations

import pytest

from collector.config.database import DatabaseConfig
from collector.repositories import JobRepository
from collector.repositories.queue import JobQueue
from collector.worker.upkeep import COUNTS_FOLD_SECONDS, STATISTICS_CHECK_SECONDS, Upkeep
from tests.conftest import beside

pytestmark = pytest.mark.both_engines


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def analyzed(db: DatabaseConfig) -> int | None:
    with beside(db) as conn:
        return db.dialect.analyzed_rows(conn, "jobs")


def queue_jobs(db: DatabaseConfig, count: int, start: int = 0) -> None:
    urls = [f"https://example.com/watch/{n}" for n in range(start, start + count)]
    JobQueue(db).enqueue_many(urls)
    db.dialect.flush_statistics(db.connection())  # the live-row count a server keeps


def test_a_table_created_empty_gets_statistics_within_the_check_interval(
    db: DatabaseConfig,
) -> None:
    clock = Clock()
    upkeep = Upkeep(db, "w", clock)
    upkeep.run_due()  # the first call checks: nothing to learn from an empty table
    before = analyzed(db)
    assert before in (None, 0)

    queue_jobs(db, 200)
    clock.now += STATISTICS_CHECK_SECONDS - 0.5
    upkeep.run_due()
    assert analyzed(db) == before  # not due yet

    clock.now += 0.5
    upkeep.run_due()
    assert analyzed(db) == 200

    queue_jobs(db, 150, start=200)  # 350: less than twice 200, so not stale
    clock.now += STATISTICS_CHECK_SECONDS
    upkeep.run_due()
    assert analyzed(db) == 200


def test_counts_folded_once_a_minute(db: DatabaseConfig) -> None:
    clock = Clock()
    upkeep = Upkeep(db, "w", clock)
    upkeep.run_due()
    queue_jobs(db, 30)
    jobs = JobRepository(db)
    for job in jobs.find_by(limit=10):
        jobs.complete_job(job.id)

    def counts_rows() -> int:
        with beside(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM jobs_status_counts").fetchone()[0]

    held = counts_rows()
    clock.now += COUNTS_FOLD_SECONDS - 1
    upkeep.run_due()
    assert counts_rows() == held

    clock.now += 1
    upkeep.run_due()
    folded = counts_rows()
    assert jobs.get_job_statistics() == {
        **{status: 0 for status in jobs.get_job_statistics()},
        "pending": 20,
        "completed": 10,
    }
    if db.dialect.features.delta_counts:  # PostgreSQL: insert-only delta rows, folded
        assert held > 2 and folded == 2
    else:  # SQLite: one row per status, kept in place
        assert folded == held
