"""Plan contracts: each repository query and the index it must use.

Tests run every contract on a database large enough for the planner to care
(with statistics); ``collector db explain`` prints them for a real database. The
SQL checked is what the repository method actually ran, captured as it ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.config.database import DatabaseConfig, Statement
from collector.schema.plans import PlanStep, explain, plan_problems

from .file_repository import FileRepository
from .job_repository import JobRepository
from .paging import encode_cursor
from .queue import JobQueue

PK_JOBS = "sqlite_autoindex_jobs_1"
PK_FILES = "sqlite_autoindex_files_1"
# The queue's samples: nothing is queued or claimed when contracts are only recorded.
QUEUE_SAMPLE_URL = "https://www.youtube.com/watch?v=plan-contract"
QUEUE_SAMPLE_WORKER = "plan-contract-worker"
# Proposed partial index for the dedupe look-up (not declared yet; see queue.py).
QUEUED_URL_INDEX = "idx_jobs_url_queued"


@dataclass(frozen=True)
class Sample:
    """Values to call the queries with: an existing job id, a job with files."""

    job_id: str = "00000000-0000-0000-0000-000000000000"
    file_id: str = "00000000-0000-0000-0000-000000000000"
    # A cursor in the middle of the lists: pages after it must seek, not scan.
    cursor: str = encode_cursor(
        "2024-06-01 00:00:00.000000", "00000000-0000-0000-0000-000000000000"
    )


@dataclass(frozen=True)
class QueryContract:
    name: str
    call: Callable[[JobRepository, FileRepository, Sample], Any]
    # One entry per statement the method runs: the index it must use, a tuple of
    # indexes that serve it equally (the planner may pick either), or None.
    indexes: tuple[str | tuple[str, ...] | None, ...]
    temp_sort_ok: bool = False
    scans_ok: frozenset[str] = frozenset()  # small derived tables read whole
    note: str = ""


CONTRACTS: tuple[QueryContract, ...] = (
    QueryContract(
        "JobRepository.get_active_jobs",
        lambda j, f, s: j.get_active_jobs(),
        ("idx_jobs_active_created",),
    ),
    QueryContract(
        "JobRepository.get_recent_jobs",
        lambda j, f, s: j.get_recent_jobs(10),
        ("idx_jobs_created_at",),
    ),
    QueryContract(
        "JobRepository.get_job_statistics",
        lambda j, f, s: j.get_job_statistics(),
        (None,),
        scans_ok=frozenset({"jobs_status_counts"}),
        note="reads the trigger-kept counts table: one row per status",
    ),
    QueryContract(
        "JobRepository.find_by(status)",
        lambda j, f, s: j.find_by(status="completed", limit=50),
        ("idx_jobs_status_created",),
    ),
    QueryContract(
        "JobRepository.find_by(platform)",
        lambda j, f, s: j.find_by(platform="youtube", limit=50),
        ("idx_jobs_platform",),
    ),
    QueryContract("JobRepository.get_job", lambda j, f, s: j.get_job(s.job_id), (PK_JOBS,)),
    QueryContract(
        "JobRepository.update_job_status",
        lambda j, f, s: j.update_job_status(s.job_id, "running"),
        (PK_JOBS,),
    ),
    QueryContract(
        "JobRepository.complete_job", lambda j, f, s: j.complete_job(s.job_id), (PK_JOBS,)
    ),
    QueryContract("JobRepository.fail_job", lambda j, f, s: j.fail_job(s.job_id, "x"), (PK_JOBS,)),
    QueryContract(
        "JobRepository.delete_job",
        lambda j, f, s: j.delete_job(s.job_id),
        (("idx_files_job_id", "idx_files_job_id_type"), PK_JOBS),
        note="both files indexes lead with job_id; the planner picks either",
    ),
    QueryContract(
        "JobRepository.count",
        lambda j, f, s: j.count(),
        (None,),
        scans_ok=frozenset({"jobs_status_counts"}),
        note="sums the trigger-kept counts table",
    ),
    QueryContract(
        "FileRepository.create_file",
        lambda j, f, s: f.create_file(s.job_id, "/x.mp4", "video", 1),
        (PK_JOBS,),
    ),
    QueryContract("FileRepository.get_file", lambda j, f, s: f.get_file(s.file_id), (PK_FILES,)),
    QueryContract(
        "FileRepository.get_job_files",
        lambda j, f, s: f.get_job_files(s.job_id),
        ("idx_files_job_id",),
        note="the index is in created_at order: no sort",
    ),
    QueryContract(
        "FileRepository.get_files_by_type",
        lambda j, f, s: f.get_files_by_type("video"),
        ("idx_files_file_type",),
    ),
    QueryContract(
        "FileRepository.get_job_files_by_type",
        lambda j, f, s: f.get_job_files_by_type(s.job_id, "video"),
        ("idx_files_job_id_type",),
        note="the index is in created_at order: no sort",
    ),
    QueryContract(
        "FileRepository.get_orphaned_files",
        lambda j, f, s: f.get_orphaned_files(),
        (("idx_files_job_id", "idx_files_job_id_type"),),
        scans_ok=frozenset({"files_orphan_job_id"}),
        note="reads the trigger-kept orphan ids, then only their files",
    ),
    QueryContract(
        "FileRepository.count",
        lambda j, f, s: f.count(),
        (None,),
        scans_ok=frozenset({"files_file_type_counts"}),
        note="sums the trigger-kept counts table",
    ),
    QueryContract(
        "FileRepository.get_type_counts",
        lambda j, f, s: f.get_type_counts(),
        (None,),
        scans_ok=frozenset({"files_file_type_counts"}),
        note="reads the trigger-kept counts table: one row per type",
    ),
    QueryContract("JobRepository.page()", lambda j, f, s: j.page(), ("idx_jobs_created_at",)),
    QueryContract(
        "JobRepository.page(cursor)",
        lambda j, f, s: j.page(cursor=s.cursor),
        ("idx_jobs_created_at",),
    ),
    QueryContract(
        "JobRepository.page(status, cursor)",
        lambda j, f, s: j.page(status="failed", cursor=s.cursor),
        ("idx_jobs_status_created",),
    ),
    QueryContract(
        "JobRepository.page(platform, cursor)",
        lambda j, f, s: j.page(platform="tiktok", cursor=s.cursor),
        ("idx_jobs_platform",),
    ),
    QueryContract(
        "JobRepository.page(active, cursor)",
        lambda j, f, s: j.page(active=True, cursor=s.cursor),
        ("idx_jobs_active_created",),
    ),
    QueryContract(
        "FileRepository.page(cursor)",
        lambda j, f, s: f.page(cursor=s.cursor),
        ("idx_files_created_at",),
    ),
    QueryContract(
        "FileRepository.page(file_type, cursor)",
        lambda j, f, s: f.page(file_type="video", cursor=s.cursor),
        ("idx_files_file_type",),
    ),
    # -- the queue (repositories/queue.py); the worker's writes all go by primary key --
    QueryContract(
        "JobQueue.find_queued",
        lambda j, f, s: JobQueue(j.db).find_queued(QUEUE_SAMPLE_URL),
        ((QUEUED_URL_INDEX, "idx_jobs_status_created", "idx_jobs_status"),),
        note="the dedupe look-up: the url partial index, or the pending and running rows",
    ),
    QueryContract(
        "JobQueue.claim",
        lambda j, f, s: JobQueue(j.db).claim(QUEUE_SAMPLE_WORKER, 60),
        ("idx_jobs_status_created",),
        note="the oldest pending job: the first entry of the status index, no sort",
    ),
    QueryContract(
        "JobQueue.pending_wait",
        lambda j, f, s: JobQueue(j.db).pending_wait(),
        (("idx_jobs_status_created", "idx_jobs_status"),),
        note="reads the pending rows only",
    ),
    QueryContract(
        "JobQueue.has_claimable",
        lambda j, f, s: JobQueue(j.db).has_claimable(),
        (("idx_jobs_status_created", "idx_jobs_status"),),
        note="an idle worker's look after a change: the first pending row, no scan",
    ),
    QueryContract(
        "JobQueue.renew",
        lambda j, f, s: JobQueue(j.db).renew(s.job_id, QUEUE_SAMPLE_WORKER, 60),
        (PK_JOBS,),
    ),
    QueryContract(
        "JobQueue.report_progress",
        lambda j, f, s: JobQueue(j.db).report_progress(
            s.job_id, QUEUE_SAMPLE_WORKER, 60, progress=50, bytes_downloaded=1, operation="x"
        ),
        (PK_JOBS,),
    ),
    QueryContract(
        "JobQueue.complete",
        lambda j, f, s: JobQueue(j.db).complete(s.job_id, QUEUE_SAMPLE_WORKER),
        (PK_JOBS,),
    ),
    QueryContract(
        "JobQueue.recover_expired",
        lambda j, f, s: JobQueue(j.db).recover_expired(3),
        (("idx_jobs_status_created", "idx_jobs_status"),) * 3,
        note="cancelling, exhausted and running jobs whose lease expired: status searches",
    ),
    QueryContract(
        "JobQueue.cancel",
        lambda j, f, s: JobQueue(j.db).cancel(s.job_id),
        (PK_JOBS, PK_JOBS),
        note="the second statement runs only when the update changed nothing (to say why)",
    ),
)


@dataclass
class CheckedStatement:
    statement: Statement
    steps: list[PlanStep]
    expected_index: str | tuple[str, ...] | None
    problems: list[str]


def capture_statements(
    db: DatabaseConfig, contract: QueryContract, sample: Sample, execute: bool
) -> list[Statement]:
    """Run (or, with ``execute=False``, only record) one contract's repository call."""
    jobs, files = JobRepository(db), FileRepository(db)
    with db.capture(execute=execute) as statements:
        try:
            contract.call(jobs, files, sample)
        except ValueError:
            if execute:
                raise
            # A write that found nothing to change (nothing ran): the statement is recorded.
    return statements


