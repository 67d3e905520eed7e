"""The search benchmark: a word in 1% of the titles, its first page of 50, by full text
and by ``title LIKE '%word%'`` (what a search without it would run).

The dataset is the benchmark's usual one (bench/dataset.py) with the word appended to
the titles ending in "00" (jobs 100, 200, ...: 1% of them), before the indexes and the
full-text structure are built, as an upgrade would build them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from collector.config.database import DatabaseConfig
from collector.repositories import JobRepository
from collector.repositories.paging import KEYSET_ORDER

from .dataset import write_dataset

WORD = "zebra"
PAGE = 50
# The word goes into the titles ending in "00": 1% of the jobs, spread evenly.
SQL_MARK = "UPDATE jobs SET title = title || ' ' || ? WHERE title LIKE '%00'"
SQL_LIKE = f"SELECT * FROM jobs WHERE title LIKE ?{KEYSET_ORDER} LIMIT ?"


@dataclass(frozen=True)
class SearchFigures:
    engine: str
    jobs: int
    matching: int
    runs: int
    search_ms: float  # median, the first page of 50 through JobRepository.page(q=)
    like_ms: float  # median, the same page by title LIKE '%word%'
    speedup: float  # like_ms / search_ms: below 1 where LIKE is faster
    search_second_page_ms: float  # median, the page after the first (a cursor)

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
    return statistics.median(times)


def measure(db: DatabaseConfig, runs: int = 20) -> SearchFigures:
    """Time the search and its LIKE baseline on a database ``prepare`` made."""
    jobs = JobRepository(db)
    first = jobs.page(q=WORD, limit=PAGE)
    like = db.execute_query(SQL_LIKE, (f"%{WORD}%", PAGE + 1))
    if [j.id for j in first.items] != [row["id"] for row in like[:PAGE]]:
        raise RuntimeError("the search and the LIKE baseline disagree on the first page")
    cursor = first.next_cursor
    search_ms = _median_ms(lambda: jobs.page(q=WORD, limit=PAGE), runs)
    like_ms = _median_ms(lambda: db.execute_query(SQL_LIKE, (f"%{WORD}%", PAGE + 1)), runs)
    second_ms = _median_ms(lambda: jobs.page(q=WORD, limit=PAGE, cursor=cursor), runs)
    matching = len(db.execute_query("SELECT id FROM jobs WHERE title LIKE ?", (f"%{WORD}%",)))
    return SearchFigures(
        engine=db.dialect.display_name,
        jobs=jobs.count(),
        matching=matching,
        runs=runs,
        search_ms=round(search_ms, 3),
        like_ms=round(like_ms, 3),
        speedup=round(like_ms / search_ms, 3) if search_ms else 0.0,
        search_second_page_ms=round(second_ms, 3),
    )
