"""Plan contracts: every repository query uses its index on a realistic database.

On both engines: ``contract_db`` is ``large_db`` (SQLite, 20,000 jobs, realistic mix,
ANALYZEd) or ``pg_large_db`` (PostgreSQL, 50,000 jobs, ANALYZEd), only read here (an
index dropped inside a transaction is rolled back). The SQLite negative tests, which
drop indexes, work on copies of a database this module builds once; on PostgreSQL,
``collector db explain`` is run on a schema of its own with an index dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from collector.bench.dataset import write_dataset
from collector.cli import main
from collector.config.database import DatabaseConfig, Statement
from collector.models import ALL_MODELS
from collector.models.job import Job
from collector.models.values import to_db_timestamp
from collector.repositories import FileRepository, JobRepository
from collector.repositories import file_repository as file_sql
from collector.repositories import job_repository as job_sql
from collector.repositories import queue as queue_sql
from collector.repositories import subscriptions as subs_sql
from collector.repositories.contracts import (
    CONTRACTS,
    PK_FILES,
    PK_JOBS,
    SEARCH,
    SEARCH_SAMPLE,
    QueryContract,
    Sample,
    check_contract,
    resolve_index,
    sample_from,
    widen,
)
from collector.repositories.paging import decode_cursor
from collector.schema.plans import PlanStep, explain, plan_problems
from collector.schema.reconcile import reconcile
from tests.conftest import copy_database, dataset_database, index_names, raw

pytestmark = pytest.mark.both_engines

ACTIVE = ("pending", "running", "cancelling")
FILE_KINDS = ("video", "audio", "image", "metadata")
ALL_STATUSES = ("pending", "running", "cancelling", "completed", "failed", "cancelled")
ACTIVE_WHERE = "\"status\" IN ('pending', 'running', 'cancelling')"
LEFT_JOIN_ORPHANS = "SELECT f.* FROM files f LEFT JOIN jobs j ON f.job_id = j.id WHERE j.id IS NULL"
BOUND_ACTIVE = "SELECT * FROM jobs WHERE status IN (?, ?, ?) ORDER BY created_at DESC"
MEDIUM_JOBS = 20_000

CONTRACTS_BY_NAME = {contract.name: contract for contract in CONTRACTS}


def wanted_names(expected: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """A contract entry as the tuple of index names any one of which must be used."""
    if expected is None:
        return ()
    return (expected,) if isinstance(expected, str) else tuple(expected)


def used_indexes(steps: list[PlanStep]) -> set[str]:
    return {step.index for step in steps if step.index}


def run_contract(
    db: DatabaseConfig, contract: QueryContract, sample: Sample, execute: bool
) -> tuple[Any, list[Statement]]:
    """Call the contract's repository method under capture; its result and statements."""
    jobs, files = JobRepository(db), FileRepository(db)
    result: Any = None
    with db.capture(execute=execute) as statements:
        try:
            result = contract.call(jobs, files, sample)
        except ValueError:
            if execute:
                raise
    return result, list(statements)


@pytest.fixture
def contract_db(engine: str, request: pytest.FixtureRequest) -> DatabaseConfig:
    """The session's large database on this test's engine (read-only)."""
    return request.getfixturevalue("pg_large_db" if engine == "postgresql" else "large_db")


@contextmanager
def peek(db: DatabaseConfig) -> Iterator[Any]:
    """A connection of its own to ``db``, behind the application's back (plain sqlite3 on
    SQLite), rows readable by name; closed when the block ends."""
    if db.dialect.features.file_based:
        conn = raw(db.db_path)
    else:
        conn = db.dialect.connect(db.location, 5000)
    try:
        yield conn
    finally:
        conn.close()


SAMPLES: dict[str, Sample] = {}


@pytest.fixture
def sample(contract_db: DatabaseConfig) -> Sample:
    if contract_db.key not in SAMPLES:
        chosen = sample_from(contract_db)
        with peek(contract_db) as conn:
            files = conn.execute("SELECT COUNT(*) FROM files WHERE job_id = ?", (chosen.job_id,))
            assert files.fetchone()[0] >= 1
        SAMPLES[contract_db.key] = chosen
    return SAMPLES[contract_db.key]


def expected_sql(db: DatabaseConfig, name: str) -> tuple[str, ...]:
    """The statements a contract's method runs on ``db``'s engine."""
    if name == "JobQueue.claim":
        return (queue_sql.SQL_CLAIM.format(lock=db.dialect.claim_lock),)
    if name in SEARCH_STATEMENTS:
        return search_sql(db, SEARCH_STATEMENTS[name])
    search = db.dialect.search_condition("jobs", Job.search)
    return tuple(sql.replace(SEARCH_TERM, search) for sql in EXPECTED_SQL[name])


def search_sql(db: DatabaseConfig, statements: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The statements of a jobs search on ``db``'s engine: (kind, the list's WHERE)."""
    dialect, found = db.dialect, []
    for kind, where in statements:
        if kind == "walk":
            found.append(dialect.search_walk_sql("jobs", Job.search, where, NEWEST))
        else:
            found.append(dialect.search_gather_sql("jobs", Job.search, where, NEWEST))
    return tuple(found)


def allowed(db: DatabaseConfig, contract: QueryContract, expected: Any) -> Any:
    """A contract entry as check_contract reads it on ``db``: primary keys by their names
    there, widened by the cost-based allowance where the engine's planner is one."""
    allowance = contract.cost_based if db.dialect.features.cost_based_planner else None
    return widen(resolve_index(db.connection(), expected), allowance)