def check_contract(
    db: DatabaseConfig, contract: QueryContract, sample: Sample, execute: bool = False
) -> list[CheckedStatement]:
    """The plan of every statement a repository method runs, checked against its contract."""
    statements = capture_statements(db, contract, sample, execute)
    conn = db.connection()
    checked = []
    for position, statement in enumerate(statements):
        wanted = contract.indexes[position] if position < len(contract.indexes) else None
        steps = explain(conn, statement.sql, statement.params)
        problems = plan_problems(
            steps, wanted, temp_sort_ok=contract.temp_sort_ok, scans_ok=contract.scans_ok
        )
        if position >= len(contract.indexes):
            problems.append("statement not covered by the contract")
        checked.append(CheckedStatement(statement, steps, wanted, problems))
    if len(statements) < len(contract.indexes):
        checked.append(
            CheckedStatement(
                Statement("", ()),
                [],
                None,
                [f"expected {len(contract.indexes)} statements, ran {len(statements)}"],
            )
        )
    return checked


def sample_from(db: DatabaseConfig) -> Sample:
    """A sample whose job exists and has files (one of them the sample's file), and a
    cursor halfway down the lists."""
    rows = db.execute_query("SELECT job_id, id FROM files ORDER BY rowid DESC LIMIT 1")
    if rows:
        found = {"job_id": rows[0]["job_id"], "file_id": rows[0]["id"]}
    else:
        jobs = db.execute_query("SELECT id FROM jobs ORDER BY rowid DESC LIMIT 1")
        if not jobs:
            return Sample()
        found = {"job_id": jobs[0]["id"]}
    middle = db.execute_query(
        "SELECT created_at, id FROM jobs WHERE rowid = (SELECT MAX(rowid) / 2 + 1 FROM jobs)"
    )
    if not middle:
        return Sample(**found)
    cursor = encode_cursor(middle[0]["created_at"], middle[0]["id"])
    return Sample(**found, cursor=cursor)
