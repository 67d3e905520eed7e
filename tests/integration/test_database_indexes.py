"""The plan's index tests, with exact expectations.

Definitions are read back through PRAGMA index_list / index_xinfo, not by parsing
the DDL; plans are read on ``large_db`` (read-only) for the statement the repository
method actually ran.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from flask import Flask

from collector.config.database import DatabaseConfig, get_db_config
from collector.repositories import FileRepository, JobRepository
from collector.schema.plans import explain, plan_problems
from tests.conftest import raw
from tests.expected import JOB_FIELDS

ACTIVE_COVERS = [name for name in JOB_FIELDS if name not in ("created_at", "id")]
ACTIVE_WHERE = "WHERE \"status\" IN ('pending', 'running', 'cancelling')"

# name -> (unique, partial, key columns as (name, desc, collation))
# keyset order (created_at, id), ascending: walked backwards for newest first
NEWEST = [("created_at", 0, "BINARY"), ("id", 0, "BINARY")]
JOBS_INDEXES = {
    "idx_jobs_status": (False, False, [("status", 0, "BINARY")]),
    "idx_jobs_platform": (False, False, [("platform", 0, "BINARY"), *NEWEST]),
    "idx_jobs_created_at": (False, False, NEWEST),
    "idx_jobs_status_created": (False, False, [("status", 0, "BINARY"), *NEWEST]),
    # Covering: the keyset order, then every other column of jobs.
    "idx_jobs_active_created": (False, True, [*NEWEST, *((c, 0, "BINARY") for c in ACTIVE_COVERS)]),
    # The queue's look-up of a URL among the pending and running jobs.
    "idx_jobs_url_queued": (False, True, [("url", 0, "BINARY")]),
    # One queued job per identity, and the library's identities in any status.
    "idx_jobs_identity_queued": (True, True, [("identity", 0, "BINARY")]),
    "idx_jobs_identity": (False, True, [("identity", 0, "BINARY")]),
    # A playlist's children and a subscription's jobs, in order, with their statuses.
    "idx_jobs_parent": (
        False,
        True,
        [("parent_id", 0, "BINARY"), *NEWEST, ("status", 0, "BINARY")],
    ),
    "idx_jobs_subscription": (
        False,
        True,
        [("subscription_id", 0, "BINARY"), *NEWEST, ("status", 0, "BINARY")],
    ),
}
QUEUED_WHERE = "WHERE \"status\" IN ('pending', 'running')"
FILES_INDEXES = {
    "idx_files_job_id": (False, False, [("job_id", 0, "BINARY"), ("created_at", 0, "BINARY")]),
    "idx_files_file_type": (False, False, [("file_type", 0, "BINARY"), *NEWEST]),
    "idx_files_created_at": (False, False, NEWEST),
    "idx_files_job_id_type": (
        False,
        False,
        [("job_id", 0, "BINARY"), ("file_type", 0, "BINARY"), ("created_at", 0, "BINARY")],
    ),
}


def managed_indexes(conn: sqlite3.Connection, table: str) -> dict[str, tuple]:
    """Every idx_ index on ``table``: (unique, partial, key columns), from PRAGMAs."""
    found = {}
    listing = conn.execute(
        'SELECT name, "unique", origin, partial FROM pragma_index_list(?)', (table,)
    ).fetchall()
    for name, unique, origin, partial in listing:
        if not name.startswith("idx_"):
            continue
        assert origin == "c", name
        keys = conn.execute(
            'SELECT name, "desc", coll FROM pragma_index_xinfo(?) WHERE "key" = 1 ORDER BY seqno',
            (name,),
        ).fetchall()
        auxiliary = conn.execute(
            'SELECT cid FROM pragma_index_xinfo(?) WHERE "key" = 0', (name,)
        ).fetchall()
        assert [tuple(a) for a in auxiliary] == [(-1,)], name  # only the rowid
        found[name] = (bool(unique), bool(partial), [tuple(k) for k in keys])
    return found


def index_sql(conn: sqlite3.Connection, name: str) -> str:
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
    ).fetchone()
    return row[0]


def test_jobs_indexes_exist(app: Flask) -> None:
    conn = get_db_config().connection()

    found = managed_indexes(conn, "jobs")

    assert set(found) == set(JOBS_INDEXES)
    assert found == JOBS_INDEXES
    assert index_sql(conn, "idx_jobs_active_created").endswith(ACTIVE_WHERE)
    assert index_sql(conn, "idx_jobs_url_queued").endswith(QUEUED_WHERE)
    assert index_sql(conn, "idx_jobs_identity_queued").endswith(QUEUED_WHERE)
    partial = {"idx_jobs_active_created", "idx_jobs_url_queued", "idx_jobs_identity_queued"}
    for name, column in (
        ("idx_jobs_identity", "identity"),
        ("idx_jobs_parent", "parent_id"),
        ("idx_jobs_subscription", "subscription_id"),
    ):
        assert index_sql(conn, name).endswith(f'WHERE "{column}" IS NOT NULL'), name
        partial.add(name)
    for name in set(JOBS_INDEXES) - partial:
        assert " WHERE " not in index_sql(conn, name).upper(), name
    names = {row["name"] for row in get_db_config().get_index_info("jobs")}
    assert names == set(JOBS_INDEXES) | {"sqlite_autoindex_jobs_1"}


def test_files_indexes_exist(app: Flask) -> None:
    conn = get_db_config().connection()

    found = managed_indexes(conn, "files")

    assert set(found) == set(FILES_INDEXES)
    assert found == FILES_INDEXES
    names = {row["name"] for row in get_db_config().get_index_info("files")}
    assert names == set(FILES_INDEXES) | {"sqlite_autoindex_files_1"}


def test_settings_has_no_managed_indexes(app: Flask) -> None:
    conn = get_db_config().connection()
    assert managed_indexes(conn, "settings") == {}


def test_files_job_id_has_its_foreign_key(app: Flask) -> None:
    conn = get_db_config().connection()
    keys = conn.execute(
        'SELECT "table", "from", "to", on_delete FROM pragma_foreign_key_list(?)', ("files",)
    ).fetchall()
    assert [tuple(k) for k in keys] == [("jobs", "job_id", "id", "CASCADE")]


def test_index_usage_on_active_jobs(large_db: DatabaseConfig) -> None:
    with large_db.capture() as statements:
        active = JobRepository(large_db).get_active_jobs()

    assert len(statements) == 1
    sql, params = statements[0]
    steps = explain(large_db.connection(), sql, params)
    assert [(s.op, s.table, s.index) for s in steps] == [
        ("SCAN", "jobs", "idx_jobs_active_created")
    ]
    assert steps[0].covering  # the table is not read at all
    assert not any(s.full_scan for s in steps)
    assert not any(s.temp_sort for s in steps)
    assert plan_problems(steps, "idx_jobs_active_created") == []
    with closing(raw(large_db.db_path)) as conn:
        count = conn.execute(
            "SELECT COUNT(*) FROM jobs WHERE status IN (?, ?, ?)",
            ("pending", "running", "cancelling"),
        ).fetchone()[0]
    assert count > 0
    assert len(active) == count


def test_index_usage_on_job_files(large_db: DatabaseConfig) -> None:
    with closing(raw(large_db.db_path)) as conn:
        job_id, count = conn.execute(
            "SELECT job_id, COUNT(*) FROM files GROUP BY job_id HAVING COUNT(*) > ? LIMIT 1",
            (2,),
        ).fetchone()

    with large_db.capture() as statements:
        listed = FileRepository(large_db).get_job_files(job_id)

    assert len(statements) == 1
    sql, params = statements[0]
    assert params == (job_id,)
    steps = explain(large_db.connection(), sql, params)
    assert [(s.op, s.table, s.index) for s in steps] == [("SEARCH", "files", "idx_files_job_id")]
    assert not any(s.full_scan for s in steps)
    assert not any(s.temp_sort for s in steps)
    assert plan_problems(steps, "idx_files_job_id") == []
    assert len(listed) == count
    assert {f.job_id for f in listed} == {job_id}
    stamps = [f.created_at for f in listed]
    assert stamps == sorted(stamps)