# -- the SQL each contract checks is the repository's ----------------------------------------

NEWEST = " ORDER BY created_at DESC, id DESC"
AFTER = "(created_at, id) < (?, ?)"
OLDEST = " ORDER BY created_at, id"
LATER = "(created_at, id) > (?, ?)"
ACTIVE_IN = "\"status\" IN ('pending', 'running', 'cancelling')"
SEARCH_TERM = "<the dialect's search condition>"

# A jobs search's statements, as (kind, the list's WHERE): the walk of the list checking
# each row, then (the sample word's matches are few) the gather of every match, sorted.
SEARCH_STATEMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "JobRepository.page(q)": (("walk", ""), ("gather", "")),
    "JobRepository.page(q, status, cursor)": (
        ("walk", f"status = ? AND {AFTER}"),
        ("gather", f"status = ? AND {AFTER}"),
    ),
}

EXPECTED_SQL: dict[str, tuple[str, ...]] = {
    "JobRepository.get_active_jobs": (f"SELECT * FROM jobs WHERE {ACTIVE_IN}{NEWEST}",),
    "JobRepository.get_recent_jobs": (f"SELECT * FROM jobs{NEWEST} LIMIT ?",),
    "JobRepository.get_job_statistics": (
        'SELECT status, SUM("count") AS "count" FROM jobs_status_counts GROUP BY status',
    ),
    "JobRepository.find_by(status)": (f'SELECT * FROM jobs WHERE "status" = ?{NEWEST} LIMIT ?',),
    "JobRepository.find_by(platform)": (
        f'SELECT * FROM jobs WHERE "platform" = ?{NEWEST} LIMIT ?',
    ),
    "JobRepository.get_job": (job_sql.SQL_GET,),
    "JobRepository.update_job_status": (job_sql.SQL_SET_STATUS,),
    "JobRepository.complete_job": (job_sql.SQL_COMPLETE,),
    "JobRepository.fail_job": (job_sql.SQL_FAIL,),
    "JobRepository.delete_job": (job_sql.SQL_DELETE_FILES, job_sql.SQL_DELETE),
    "JobRepository.count": ('SELECT COALESCE(SUM("count"), 0) FROM "jobs_status_counts"',),
    "FileRepository.create_file": (file_sql.SQL_CREATE,),
    "FileRepository.get_file": (file_sql.SQL_GET,),
    "FileRepository.get_job_files": (file_sql.SQL_JOB_FILES,),
    "FileRepository.get_files_by_type": (file_sql.SQL_BY_TYPE,),
    "FileRepository.get_job_files_by_type": (file_sql.SQL_JOB_FILES_BY_TYPE,),
    "FileRepository.get_orphaned_files": (
        "SELECT * FROM files WHERE job_id IN (SELECT job_id FROM files_orphan_job_id) "
        "ORDER BY job_id, created_at",
    ),
    "FileRepository.count": ('SELECT COALESCE(SUM("count"), 0) FROM "files_file_type_counts"',),
    "FileRepository.get_type_counts": (
        'SELECT file_type, SUM("count") AS "count" FROM files_file_type_counts GROUP BY file_type',
    ),
    "JobRepository.page()": (f'SELECT * FROM "jobs"{NEWEST} LIMIT ?',),
    "JobRepository.page(cursor)": (f'SELECT * FROM "jobs" WHERE {AFTER}{NEWEST} LIMIT ?',),
    "JobRepository.page(status, cursor)": (
        f'SELECT * FROM "jobs" WHERE status = ? AND {AFTER}{NEWEST} LIMIT ?',
    ),
    "JobRepository.page(platform, cursor)": (
        f'SELECT * FROM "jobs" WHERE platform = ? AND {AFTER}{NEWEST} LIMIT ?',
    ),
    "JobRepository.page(active, cursor)": (
        f'SELECT * FROM "jobs" WHERE {ACTIVE_IN} AND {AFTER}{NEWEST} LIMIT ?',
    ),
    # Built by the dialect (SEARCH_STATEMENTS above): listed here by name.
    **dict.fromkeys(SEARCH_STATEMENTS, ()),
    "FileRepository.page(cursor)": (f'SELECT * FROM "files" WHERE {AFTER}{NEWEST} LIMIT ?',),
    "FileRepository.page(file_type, cursor)": (
        f'SELECT * FROM "files" WHERE file_type = ? AND {AFTER}{NEWEST} LIMIT ?',
    ),
    "FileRepository.page(q)": (
        f'SELECT * FROM "files" WHERE job_id IN (SELECT id FROM jobs WHERE {SEARCH_TERM})'
        f"{NEWEST} LIMIT ?",
    ),
    "FileRepository.page(q, file_type, cursor)": (
        'SELECT * FROM "files" WHERE file_type = ? AND '
        f"job_id IN (SELECT id FROM jobs WHERE {SEARCH_TERM}) AND {AFTER}{NEWEST} LIMIT ?",
    ),
    "FileRepository.get_thumbnails": (
        "SELECT * FROM files WHERE job_id IN (" + ", ".join("?" * 30) + ") AND file_type = ?",
    ),
    "JobQueue.find_queued": (queue_sql.SQL_FIND_QUEUED,),
    "JobQueue.find_queued_many": (queue_sql.SQL_FIND_QUEUED_MANY.format(keys="?, ?"),),
    "JobQueue.known_identities": (queue_sql.SQL_KNOWN_IDENTITIES.format(keys="?, ?"),),
    "JobRepository.page(parent)": (f'SELECT * FROM "jobs" WHERE "parent_id" = ?{OLDEST} LIMIT ?',),
    "JobRepository.page(parent, status, cursor)": (
        f'SELECT * FROM "jobs" WHERE "parent_id" = ? AND status = ? AND {LATER}{OLDEST} LIMIT ?',
    ),
    "JobRepository.page(parent, cursor)": (
        f'SELECT * FROM "jobs" WHERE "parent_id" = ? AND {LATER}{OLDEST} LIMIT ?',
    ),
    "JobRepository.children_counts": (job_sql.SQL_CHILDREN_COUNTS,),
    "JobRepository.page(subscription, cursor)": (
        f'SELECT * FROM "jobs" WHERE "subscription_id" = ? AND {AFTER}{NEWEST} LIMIT ?',
    ),
    "JobQueue.claim": (queue_sql.SQL_CLAIM.format(lock=""),),  # the lock: expected_sql()
    "JobQueue.pending_wait": (queue_sql.SQL_PENDING_SUMMARY,),
    "JobQueue.has_claimable": (queue_sql.SQL_CLAIMABLE,),
    "JobQueue.renew": (queue_sql.SQL_RENEW,),
    "JobQueue.report_progress": (queue_sql.SQL_PROGRESS,),
    "JobQueue.complete": (queue_sql.SQL_COMPLETE,),
    "JobQueue.recover_expired": (
        queue_sql.SQL_RECOVER_CANCELLING,
        queue_sql.SQL_RECOVER_EXHAUSTED,
        queue_sql.SQL_RECOVER_RUNNING,
    ),
    "JobQueue.cancel": (queue_sql.SQL_CANCEL, "SELECT * FROM jobs WHERE id = ?"),
    "SubscriptionRepository.claim_due": (subs_sql.SQL_CLAIM,),
    "SubscriptionRepository.any_due": (subs_sql.SQL_ANY_DUE,),
    "SubscriptionRepository.list_all": (subs_sql.SQL_LIST,),
    "SubscriptionRepository.get": (subs_sql.SQL_GET,),
    "SubscriptionRepository.find_identity": (subs_sql.SQL_FIND_IDENTITY,),
    "SubscriptionRepository.finish_check": (subs_sql.SQL_HELD,),
    "SubscriptionRepository.renew_check": (subs_sql.SQL_RENEW_CHECK,),
    "SubscriptionRepository.remove": (subs_sql.SQL_DELETE,),
    "SubscriptionRepository.kept_jobs": (subs_sql.SQL_KEPT,),
    "SubscriptionRepository.mark_removed": (subs_sql.SQL_REMOVE_FILES, subs_sql.SQL_MARK_REMOVED),
}

