"""Synthetic datasets, written through the package's own models and SQL.

Two mixes: ``plan`` (the plan's script: statuses, platforms and file types drawn
uniformly) and ``realistic`` (what a collector that has run a while holds: about
90% completed, 7% failed, 2.3% cancelled, 0.5% pending, 0.2% running).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from collector.config.database import DatabaseConfig
from collector.models.file import FILE_TYPES, File
from collector.models.job import FINISHED_STATUSES, Job
from collector.repositories.file_repository import FileRepository
from collector.repositories.job_repository import JobRepository

PLAN_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
PLAN_PLATFORMS = ("youtube", "instagram", "tiktok")
REALISTIC_STATUSES = {
    "completed": 900,
    "failed": 70,
    "cancelled": 23,
    "pending": 5,
    "running": 2,
}
REALISTIC_PLATFORMS = {"youtube": 60, "instagram": 15, "tiktok": 15, "other": 10}
MIXES = ("plan", "realistic")
START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DatasetSummary:
    jobs: int
    files: int


def _weighted(rng: random.Random, weights: dict[str, int], count: int) -> list[str]:
    return rng.choices(list(weights), weights=list(weights.values()), k=count)


def generate(
    num_jobs: int, files_per_job: int = 3, mix: str = "plan", seed: int = 0
) -> Iterator[tuple[Job, list[File]]]:
    """Jobs in creation order, each with its files (1 to files_per_job + 1 of them)."""
    if mix not in MIXES:
        raise ValueError(f"unknown mix {mix!r}; valid: {', '.join(MIXES)}")
    rng = random.Random(seed)
    if mix == "plan":
        statuses = [rng.choice(PLAN_STATUSES) for _ in range(num_jobs)]
        platforms = [rng.choice(PLAN_PLATFORMS) for _ in range(num_jobs)]
    else:
        statuses = _weighted(rng, REALISTIC_STATUSES, num_jobs)
        platforms = _weighted(rng, REALISTIC_PLATFORMS, num_jobs)
    created = START
    for i in range(num_jobs):
        created += timedelta(seconds=rng.randint(1, 120), microseconds=rng.randint(0, 999_999))
        status = statuses[i]
        job = Job(
            url=f"https://{platforms[i]}.example/watch/{i}",
            platform=platforms[i],
            status=status,
            title=f"Test Video {i}",
            progress=100 if status == "completed" else 0,
            error_message="Test error" if status == "failed" else None,
            created_at=created,
            updated_at=created,
            completed_at=created + timedelta(seconds=30) if status in FINISHED_STATUSES else None,
        )
        files = []
        for j in range(rng.randint(1, files_per_job + 1)):
            file_type = rng.choice(FILE_TYPES)
            stamp = created + timedelta(seconds=5, microseconds=j)
            files.append(
                File(
                    job_id=job.id,
                    file_path=f"/downloads/{job.id}/{j}.{file_type}",
                    file_type=file_type,
                    file_size=rng.randint(100_000, 10_000_000),
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
        yield job, files


def write_dataset(
    db: DatabaseConfig,
    num_jobs: int,
    files_per_job: int = 3,
    mix: str = "plan",
    seed: int = 0,
    batch: int = 10_000,
) -> DatasetSummary:
    """Bulk-insert a generated dataset in batches of ``batch`` jobs per transaction."""
    job_sql, file_sql = JobRepository.insert_sql(), FileRepository.insert_sql()
    job_rows: list[tuple] = []
    file_rows: list[tuple] = []
    total_jobs = total_files = 0

    def flush() -> None:
        with db.transaction() as conn:
            conn.executemany(job_sql, job_rows)
            conn.executemany(file_sql, file_rows)
        job_rows.clear()
        file_rows.clear()

    for job, files in generate(num_jobs, files_per_job, mix, seed):
        job_rows.append(job.to_row())
        file_rows.extend(f.to_row() for f in files)
        total_jobs += 1
        total_files += len(files)
        if len(job_rows) >= batch:
            flush()
    if job_rows:
        flush()
    return DatasetSummary(total_jobs, total_files)
