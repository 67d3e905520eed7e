"""The search benchmark: the first page of 50 for a word in 1% of the titles, a word in
one title and a word in every title, through ``JobRepository.page(q=...)`` (the walk of
the list, then the gather if the walk stopped short), through the gather alone (every
match from the full-text structure, sorted: how a search ran before the walk), and by
``lower(title) LIKE '%word%'`` (what a search without the full-text structure would run).

The dataset is the benchmark's usual one (bench/dataset.py, titles "Test Video N") with
the word appended to the titles ending in "00" (jobs 100, 200, ...: 1% of them), before
the indexes and the full-text structure are built, as an upgrade would build them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from collector.config.database import DatabaseConfig
from collector.models.job import Job
from collector.repositories import JobRepository
from collector.repositories.paging import KEYSET_ORDER

from .dataset import write_dataset
from .queue import bench_database

WORD = "zebra"
PAGE = 50
# The word goes into the titles ending in "00": 1% of the jobs, spread evenly.
SQL_MARK = "UPDATE jobs SET title = title || ' ' || ? WHERE title LIKE '%00'"
# lower(): PostgreSQL's LIKE tells cases apart, SQLite's does not (for ASCII).
SQL_LIKE = f"SELECT * FROM jobs WHERE lower(title) LIKE ?{KEYSET_ORDER} LIMIT ?"


@dataclass(frozen=True)
class SearchCase:
    """One word's first page of 50, timed each way (medians of warm runs, ms)."""

    name: str
    word: str
    matching: int  # jobs whose title holds the word
    statements: list[str]  # what page(q=) ran: "walk", then "gather" if it stopped short
    search_ms: float  # page(q=)
    second_page_ms: float  # the page after the first (its cursor)
    gather_ms: float  # the gather alone: every match read and sorted
    like_ms: float  # lower(title) LIKE '%word%', newest first, the same LIMIT
    speedup: float  # like_ms / search_ms: below 1 where LIKE is faster


@dataclass(frozen=True)
class SearchFigures:
    engine: str
    jobs: int
    runs: int
    cases: list[SearchCase] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def prepare(db: DatabaseConfig, num_jobs: int) -> int:
    """Load ``num_jobs`` jobs into a new database, mark 1% of titles with the word, then
    build every index and the full-text structure; the number of jobs marked."""
    from collector.models import ALL_MODELS
    from collector.schema.reconcile import reconcile

    reconcile(db, ALL_MODELS, indexes=False)
    write_dataset(db, num_jobs, files_per_job=0)
    with db.transaction() as conn:
        marked = conn.execute(SQL_MARK, (WORD,)).rowcount
    db.initialize_schema(ALL_MODELS, online=False)
    return int(marked)


def _median_ms(call: Callable[[], Any], runs: int) -> float:
    call()  # warm the cache: the figures are of a warm server, like the other benchmarks
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def _statements(db: DatabaseConfig, call: Callable[[], Any]) -> list[str]:
    """The kinds of statement an unfiltered search ran (walk, gather), in order."""
    dialect, columns = db.dialect, Job.search
    kinds = {
        dialect.search_walk_sql("jobs", columns, "", KEYSET_ORDER): "walk",
        dialect.search_gather_sql("jobs", columns, "", KEYSET_ORDER): "gather",
    }
    with db.capture() as statements:
        call()
    return [kinds.get(s.sql, s.sql) for s in statements]


def measure_case(db: DatabaseConfig, name: str, word: str, runs: int) -> SearchCase:
    jobs = JobRepository(db)
    like_params = (f"%{word}%", PAGE + 1)
    first = jobs.page(q=word, limit=PAGE)
    like = db.execute_query(SQL_LIKE, like_params)
    if [j.id for j in first.items] != [row["id"] for row in like[:PAGE]]:
        raise RuntimeError(f"the search and the LIKE baseline disagree on {word!r}")
    gather_sql = db.dialect.search_gather_sql("jobs", Job.search, "", KEYSET_ORDER)
    gather_params = (db.dialect.search_value([word]), PAGE + 1)
    gathered = db.execute_query(gather_sql, gather_params)
    if [row["id"] for row in gathered[:PAGE]] != [j.id for j in first.items]:
        raise RuntimeError(f"the walk and the gather disagree on {word!r}")
    cursor = first.next_cursor
    search_ms = _median_ms(lambda: jobs.page(q=word, limit=PAGE), runs)
    like_ms = _median_ms(lambda: db.execute_query(SQL_LIKE, like_params), runs)
    matching = db.execute_query(
        "SELECT count(*) FROM jobs WHERE lower(title) LIKE ?", like_params[:1]
    )
    return SearchCase(
        name=name,
        word=word,
        matching=int(matching[0][0]),
        statements=_statements(db, lambda: jobs.page(q=word, limit=PAGE)),
        search_ms=search_ms,
        second_page_ms=(
            _median_ms(lambda: jobs.page(q=word, limit=PAGE, cursor=cursor), runs)
            if cursor
            else 0.0
        ),
        gather_ms=_median_ms(lambda: db.execute_query(gather_sql, gather_params), runs),
        like_ms=like_ms,
        speedup=round(like_ms / search_ms, 3) if search_ms else 0.0,
    )


def measure(db: DatabaseConfig, runs: int = 20) -> SearchFigures:
    """Time the searches and their LIKE baseline on a database ``prepare`` made."""
    total = JobRepository(db).count()
    cases = [
        (f"a word in 1% of the titles ({WORD!r})", WORD),
        # Its number has the most digits: no other job's number holds it.
        ("a word in one title (its job's number)", str(total - total // 3)),
        ("a word in every title ('video')", "video"),
    ]
    return SearchFigures(
        engine=db.dialect.display_name,
        jobs=total,
        runs=runs,
        cases=[measure_case(db, name, word, runs) for name, word in cases],
    )


def search_lines(figures: SearchFigures) -> list[str]:
    lines = [f"{figures.engine}, {figures.jobs:,} jobs, medians of {figures.runs} warm runs"]
    for case in figures.cases:
        lines += [
            f"  {case.name}: {case.matching:,} jobs",
            f"    first page of {PAGE}: {case.search_ms:,.2f} ms "
            f"({' + '.join(case.statements)}); the next: {case.second_page_ms:,.2f} ms",
            f"    the gather alone: {case.gather_ms:,.2f} ms; "
            f"lower(title) LIKE: {case.like_ms:,.2f} ms ({case.speedup:,}x faster by words)",
        ]
    return lines


def run_search(
    folder: Path, num_jobs: int, database_url: str | None = None, runs: int = 20
) -> SearchFigures:
    """One run on a new SQLite file in ``folder``, or in a schema of its own of the
    PostgreSQL database ``database_url`` (dropped at the end)."""
    with bench_database(folder, "search.db", database_url) as db:
        prepare(db, num_jobs)
        return measure(db, runs)