# The contracts that read a trigger-kept counts table (whole: a row per value) and
# nothing else: their exact plan. Every other contract scans no table at all.
COUNTS_PLANS: dict[str, list[tuple[str, str, None]]] = {
    "JobRepository.get_job_statistics": [("SCAN", "jobs_status_counts", None)],
    "JobRepository.count": [("SCAN", "jobs_status_counts", None)],
    "FileRepository.count": [("SCAN", "files_file_type_counts", None)],
    "FileRepository.get_type_counts": [("SCAN", "files_file_type_counts", None)],
}


def test_every_contract_is_listed_here() -> None:
    assert set(CONTRACTS_BY_NAME) == set(EXPECTED_SQL)
    assert len(CONTRACTS_BY_NAME) == len(CONTRACTS)


def test_only_derived_tables_may_be_read_whole() -> None:
    allowed = {c.name: c.scans_ok for c in CONTRACTS if c.scans_ok}
    assert allowed == {
        "JobRepository.get_job_statistics": {"jobs_status_counts"},
        "JobRepository.count": {"jobs_status_counts"},
        "FileRepository.count": {"files_file_type_counts"},
        "FileRepository.get_type_counts": {"files_file_type_counts"},
        "FileRepository.get_orphaned_files": {"files_orphan_job_id"},
    }
    for name in COUNTS_PLANS:
        assert CONTRACTS_BY_NAME[name].indexes == (None,), name


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.name)
def test_contract_holds_on_large_db(
    contract_db: DatabaseConfig, sample: Sample, contract: QueryContract
) -> None:
    checked = check_contract(contract_db, contract, sample, execute=False)
    allowance = contract.cost_based if contract_db.dialect.features.cost_based_planner else None

    assert [c.problems for c in checked] == [[]] * len(contract.indexes)
    assert len(checked) == len(contract.indexes)
    for entry, expected in zip(checked, contract.indexes, strict=True):
        assert entry.expected_index == allowed(contract_db, contract, expected)
        assert entry.steps, f"no plan for {entry.statement.sql}"
        names = wanted_names(entry.expected_index)
        if names:
            assert used_indexes(entry.steps) & set(names), (names, entry.steps)
        scanned = [s.table for s in entry.steps if s.full_scan]
        if contract.name in COUNTS_PLANS:
            assert expected is None
            # The counts table read whole, and nothing else read (an engine may add an
            # aggregate step over it: PostgreSQL sums its delta rows).
            reads = [(s.op, s.table, s.index) for s in entry.steps if s.table]
            assert reads == COUNTS_PLANS[contract.name]
            assert scanned and set(scanned) == contract.scans_ok
        elif allowance:
            # A cost-based planner may read a small derived table whole (the orphan ids,
            # empty where the foreign key is enforced) or what its allowance names.
            assert set(scanned) <= allowance.scans | contract.scans_ok, entry.steps
        else:
            assert scanned == [], entry.steps
        if not contract.temp_sort_ok and not (allowance and allowance.sort):
            assert not [s for s in entry.steps if s.temp_sort], entry.steps


