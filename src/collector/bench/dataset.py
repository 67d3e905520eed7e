"""Synthetic datasets, written through the package's own declarations and SQL.

Two mixes: ``plan`` (the plan's script: statuses, platforms and file types drawn
uniformly) and ``realistic`` (what a collector that has run a while holds: about
90% completed, 7% failed, 2.3% cancelled, 0.5% pending, 0.2% running).

Rows are built as tuples in the models' column order (``Model.field_names()``) and
inserted with the repositories' bulk path (``Repository.insert_rows``: many rows to
a statement; COPY on PostgreSQL, ``Dialect.bulk_load``), so there is no second
schema; skipping the model objects is what lets a million jobs load in well under
a minute.
The same seed gives the same dataset, ids included (time-ordered, like new_id()).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.config.database import DatabaseConfig
from collector.models.base import BaseModel
from collector.models.file import FILE_TYPES, File
from collector.models.job import FINISHED_STATUSES, Job
from collector.models.values import time_ordered_id, to_db_timestamp
from collector.repositories.file_repository import FileRepository
from collector.repositories.job_repository import JobRepository

PLAN_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
PLAN_PLATFORMS = ("youtube", "instagram", "tiktok")
REALISTIC_STATUSES = {"completed": 900, "failed": 70, "cancelled": 23, "pending": 5, "running": 2}
REALISTIC_PLATFORMS = {"youtube": 60, "instagram": 15, "tiktok": 15, "other": 10}
MIXES = ("plan", "realistic")
START = datetime(2024, 1, 1)  # naive UTC, as stored: no conversion per row
EPOCH_MS = int(START.replace(tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True)
class DatasetSummary:
    jobs: int
    files: int


def row_builder(model: type[BaseModel]) -> Callable[..., tuple[Any, ...]]:
    """A function from field values to a stored row of ``model``, defaults filled in."""
    names = model.field_names()
    defaults = {name: model.field(name).default for name in names}

    def build(**values: Any) -> tuple[Any, ...]:
        return tuple(map((defaults | values).__getitem__, names))

    return build


def _random_id(millis: int, rand: int) -> str:
    """A uuid4-shaped id from the random bits alone (the time is ignored)."""
    spread = (rand * 0x9E3779B97F4A7C15F39CC0605CEDC835) & ((1 << 128) - 1)
    return str(uuid.UUID(int=spread, version=4))


def _choices(rng: random.Random, mix: str, count: int) -> tuple[list[str], list[str]]:
    if mix == "plan":
        statuses = [rng.choice(PLAN_STATUSES) for _ in range(count)]
        platforms = [rng.choice(PLAN_PLATFORMS) for _ in range(count)]
        return statuses, platforms
    statuses = rng.choices(
        list(REALISTIC_STATUSES), weights=list(REALISTIC_STATUSES.values()), k=count
    )
    platforms = rng.choices(
        list(REALISTIC_PLATFORMS), weights=list(REALISTIC_PLATFORMS.values()), k=count
    )
    return statuses, platforms


ID_STYLES = ("time", "uuid4")


def generate_rows(
    num_jobs: int, files_per_job: int = 3, mix: str = "plan", seed: int = 0, ids: str = "time"
) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """(job row, its file rows) in creation order; 1 to files_per_job + 1 files a job.

    ``ids="uuid4"`` draws random ids, as the pre-index code did, to measure what
    time-ordered ids save on insert.
    """
    if ids not in ID_STYLES:
        raise ValueError(f"unknown id style {ids!r}; valid: {', '.join(ID_STYLES)}")
    if mix not in MIXES:
        raise ValueError(f"unknown mix {mix!r}; valid: {', '.join(MIXES)}")
    if files_per_job < 0:
        raise ValueError("files_per_job must be 0 or more")
    rng = random.Random(seed)
    statuses, platforms = _choices(rng, mix, num_jobs)
    job_row, file_row = row_builder(Job), row_builder(File)
    make_id = time_ordered_id if ids == "time" else _random_id
    micros = 0
    for i in range(num_jobs):
        micros += rng.randint(1_000_000, 120_000_000)
        created = START + timedelta(microseconds=micros)
        stamp = to_db_timestamp(created)
        status, platform = statuses[i], platforms[i]
        job_id = make_id(EPOCH_MS + micros // 1000, rng.getrandbits(74))
        job = job_row(
            id=job_id,
            created_at=stamp,
            updated_at=stamp,
            url=f"https://{platform}.example/watch/{i}",
            # As a video's identity: unique, like the job (two datasets written into
            # one database repeat their URLs, never their ids).
            identity=f"Bench:{job_id}",
            platform=platform,
            status=status,
            title=f"Test Video {i}",
            progress=100 if status == "completed" else 0,
            error_message="Test error" if status == "failed" else None,
            completed_at=(
                to_db_timestamp(created + timedelta(seconds=30))
                if status in FINISHED_STATUSES
                else None
            ),
        )
        files = []
        for j in range(rng.randint(1, files_per_job + 1)):
            file_type = rng.choice(FILE_TYPES)
            file_micros = micros + 5_000_000 + j
            file_stamp = to_db_timestamp(START + timedelta(microseconds=file_micros))
            files.append(
                file_row(
                    id=make_id(EPOCH_MS + file_micros // 1000, rng.getrandbits(74)),
                    created_at=file_stamp,
                    updated_at=file_stamp,
                    job_id=job_id,
                    file_path=f"/downloads/{job_id}/{j}.{file_type}",
                    file_type=file_type,
                    file_size=rng.randint(100_000, 10_000_000),
                )
            )
        yield job, files


def write_dataset(
    db: DatabaseConfig,
    num_jobs: int,
    files_per_job: int = 3,
    mix: str = "plan",
    seed: int = 0,
    batch: int = 20_000,
    progress: Callable[[int], None] | None = None,
    ids: str = "time",
) -> DatasetSummary:
    """Bulk-insert a generated dataset, ``batch`` jobs per transaction.

    The tables must exist. ``progress`` is called with the number of jobs written
    after each batch.
    """
    job_rows: list[tuple[Any, ...]] = []
    file_rows: list[tuple[Any, ...]] = []
    total_files = 0

    def flush() -> None:
        with db.transaction() as conn:
            for repository, rows in ((JobRepository, job_rows), (FileRepository, file_rows)):
                model = repository.model
                if (
                    db.dialect.bulk_load(conn, model.get_table_name(), model.field_names(), rows)
                    is None
                ):
                    repository.insert_rows(conn, rows)
        if progress:
            progress(len(job_rows))
        job_rows.clear()
        file_rows.clear()

    for job, files in generate_rows(num_jobs, files_per_job, mix, seed, ids):
        job_rows.append(job)
        file_rows.extend(files)
        total_files += len(files)
        if len(job_rows) >= batch:
            flush()
    if job_rows:
        flush()
    return DatasetSummary(num_jobs, total_files)


def create_dataset(
    db: DatabaseConfig,
    num_jobs: int,
    files_per_job: int = 3,
    mix: str = "plan",
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> DatasetSummary:
    """A new database with the dataset: tables, bulk load, then indexes and statistics.

    Building the indexes after the load is the fast path (and the same work as
    upgrading an existing index-less database); the result is the schema every
    start reconciles to.
    """
    from collector.models import ALL_MODELS
    from collector.schema.reconcile import reconcile

    reconcile(db, ALL_MODELS, indexes=False)
    summary = write_dataset(db, num_jobs, files_per_job, mix, seed, progress=progress)
    db.initialize_schema(ALL_MODELS, online=False)  # nobody else writes to it yet
    return summary
