"""JobRepository: the queries over jobs that the dashboard, worker and CLI run."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from collector.dialects import Dialect
from collector.models.job import FINISHED_STATUSES, PLATFORMS, STATUSES, Job
from collector.models.values import to_db_timestamp, utcnow
from collector.schema.derived import counts_table
from collector.schema.sql import column_list, quote_identifier

from .base import Repository, check_choice, check_limit
from .paging import DEFAULT_PAGE, KEYSET_ORDER, Page, keyset_where

logger = logging.getLogger(__name__)

# A partial index serves a query only when the query repeats the index's WHERE terms
# as literals; bound parameters do not match (measured, docs/indexes.md). So the
# active-jobs query embeds the very condition the index declares.
ACTIVE_CONDITION = Job.index("idx_jobs_active_created").where_sql()
# What a list may be filtered by: one status, or "active" (pending, running, cancelling).
ACTIVE_FILTER = "active"
STATUS_FILTERS = (*STATUSES, ACTIVE_FILTER)

SQL_ACTIVE = f"SELECT * FROM jobs WHERE {ACTIVE_CONDITION}{KEYSET_ORDER}"
# A write's RETURNING names the model's columns, not *: on PostgreSQL a job row also
# holds its search document (a tsvector kept by a trigger), which no caller reads.
JOB_COLUMNS = column_list(Job.field_names())
SQL_RECENT = f"SELECT * FROM jobs{KEYSET_ORDER} LIMIT ?"
# Kept exact by triggers (schema/derived.py): no scan of jobs, whatever its size. A
# status may have several rows (PostgreSQL's delta rows), so they are summed.
SQL_STATISTICS = (
    f'SELECT status, SUM("count") AS "count" FROM {counts_table("jobs", "status")} GROUP BY status'
)
SQL_GET = "SELECT * FROM jobs WHERE id = ?"
SQL_CHILDREN_COUNTS = (
    'SELECT status, COUNT(*) AS "count" FROM jobs WHERE parent_id = ? GROUP BY status'
)
SQL_SET_STATUS = (
    "UPDATE jobs SET status = ?, completed_at = ?, updated_at = ? "
    f"WHERE id = ? RETURNING {JOB_COLUMNS}"
)
SQL_COMPLETE = (
    "UPDATE jobs SET status = 'completed', progress = 100, error_message = NULL, "
    f"completed_at = ?, updated_at = ? WHERE id = ? RETURNING {JOB_COLUMNS}"
)
SQL_FAIL = (
    "UPDATE jobs SET status = 'failed', error_message = ?, completed_at = ?, updated_at = ? "
    f"WHERE id = ? RETURNING {JOB_COLUMNS}"
)
SQL_DELETE_FILES = "DELETE FROM files WHERE job_id = ? AND EXISTS (SELECT 1 FROM jobs WHERE id = ?)"
SQL_DELETE = "DELETE FROM jobs WHERE id = ?"
# A search's words: runs of letters and digits. Everything else (quotes, *, -, :,
# parentheses, NUL, an engine's operators) separates words and is never read as syntax.
SEARCH_WORD = re.compile(r"[^\W_]+")
# Words past this many are dropped: a search is a few words, not a document.
MAX_SEARCH_WORDS = 16


def search_words(text: Any) -> list[str]:
    """The words of a search, lower-cased, in order, without repeats.

    ValueError if ``text`` is not a string or holds no word (only punctuation).
    """
    if not isinstance(text, str):
        raise ValueError("a search is a string of words")
    words = list(dict.fromkeys(w.lower() for w in SEARCH_WORD.findall(text)))
    if not words:
        raise ValueError(
            f"search {text[:100]!r} has no words to search for: give letters or digits"
        )
    return words[:MAX_SEARCH_WORDS]


# How page(q=) finds a search's rows (measured at 1M jobs: docs/indexes.md, "Searching
# by words"). It walks the list in its order through its own index, SEARCH_WALK rows at
# most, keeping the matching rows as they come: a word in 1% of the rows fills a page of
# 50 after about 5,000 rows, where reading its every match would cost 10,000 row reads
# and a sort (and a word in most rows, a million). A walk that stops short of a page (a
# rare word, matches older than its reach, a filter that leaves few) gives way to
# reading every match from the full-text structure and sorting them: a rare word's few
# reads. So a search costs at most the walk plus what it cost before.
SEARCH_WALK = 10_000


def search_term(dialect: Dialect, words: Sequence[str]) -> tuple[str, str]:
    """(WHERE term, bound value) matching the jobs whose searched columns hold every word."""
    table = Job.get_table_name()
    return dialect.search_condition(table, Job.search), dialect.search_value(words)


class JobRepository(Repository[Job]):
    """Jobs: create, move through statuses, list for the dashboard."""

    model = Job

    def create_job(self, url: str, platform: str, title: str | None = None) -> Job:
        """Queue a new pending job."""
        if not isinstance(url, str) or not url.strip():
            raise ValueError("url must be a non-empty string")
        check_choice("platform", platform, PLATFORMS)
        job = Job(url=url, platform=platform, title=title)
        self.db.execute_update(self.insert_sql(), job.to_row())
        return job

    def get_job(self, job_id: str) -> Job | None:
        """One job by id, or None."""
        return self._one(self.db.execute_query(SQL_GET, (job_id,)))

    def update_job_status(self, job_id: str, status: str) -> Job | None:
        """Set a job's status (one of the six); None if there is no such job."""
        check_choice("status", status, STATUSES)
        now = to_db_timestamp(utcnow())
        completed_at = now if status in FINISHED_STATUSES else None
        rows = self.db.execute_returning(SQL_SET_STATUS, (status, completed_at, now, job_id))
        return self._one(rows)

    def complete_job(self, job_id: str) -> Job | None:
        """Mark a job completed at 100%."""
        now = to_db_timestamp(utcnow())
        return self._one(self.db.execute_returning(SQL_COMPLETE, (now, now, job_id)))

    def fail_job(self, job_id: str, error_message: str) -> Job | None:
        """Mark a job failed with a short readable reason."""
        now = to_db_timestamp(utcnow())
        rows = self.db.execute_returning(SQL_FAIL, (str(error_message), now, now, job_id))
        return self._one(rows)

    def delete_job(self, job_id: str) -> int | None:
        """Delete a job and its file rows together; return how many file rows went.

        Done explicitly rather than left to ON DELETE CASCADE, because databases
        written by the pre-index code have no foreign key on files.job_id.
        Returns None, having changed nothing, if there is no such job (orphaned
        file rows are the maintenance page's business, not this method's).
        """
        files, deleted = self.db.execute_updates(
            [(SQL_DELETE_FILES, (job_id, job_id)), (SQL_DELETE, (job_id,))]
        )
        if not deleted:
            return None
        logger.info("deleted job %s and its %d file rows", job_id, files)
        return files

    def get_active_jobs(self) -> list[Job]:
        """Pending, running and cancelling jobs, newest first."""
        return self._select(SQL_ACTIVE)

    def get_recent_jobs(self, limit: int = 10) -> list[Job]:
        """The newest ``limit`` jobs."""
        check_limit(limit, allow_none=False)
        return self._select(SQL_RECENT, (limit,))

    def get_job_statistics(self) -> dict[str, int]:
        """Jobs per status; every known status present, zero if none."""
        counts = dict.fromkeys(STATUSES, 0)
        for row in self.db.execute_query(SQL_STATISTICS):
            counts[row["status"]] = int(row["count"])
        return counts

    def find_by(self, limit: int | None = None, **filters: Any) -> list[Job]:
        """Jobs whose columns equal the given values, newest first.

        Only declared columns may be filtered on; ``None`` matches NULL.
        """
        check_limit(limit)
        valid = Job.field_names()
        terms, params = [], []
        for column, value in filters.items():
            if column not in valid:
                raise ValueError(f"unknown column {column!r}; valid: {', '.join(valid)}")
            if column == "status":
                check_choice("status", value, STATUSES)
            if value is None:
                terms.append(f"{quote_identifier(column)} IS NULL")
            else:
                terms.append(f"{quote_identifier(column)} = ?")
                params.append(value)
        sql = "SELECT * FROM jobs"
        if terms:
            sql += " WHERE " + " AND ".join(terms)
        sql += KEYSET_ORDER
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._select(sql, params)

    def page(
        self,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
        status: str | None = None,
        platform: str | None = None,
        active: bool = False,
        q: str | None = None,
        parent: str | None = None,
        subscription: str | None = None,
    ) -> Page[Job]:
        """A page of jobs, newest first, optionally of one status or platform, or active,
        and with ``q``: only those whose title, uploader or URL holds every word of ``q``
        (whole words, any case; see :func:`search_words`; ValueError if it has none).

        ``status`` is one of STATUS_FILTERS: ``"active"`` is the same as ``active=True``.
        ``parent``: the jobs a playlist job queued, in the playlist's order (oldest
        first); ``subscription``: the jobs a subscription queued.

        Pass the previous page's ``next_cursor`` to get the next one.
        """
        terms: list[str] = []
        params: list[Any] = []
        owners = {"parent_id": parent, "subscription_id": subscription}
        owners = {column: value for column, value in owners.items() if value is not None}
        if owners:
            if len(owners) > 1:
                raise ValueError("give either parent or subscription, not both")
            for column, value in owners.items():
                if not isinstance(value, str):
                    raise ValueError(f"{column} must be an id (a string)")
                terms.append(f"{quote_identifier(column)} = ?")
                params.append(value)
        if status == ACTIVE_FILTER:
            status, active = None, True
        if active:
            if status is not None:
                raise ValueError("give either status or active, not both")
            terms.append(ACTIVE_CONDITION)
        if status is not None:
            terms.append("status = ?")
            params.append(check_choice("status", status, STATUSES))
        if platform is not None:
            terms.append("platform = ?")
            params.append(check_choice("platform", platform, PLATFORMS))
        oldest_first = parent is not None
        if q is not None:
            words = search_words(q)
            return self._search(words, terms, params, cursor, limit, oldest_first)
        return self._page(terms, params, cursor, limit, oldest_first)

    def _search(
        self,
        words: list[str],
        terms: list[str],
        params: list[Any],
        cursor: str | None,
        limit: int,
        oldest_first: bool,
    ) -> Page[Job]:
        """A page of the list (``terms``) holding only the rows with every word: the
        walk, then, if it stopped short of a page, the gather (see SEARCH_WALK)."""
        check_limit(limit, allow_none=False)
        dialect, table = self.db.dialect, Job.get_table_name()
        value = dialect.search_value(words)
        where_terms, values, order = keyset_where(terms, params, cursor, oldest_first)
        where = " AND ".join(where_terms)
        sql = dialect.search_walk_sql(table, Job.search, where, order)
        names, found = self.db.execute_rows(sql, [*values, SEARCH_WALK, value, limit + 1])
        if len(found) <= limit:  # short of a page: not known to be the list's end
            sql = dialect.search_gather_sql(table, Job.search, where, order)
            names, found = self.db.execute_rows(sql, [value, *values, limit + 1])
        return self._page_of(names, found, limit)

    def children_counts(self, parent_id: str) -> dict[str, int]:
        """A playlist job's children per status (every status present, zero if none),
        read from idx_jobs_parent alone."""
        counts = dict.fromkeys(STATUSES, 0)
        for row in self.db.execute_query(SQL_CHILDREN_COUNTS, (parent_id,)):
            counts[row["status"]] = int(row["count"])
        return counts