def test_sqlite_is_held_to_the_contracts_as_written(large_db: DatabaseConfig) -> None:
    """No cost-based allowance applies on SQLite: its plans are the contracts' own."""
    assert not large_db.dialect.features.cost_based_planner
    for contract in CONTRACTS:
        for expected in contract.indexes:
            assert allowed(large_db, contract, expected) == resolve_index(
                large_db.connection(), expected
            )


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.name)
def test_checked_statements_are_what_the_repository_ran(
    contract_db: DatabaseConfig, sample: Sample, contract: QueryContract
) -> None:
    checked = check_contract(contract_db, contract, sample, execute=False)
    _, ran = run_contract(contract_db, contract, sample, execute=False)

    assert [c.statement.sql for c in checked] == [s.sql for s in ran]
    assert [len(c.statement.params) for c in checked] == [len(s.params) for s in ran]
    assert tuple(s.sql for s in ran) == expected_sql(contract_db, contract.name)
    for statement in ran:
        assert statement.sql.count("?") == len(statement.params)


@pytest.mark.sqlite_only  # reads the index's SQL as SQLite stores it
def test_active_jobs_statement_repeats_the_partial_index_condition(
    large_db: DatabaseConfig,
) -> None:
    condition = Job.index("idx_jobs_active_created").where_sql()
    assert condition == ACTIVE_WHERE
    with large_db.capture(execute=False) as statements:
        JobRepository(large_db).get_active_jobs()
    assert len(statements) == 1
    assert condition in statements[0].sql
    assert statements[0].params == ()
    with closing(raw(large_db.db_path)) as conn:
        index_sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
            ("idx_jobs_active_created",),
        ).fetchone()[0]
    assert index_sql.endswith("WHERE " + condition)


def test_contract_parameters_are_the_sample(contract_db: DatabaseConfig, sample: Sample) -> None:
    params = {
        name: [s.params for s in run_contract(contract_db, c, sample, execute=False)[1]]
        for name, c in CONTRACTS_BY_NAME.items()
    }
    assert params["JobRepository.get_active_jobs"] == [()]
    assert params["JobRepository.get_recent_jobs"] == [(10,)]
    assert params["JobRepository.find_by(status)"] == [("completed", 50)]
    assert params["JobRepository.find_by(platform)"] == [("youtube", 50)]
    assert params["JobRepository.get_job"] == [(sample.job_id,)]
    assert params["JobRepository.delete_job"] == [(sample.job_id, sample.job_id), (sample.job_id,)]
    assert params["FileRepository.get_job_files"] == [(sample.job_id,)]
    assert params["FileRepository.get_file"] == [(sample.file_id,)]
    assert params["FileRepository.get_job_files_by_type"] == [(sample.job_id, "video")]
    assert params["JobRepository.update_job_status"][0][0] == "running"
    assert params["JobRepository.update_job_status"][0][-1] == sample.job_id
    created_at, row_id = decode_cursor(sample.cursor)
    assert params["JobRepository.page()"] == [(51,)]
    assert params["JobRepository.page(cursor)"] == [(created_at, row_id, 51)]
    assert params["JobRepository.page(status, cursor)"] == [("failed", created_at, row_id, 51)]
    assert params["JobRepository.page(platform, cursor)"] == [("tiktok", created_at, row_id, 51)]
    assert params["JobRepository.page(active, cursor)"] == [(created_at, row_id, 51)]
    assert params["FileRepository.page(cursor)"] == [(created_at, row_id, 51)]
    assert params["FileRepository.page(file_type, cursor)"] == [("video", created_at, row_id, 51)]
    for name in COUNTS_PLANS:
        assert params[name] == [()], name


def test_sample_cursor_is_a_job_halfway_down_the_list(
    contract_db: DatabaseConfig, sample: Sample
) -> None:
    created_at, row_id = decode_cursor(sample.cursor)
    with peek(contract_db) as conn:
        row = conn.execute("SELECT created_at FROM jobs WHERE id = ?", (row_id,)).fetchone()
        older = conn.execute(
            "SELECT COUNT(*) FROM jobs "
            "WHERE created_at < (SELECT created_at FROM jobs WHERE id = ?)",
            (row_id,),
        ).fetchone()[0]
        total = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    assert row is not None
    assert stored(row["created_at"]) == created_at
    assert older == total // 2  # the (n // 2 + 1)-th oldest


