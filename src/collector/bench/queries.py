"""What the benchmark measures: each dashboard query as the plan wrote it and as
collector runs it.

``plan_sql`` is the plan's SQL (the baseline, run on the same data before and
after the indexes exist); ``call`` is the repository method that serves the same
need. Where the plan's query returns a whole table (every completed job, every
video) the dashboard shows a page of 50 instead, and both sides are measured as a
page of 50 so the comparison is like for like.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.repositories.paging import Page

ACTIVE = ("pending", "running", "cancelling")


@dataclass(frozen=True)
class Probe:
    """Values taken from the dataset so every query hits real rows."""

    job_id: str
    deep_cursor: str  # a cursor 90% of the way down the job list
    deep_offset: int  # the same depth as an OFFSET


@dataclass(frozen=True)
class BenchQuery:
    name: str
    plan_sql: str
    plan_params: Callable[[Probe], tuple[Any, ...]]
    # The repository call. A sized one takes the page length as a 4th argument, with
    # a default: flatness compares pages of equal length where the smallest
    # dataset cannot fill one (5 active jobs in 1,000).
    call: Callable[..., Any]  # (JobRepository, FileRepository, Probe[, n: int])
    dashboard: bool = True  # on a page the dashboard renders (flatness target)
    sized: bool = False


QUERIES: tuple[BenchQuery, ...] = (
    BenchQuery(
        "recent jobs (10)",
        "SELECT * FROM jobs ORDER BY created_at DESC LIMIT 10",
        lambda p: (),
        lambda j, f, p, n=10: j.get_recent_jobs(n),
        sized=True,
    ),
    BenchQuery(
        "statistics",
        "SELECT status, COUNT(*) as count FROM jobs GROUP BY status",
        lambda p: (),
        lambda j, f, p: j.get_job_statistics(),
    ),
    BenchQuery(
        "active jobs, newest first",
        "SELECT * FROM jobs WHERE status IN ('pending', 'running', 'cancelling') "
        "ORDER BY created_at DESC",
        lambda p: (),
        lambda j, f, p: j.get_active_jobs(),
        dashboard=False,  # all active jobs: grows with the queue, not with history
    ),
    BenchQuery(
        "active jobs, page of 50",
        "SELECT * FROM jobs WHERE status IN ('pending', 'running', 'cancelling') "
        "ORDER BY created_at DESC LIMIT 50",
        lambda p: (),
        lambda j, f, p, n=50: j.page(active=True, limit=n),
        sized=True,
    ),
    BenchQuery(
        "failed jobs, page of 50",
        "SELECT * FROM jobs WHERE status = ? ORDER BY created_at DESC LIMIT 50",
        lambda p: ("failed",),
        lambda j, f, p, n=50: j.page(status="failed", limit=n),
        sized=True,
    ),
    BenchQuery(
        "tiktok jobs, page of 50",
        "SELECT * FROM jobs WHERE platform = ? ORDER BY created_at DESC LIMIT 50",
        lambda p: ("tiktok",),
        lambda j, f, p, n=50: j.page(platform="tiktok", limit=n),
        sized=True,
    ),
    BenchQuery(
        "job list, page at 90% depth",
        "SELECT * FROM jobs ORDER BY created_at DESC LIMIT 50 OFFSET ?",
        lambda p: (p.deep_offset,),
        lambda j, f, p, n=50: j.page(cursor=p.deep_cursor, limit=n),
        sized=True,
    ),
    BenchQuery(
        "files of one job",
        "SELECT * FROM files WHERE job_id = ? ORDER BY created_at ASC",
        lambda p: (p.job_id,),
        lambda j, f, p: f.get_job_files(p.job_id),
    ),
    BenchQuery(
        "video files of one job",
        "SELECT * FROM files WHERE job_id = ? AND file_type = ? ORDER BY created_at ASC",
        lambda p: (p.job_id, "video"),
        lambda j, f, p: f.get_job_files_by_type(p.job_id, "video"),
    ),
    BenchQuery(
        "videos, page of 50",
        "SELECT * FROM files WHERE file_type = ? ORDER BY created_at DESC LIMIT 50",
        lambda p: ("video",),
        lambda j, f, p, n=50: f.page(file_type="video", limit=n),
        sized=True,
    ),
    BenchQuery(
        "orphaned files",
        "SELECT f.* FROM files f LEFT JOIN jobs j ON f.job_id = j.id WHERE j.id IS NULL",
        lambda p: (),
        lambda j, f, p: f.get_orphaned_files(),
        dashboard=False,  # the maintenance page
    ),
    BenchQuery(
        "count jobs",
        "SELECT COUNT(*) FROM jobs",
        lambda p: (),
        lambda j, f, p: j.count(),
    ),
)


def rows_returned(result: Any) -> int:
    """How many rows a repository call returned (a page's items, a list, a dict)."""
    if isinstance(result, Page):
        return len(result.items)
    if isinstance(result, (list, dict)):
        return len(result)
    return 1