# -- the read queries, run for real on large_db ------------------------------------------------


def _rows(conn: Any, sql: str, params: tuple = ()) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def stored(value: str | datetime) -> str:
    """A created_at as stored text (PostgreSQL reads a timestamptz back as a datetime)."""
    return to_db_timestamp(value) if isinstance(value, datetime) else value


def _newest(conn: Any, where: str, params: tuple, limit: int) -> list[str]:
    """Ids newest first, sorted in Python rather than by SQLite."""
    rows = _rows(conn, "SELECT id, created_at FROM jobs WHERE " + where, params)
    ordered = sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return [r["id"] for r in ordered[:limit]]


def check_active(result: list, conn: Any, sample: Sample) -> None:
    count = _rows(conn, "SELECT COUNT(*) FROM jobs WHERE status IN (?, ?, ?)", ACTIVE)[0][0]
    assert count > 0
    assert len(result) == count
    assert [j.id for j in result] == _newest(conn, "status IN (?, ?, ?)", ACTIVE, count)
    assert {j.status for j in result} <= set(ACTIVE)


def check_recent(result: list, conn: Any, sample: Sample) -> None:
    assert [j.id for j in result] == _newest(conn, "1 = 1", (), 10)


def check_statistics(result: dict, conn: Any, sample: Sample) -> None:
    counted = Counter(r[0] for r in _rows(conn, "SELECT status FROM jobs"))
    assert result == {status: counted.get(status, 0) for status in ALL_STATUSES}
    assert sum(result.values()) == _rows(conn, "SELECT COUNT(*) FROM jobs")[0][0]


def check_by_status(result: list, conn: Any, sample: Sample) -> None:
    assert [j.id for j in result] == _newest(conn, "status = ?", ("completed",), 50)
    assert len(result) == 50


def check_by_platform(result: list, conn: Any, sample: Sample) -> None:
    assert [j.id for j in result] == _newest(conn, "platform = ?", ("youtube",), 50)
    assert {j.platform for j in result} == {"youtube"}


def check_get_job(result: Any, conn: Any, sample: Sample) -> None:
    row = _rows(conn, "SELECT * FROM jobs WHERE id = ?", (sample.job_id,))[0]
    assert result is not None
    assert result.id == sample.job_id
    assert (result.url, result.status) == (row["url"], row["status"])


def check_get_file(result: Any, conn: Any, sample: Sample) -> None:
    row = _rows(conn, "SELECT * FROM files WHERE id = ?", (sample.file_id,))[0]
    assert result is not None
    assert result.id == sample.file_id
    assert (result.job_id, result.file_path) == (row["job_id"], row["file_path"])


def check_job_count(result: int, conn: Any, sample: Sample) -> None:
    assert result == _rows(conn, "SELECT COUNT(*) FROM jobs")[0][0] >= 20_000


def check_job_files(result: list, conn: Any, sample: Sample) -> None:
    rows = _rows(conn, "SELECT id, created_at FROM files WHERE job_id = ?", (sample.job_id,))
    assert rows
    expected = [r["id"] for r in sorted(rows, key=lambda r: r["created_at"])]
    assert [f.id for f in result] == expected


def check_files_by_type(result: list, conn: Any, sample: Sample) -> None:
    ids = {r[0] for r in _rows(conn, "SELECT id FROM files WHERE file_type = ?", ("video",))}
    assert ids
    assert {f.id for f in result} == ids
    assert len(result) == len(ids)


def check_job_files_by_type(result: list, conn: Any, sample: Sample) -> None:
    rows = _rows(
        conn,
        "SELECT id, created_at FROM files WHERE job_id = ? AND file_type = ?",
        (sample.job_id, "video"),
    )
    assert [f.id for f in result] == [r["id"] for r in sorted(rows, key=lambda r: r["created_at"])]
    assert {f.file_type for f in result} <= {"video"}


def check_orphans(result: list, conn: Any, sample: Sample) -> None:
    assert result == []
    assert _rows(conn, "SELECT COUNT(*) FROM (" + LEFT_JOIN_ORPHANS + ") AS orphans")[0][0] == 0


def check_file_count(result: int, conn: Any, sample: Sample) -> None:
    assert result == _rows(conn, "SELECT COUNT(*) FROM files")[0][0]
    assert result > 20_000


def check_type_counts(result: dict, conn: Any, sample: Sample) -> None:
    counted = Counter(r[0] for r in _rows(conn, "SELECT file_type FROM files"))
    assert result == {
        kind: counted.get(kind, 0) for kind in ("video", "audio", "image", "metadata")
    }
    assert sum(result.values()) == _rows(conn, "SELECT COUNT(*) FROM files")[0][0]


def _page_check(table: str, where: str, params: tuple, after_sample: bool) -> Callable:
    """A check that a page holds the 50 newest matching rows (after the sample's cursor)."""

    def check(result: Any, conn: Any, sample: Sample) -> None:
        rows = _rows(conn, f"SELECT id, created_at FROM {table} WHERE {where}", params)
        keys = sorted(((stored(r["created_at"]), r["id"]) for r in rows), reverse=True)
        if after_sample:
            cursor = decode_cursor(sample.cursor)
            keys = [key for key in keys if key < cursor]
        assert len(keys) > 50
        assert [item.id for item in result.items] == [row_id for _, row_id in keys[:50]]
        assert result.next_cursor is not None
        assert decode_cursor(result.next_cursor) == keys[49]

    return check


def _searched_files_check(where: str, params: tuple, after_sample: bool) -> Callable:
    """A check that a page holds the newest files matching ``where`` whose job has the
    sample word in its title, uploader or URL (words read in Python, not by the engine)."""

    def check(result: Any, conn: Any, sample: Sample) -> None:
        jobs = _rows(conn, "SELECT id, title, uploader, url FROM jobs")
        found = {
            r["id"]
            for r in jobs
            if SEARCH_SAMPLE
            in job_sql.search_words(" ".join(v for v in (r["title"], r["uploader"], r["url"]) if v))
        }
        assert found
        rows = _rows(conn, f"SELECT id, job_id, created_at FROM files WHERE {where}", params)
        keys = sorted(
            ((stored(r["created_at"]), r["id"]) for r in rows if r["job_id"] in found),
            reverse=True,
        )
        assert keys or after_sample  # (the sample job may have no video older than it)
        if after_sample:
            keys = [key for key in keys if key < decode_cursor(sample.cursor)]
        assert [item.id for item in result.items] == [row_id for _, row_id in keys[:50]]
        assert (result.next_cursor is None) == (len(keys) <= 50)

    return check


def check_thumbnails(result: dict, conn: Any, sample: Sample) -> None:
    rows = _rows(
        conn,
        "SELECT id, created_at FROM files WHERE job_id = ? AND file_type = 'image'",
        (sample.job_id,),
    )
    first = min(((stored(r["created_at"]), r["id"]) for r in rows), default=None)
    expected = {} if first is None else {sample.job_id: first[1]}
    assert {job: f.id for job, f in result.items()} == expected  # the other ids: no jobs


READ_CHECKS: dict[str, Callable[[Any, Any, Sample], None]] = {
    "FileRepository.get_thumbnails": check_thumbnails,
    "FileRepository.page(q)": _searched_files_check("1 = 1", (), after_sample=False),
    "FileRepository.page(q, file_type, cursor)": _searched_files_check(
        "file_type = ?", ("video",), after_sample=True
    ),
    "FileRepository.get_type_counts": check_type_counts,
    "JobRepository.page()": _page_check("jobs", "1 = 1", (), after_sample=False),
    "JobRepository.page(cursor)": _page_check("jobs", "1 = 1", (), after_sample=True),
    "JobRepository.page(status, cursor)": _page_check(
        "jobs", "status = ?", ("failed",), after_sample=True
    ),
    "JobRepository.page(platform, cursor)": _page_check(
        "jobs", "platform = ?", ("tiktok",), after_sample=True
    ),
    "JobRepository.page(active, cursor)": _page_check(
        "jobs", "status IN (?, ?, ?)", ACTIVE, after_sample=True
    ),
    "FileRepository.page(cursor)": _page_check("files", "1 = 1", (), after_sample=True),
    "FileRepository.page(file_type, cursor)": _page_check(
        "files", "file_type = ?", ("video",), after_sample=True
    ),
    "JobRepository.get_active_jobs": check_active,
    "JobRepository.get_recent_jobs": check_recent,
    "JobRepository.get_job_statistics": check_statistics,
    "JobRepository.find_by(status)": check_by_status,
    "JobRepository.find_by(platform)": check_by_platform,
    "JobRepository.get_job": check_get_job,
    "JobRepository.count": check_job_count,
    "FileRepository.get_file": check_get_file,
    "FileRepository.get_job_files": check_job_files,
    "FileRepository.get_files_by_type": check_files_by_type,
    "FileRepository.get_job_files_by_type": check_job_files_by_type,
    "FileRepository.get_orphaned_files": check_orphans,
    "FileRepository.count": check_file_count,
}


@pytest.mark.parametrize("name", sorted(READ_CHECKS))
def test_read_contract_runs_and_returns_right_rows(
    contract_db: DatabaseConfig, sample: Sample, name: str
) -> None:
    contract = CONTRACTS_BY_NAME[name]
    _, recorded = run_contract(contract_db, contract, sample, execute=False)

    result, ran = run_contract(contract_db, contract, sample, execute=True)

    assert ran == recorded  # the statements checked are exactly the ones run
    checked = check_contract(contract_db, contract, sample, execute=False)
    assert [c.statement for c in checked] == ran
    assert all(not c.problems for c in checked)
    with peek(contract_db) as conn:
        READ_CHECKS[name](result, conn, sample)


# -- the checker can fail ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def medium_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database of our own (20,000 jobs, ANALYZEd), copied before any change."""
    return dataset_database(tmp_path_factory.mktemp("contracts") / "medium.db", 7, MEDIUM_JOBS)


@pytest.fixture
def medium_copy(medium_db_path: Path, tmp_path: Path) -> Iterator[DatabaseConfig]:
    config = DatabaseConfig(copy_database(medium_db_path, tmp_path / "copy.db"))
    yield config
    config.close()


def drop_index(path: Path, name: str) -> None:
    """Drop an index through a connection of its own (names come from this module)."""
    with closing(raw(path)) as conn:
        conn.execute("DROP INDEX " + '"' + name + '"')
        conn.commit()


def test_dropping_the_partial_index_breaks_the_active_jobs_contract(
    medium_copy: DatabaseConfig, medium_db_path: Path
) -> None:
    contract = CONTRACTS_BY_NAME["JobRepository.get_active_jobs"]
    control = DatabaseConfig(medium_copy.db_path)
    try:
        before = check_contract(control, contract, sample_from(control))
    finally:
        control.close()
    assert [c.problems for c in before] == [[]]
    assert used_indexes(before[0].steps) == {"idx_jobs_active_created"}

    drop_index(medium_copy.db_path, "idx_jobs_active_created")
    after = check_contract(medium_copy, contract, sample_from(medium_copy))

    assert len(after) == 1
    problems, steps = after[0].problems, after[0].steps
    assert problems
    assert problems[0].startswith("expected index idx_jobs_active_created")
    assert "idx_jobs_active_created" not in used_indexes(steps)
    assert "idx_jobs_created_at" in used_indexes(steps) or any(s.temp_sort for s in steps)
    # The copy changed, the database it was copied from did not.
    assert "idx_jobs_active_created" in index_names(medium_db_path)
    assert "idx_jobs_active_created" not in index_names(medium_copy.db_path)


def test_explain_sees_an_index_dropped_on_the_same_connection(
    medium_copy: DatabaseConfig,
) -> None:
    """A plan read after a schema change must reflect the change.

    explain() runs "EXPLAIN QUERY PLAN ..." through the connection's statement cache;
    SQLite does not re-prepare a cached EXPLAIN statement after DROP INDEX, so the
    second check reports the plan of an index that no longer exists.
    """
    contract = CONTRACTS_BY_NAME["JobRepository.get_active_jobs"]
    sample = sample_from(medium_copy)
    before = check_contract(medium_copy, contract, sample)
    assert [c.problems for c in before] == [[]]

    medium_copy.connection().execute("DROP INDEX idx_jobs_active_created")
    assert "idx_jobs_active_created" not in index_names(medium_copy.db_path)
    after = check_contract(medium_copy, contract, sample)

    assert "idx_jobs_active_created" not in used_indexes(after[0].steps)
    assert after[0].problems


def test_dropping_every_managed_index_breaks_every_contract_that_names_one(
    medium_copy: DatabaseConfig,
) -> None:
    managed = sorted(n for n in index_names(medium_copy.db_path) if n.startswith("idx_"))
    assert len(managed) == 18
    for name in managed:
        drop_index(medium_copy.db_path, name)
    sample = sample_from(medium_copy)

    for contract in CONTRACTS:
        checked = check_contract(medium_copy, contract, sample)
        for entry in checked:
            names = wanted_names(entry.expected_index)
            if names == SEARCH:
                # SQLite's full-text structure is a table (jobs_search), not an index.
                assert entry.problems == [], contract.name
            elif any(n.startswith("idx_") for n in names):
                assert any(p.startswith("expected index") for p in entry.problems), contract.name
            elif names in ((PK_JOBS,), (PK_FILES,)) and contract.name != "JobRepository.delete_job":
                assert entry.problems == [], contract.name


def test_left_join_orphan_query_is_a_full_table_scan(contract_db: DatabaseConfig) -> None:
    steps = explain(contract_db.connection(), LEFT_JOIN_ORPHANS)

    problems = plan_problems(steps, None)

    scans = [s for s in steps if s.full_scan]
    # The files table, under its alias where the engine prints only that (SQLite).
    assert {s.table for s in scans} & {"f", "files"}
    assert problems == [f"full table scan: {s.detail}" for s in scans]
    # The repository's own orphan query keeps its contract on the same database.
    repository = check_contract(
        contract_db,
        CONTRACTS_BY_NAME["FileRepository.get_orphaned_files"],
        sample_from(contract_db),
    )
    assert [c.problems for c in repository] == [[]]


@pytest.mark.sqlite_only  # PostgreSQL plans with the bound values (a custom plan)
def test_bound_parameters_do_not_match_the_partial_index(large_db: DatabaseConfig) -> None:
    conn = large_db.connection()
    bound = explain(conn, BOUND_ACTIVE, ACTIVE)
    literal = explain(conn, job_sql.SQL_ACTIVE)

    assert "idx_jobs_active_created" not in used_indexes(bound)
    assert plan_problems(bound, "idx_jobs_active_created")
    assert used_indexes(literal) == {"idx_jobs_active_created"}
    assert plan_problems(literal, "idx_jobs_active_created") == []
    # Same rows either way: only the plan differs.
    assert (
        conn.execute(BOUND_ACTIVE, ACTIVE).fetchall() == conn.execute(job_sql.SQL_ACTIVE).fetchall()
    )


def test_plan_problems_flags_a_temporary_sort(contract_db: DatabaseConfig) -> None:
    steps = explain(contract_db.connection(), "SELECT * FROM jobs ORDER BY title LIMIT ?", (5,))
    problems = plan_problems(steps, "idx_jobs_created_at")
    assert "expected index idx_jobs_created_at, plan uses none" in problems
    scan = next(s for s in steps if s.full_scan)
    sort = next(s for s in steps if s.temp_sort)
    assert f"full table scan: {scan.detail}" in problems
    assert f"temporary sort: {sort.detail}" in problems
    assert plan_problems(steps, None, temp_sort_ok=True) == [
        p for p in problems if p.startswith("full table scan")
    ]


class Rollback(Exception):
    """Raised to undo a test's schema change (DDL is transactional on both engines)."""


def test_an_index_dropped_in_a_transaction_breaks_its_contract(
    contract_db: DatabaseConfig, sample: Sample
) -> None:
    contract = CONTRACTS_BY_NAME["JobRepository.page(active, cursor)"]
    assert [c.problems for c in check_contract(contract_db, contract, sample)] == [[]]

    with pytest.raises(Rollback), contract_db.transaction() as conn:
        conn.execute("DROP INDEX idx_jobs_active_created")
        after = check_contract(contract_db, contract, sample)
        raise Rollback

    assert after[0].problems
    assert after[0].problems[0].startswith("expected index idx_jobs_active_created")
    assert "idx_jobs_active_created" not in used_indexes(after[0].steps)
    # Rolled back: the contract holds again.
    assert [c.problems for c in check_contract(contract_db, contract, sample)] == [[]]


@pytest.fixture
def explain_db(database: str) -> Iterator[str]:
    """20,000 jobs loaded before the indexes were built, ANALYZEd, on this test's engine
    (a schema of its own on PostgreSQL): its URL or path."""
    config = DatabaseConfig(database)
    reconcile(config, ALL_MODELS, indexes=False)
    write_dataset(config, MEDIUM_JOBS, files_per_job=3, mix="realistic", seed=7)
    config.initialize_schema()
    config.connection().execute("ANALYZE")
    config.dispose()
    yield database


def test_db_explain_exits_1_once_an_index_is_dropped(explain_db: str) -> None:
    ok = CliRunner().invoke(main, ["--database-url", url_of(explain_db), "db", "explain"])
    assert ok.exit_code == 0, ok.output
    config = DatabaseConfig(explain_db)
    # The allowances of a cost-based planner are shown where they apply, and only there.
    shown = "  (a cost-based planner may: 90% of jobs are completed" in ok.output
    assert shown == config.dialect.features.cost_based_planner
    config.connection().execute("DROP INDEX idx_jobs_active_created")
    config.dispose()

    broken = CliRunner().invoke(main, ["--database-url", url_of(explain_db), "db", "explain"])

    assert broken.exit_code == 1, broken.output
    lines = broken.output.splitlines()
    assert any(
        line.startswith("JobRepository.page(active, cursor)  [BROKEN: expected index")
        for line in lines
    ), broken.output
    assert "JobRepository.get_job  [ok]" in lines


def url_of(database: str) -> str:
    """A database as --database-url takes it (an SQLite path as sqlite:///...)."""
    return database if "://" in database else "sqlite:///" + str(Path(database).resolve())


def test_primary_key_index_is_read_from_the_catalogue(contract_db: DatabaseConfig) -> None:
    conn = contract_db.connection()
    names = {
        table: contract_db.dialect.primary_key_index(conn, table)
        for table in ("jobs", "files", "no_such_table")
    }

    if contract_db.dialect.features.file_based:
        assert names == {
            "jobs": "sqlite_autoindex_jobs_1",
            "files": "sqlite_autoindex_files_1",
            "no_such_table": None,
        }
    else:
        assert names == {"jobs": "jobs_pkey", "files": "files_pkey", "no_such_table": None}
    assert resolve_index(conn, PK_JOBS) == names["jobs"]
    assert resolve_index(conn, (PK_JOBS, "idx_jobs_status")) == (names["jobs"], "idx_jobs_status")


def test_the_one_trip_enqueue_probes_the_queued_indexes(pg_large_db: DatabaseConfig) -> None:
    """PostgreSQL's enqueue_many inserts only the new rows whose video is not queued:
    per row one probe of each queued partial index, never a read of the jobs; and the
    statement is an INSERT that changes nothing under EXPLAIN (read-only database)."""
    dialect = pg_large_db.dialect
    queued = pg_large_db.execute_query(
        "SELECT url, identity FROM jobs WHERE status = 'pending' AND identity IS NOT NULL LIMIT 1"
    )[0]
    rows = [
        Job(url=url, platform="other", identity=identity).to_row()
        for url, identity in [(queued["url"], queued["identity"])]
        + [(f"https://example.com/new/{n}", f"url:https://example.com/new/{n}") for n in range(9)]
    ]
    columns = [list(column) for column in zip(*rows, strict=True)]
    with peek(pg_large_db) as conn:
        insert = queue_sql.JobQueue.array_insert_sql(dialect, queue_sql.QUEUED_ELSEWHERE)
        steps = explain(conn, f"{insert} RETURNING id", columns)

    reads = [step for step in steps if step.table == "jobs" and step.op is not None]
    assert {step.index for step in reads} == {
        "idx_jobs_identity_queued",
        "idx_jobs_url_queued",
    }, [step.detail for step in steps]
    assert all(step.op == "SEARCH" for step in reads)
