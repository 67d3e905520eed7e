"""Schema reconcile against real databases: tables, columns, indexes, transactions.

The schema is always read back (PRAGMAs and sqlite_master, pg_catalog), never
assumed. Tests marked ``sqlite_only`` look behind SQLite's back through the file; the
others run on both engines, and those at the end on PostgreSQL alone (online builds,
invalid indexes, lock waits, a fleet starting at once, storage settings, HOT updates).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
from click.testing import CliRunner

from collector.cli import main
from collector.config.database import DatabaseBusyError, DatabaseConfig
from collector.dialects import postgresql_ddl
from collector.models import (
    ACTIVE_STATUSES,
    ALL_MODELS,
    STATUSES,
    BaseModel,
    Column,
    File,
    Job,
)
from collector.repositories import FileRepository, JobRepository
from collector.repositories.queue import JobQueue
from collector.schema.introspect import where_tokens
from collector.schema.reconcile import Change, SchemaError, build_name, inspect, storage_states
from tests.conftest import index_names, reading, schema_rows, table_names
from tests.expected import ADDED_INDEXES, JOB_FIELDS, PLAN_INDEXES, SUBSCRIPTION_INDEXES
from tests.legacy import create_legacy_database

pytestmark = pytest.mark.both_engines

DECLARED = {spec.name: spec for model in ALL_MODELS for spec in model.index_specs()}
TABLES = {"jobs", "files", "settings", "subscriptions"}
# What the legacy schema had (tests/conftest.py create_legacy_database): no subscriptions.
LEGACY_TABLES = TABLES - {"subscriptions"}
# The indexes over the columns databases from before playlists never had.
NEEDS_COLLECTION_COLUMNS = {
    "idx_jobs_identity_queued",
    "idx_jobs_identity",
    "idx_jobs_parent",
    "idx_jobs_subscription",
}
# Trigger-kept tables (schema/derived.py), in the order the models declare them.
DERIVED_TABLES = ["jobs_status_counts", "files_file_type_counts", "files_orphan_job_id"]
# SQLite's full-text table over jobs (an FTS5 table: its shadow tables hold the index).
SEARCH_TABLES = {"jobs_search", *(f"jobs_search_{s}" for s in ("data", "idx", "docsize", "config"))}
SEARCH_TRIGGERS = {f"trg_jobs_search_{event}" for event in ("insert", "delete", "update")}
# PostgreSQL's full-text index over jobs (a GIN index over a tsvector).
SEARCH_INDEX = "idx_jobs_search"
DERIVED_TRIGGERS = {
    *(f"trg_jobs_status_counts_{event}" for event in ("insert", "delete", "update")),
    *(f"trg_files_file_type_counts_{event}" for event in ("insert", "delete", "update")),
    *(
        f"trg_files_orphan_job_id_{side}_{event}"
        for side in ("child", "parent")
        for event in ("insert", "delete", "update")
    ),
}


# -- throwaway models (unique table names, never part of ALL_MODELS) --------------------


class NeedsLabel(BaseModel):
    """A column that cannot be added in place: NOT NULL without a default."""

    table_name = "reconcile_needs_label"
    columns: ClassVar[dict[str, Column]] = {"label": Column("TEXT", nullable=False)}
    indexes: ClassVar[list[dict[str, Any]]] = [
        {"columns": ["label"], "name": "idx_reconcile_needs_label_label"}
    ]


class UniqueLabel(BaseModel):
    """A unique index that cannot be built while the table holds duplicates."""

    table_name = "reconcile_unique_label"
    columns: ClassVar[dict[str, Column]] = {"label": Column("TEXT")}
    indexes: ClassVar[list[dict[str, Any]]] = [
        {"columns": ["label"], "unique": True, "name": "idx_reconcile_unique_label_label"}
    ]


# -- helpers ------------------------------------------------------------------------------


def trigger_names(path: Path) -> set[str]:
    with reading(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    return {row[0] for row in rows}


def index_sql(path: Path, name: str) -> str | None:
    with reading(path) as conn:
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
        ).fetchone()
    return row[0] if row else None


def key_columns(path: Path, name: str) -> list[tuple[str | None, int]]:
    """(column, desc) of the key columns of an index, as PRAGMA index_xinfo reports them."""
    with reading(path) as conn:
        rows = conn.execute(
            'SELECT name, "desc" FROM pragma_index_xinfo(?) WHERE "key" = 1 ORDER BY seqno',
            (name,),
        ).fetchall()
    return [(row[0], row[1]) for row in rows]


def index_list(path: Path, table: str) -> dict[str, sqlite3.Row]:
    with reading(path) as conn:
        rows = conn.execute("SELECT * FROM pragma_index_list(?)", (table,)).fetchall()
    return {row["name"]: row for row in rows}


def column_names(path: Path, table: str) -> list[str]:
    with reading(path) as conn:
        rows = conn.execute("SELECT name FROM pragma_table_info(?)", (table,)).fetchall()
    return [row[0] for row in rows]


def all_rows(path: Path, table: str) -> list[tuple]:
    with reading(path) as conn:
        rows = conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
    return [tuple(row) for row in rows]


def run_sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def expected_keys(name: str) -> list[tuple[str, int]]:
    return [(col, int(direction == "DESC")) for col, direction in DECLARED[name].columns]


def states(db: DatabaseConfig) -> dict[str, str]:
    return {s.name: s.state for s in inspect(db.connection(), ALL_MODELS)}


def fill(db: DatabaseConfig, count: int = 6) -> list[str]:
    """Jobs on every status and platform, each with two files; return the job ids."""
    jobs, files = JobRepository(db), FileRepository(db)
    ids = []
    for number in range(count):
        job = jobs.create_job(f"https://example.com/{number}", "youtube", f"title {number}")
        jobs.update_job_status(job.id, STATUSES[number % len(STATUSES)])
        files.create_file(job.id, f"/d/{number}.mp4", "video", 10 + number)
        files.create_file(job.id, f"/d/{number}.json", "metadata", 1)
        ids.append(job.id)
    return ids


@pytest.fixture
def filled(db: DatabaseConfig) -> DatabaseConfig:
    """A database in use: rows written, then reconciled once (as at the next start).

    That start finds tables that grew from empty and analyzes them; after it, the
    database is in step with the models and a reconcile must change nothing.
    """
    fill(db)
    report = db.initialize_schema()
    assert report.changes == [
        Change("analyze", "jobs", "jobs", "stale"),
        Change("analyze", "files", "files", "stale"),
    ]
    return db


# -- a fresh database ---------------------------------------------------------------------


def test_fresh_database_gets_every_table_and_declared_index(db_path: Path) -> None:
    config = DatabaseConfig(db_path)
    report = config.initialize_schema()
    config.close()

    assert table_names(db_path) == TABLES | set(DERIVED_TABLES) | SEARCH_TABLES
    assert sorted(report.names("create table")) == sorted(TABLES)
    assert report.names("build derived") == [DERIVED_TABLES[0], "jobs_search", *DERIVED_TABLES[1:]]
    assert report.names("rebuild derived") == []
    assert [(s.table, s.name, s.state) for s in report.derived] == [
        ("jobs", "jobs_status_counts", "ok"),
        ("jobs", "jobs_search", "ok"),
        ("files", "files_file_type_counts", "ok"),
        ("files", "files_orphan_job_id", "ok"),
    ]
    assert trigger_names(db_path) == DERIVED_TRIGGERS | SEARCH_TRIGGERS
    assert len(DERIVED_TRIGGERS) == 12
    assert set(report.names("create index")) == set(DECLARED)
    assert set(DECLARED) == PLAN_INDEXES | ADDED_INDEXES
    idx_names = {name for name in index_names(db_path) if name.startswith("idx_")}
    assert idx_names == set(DECLARED)
    for model in ALL_MODELS:
        assert column_names(db_path, model.get_table_name()) == list(model.field_names())
        listing = index_list(db_path, model.get_table_name())
        for spec in model.index_specs():
            assert spec.name in listing, spec.name
            assert listing[spec.name]["unique"] == int(spec.unique)
            assert key_columns(db_path, spec.name) == expected_keys(spec.name), spec.name


@pytest.mark.sqlite_only
def test_declared_key_columns_and_directions(db: DatabaseConfig, db_path: Path) -> None:
    # Written out from the plan (and the one partial index), not derived from the models.
    # Every list index ends with (created_at, id), the keyset order, ascending: SQLite
    # walks it backwards for newest first, and appends are cheaper than prepends.
    newest = [("created_at", 0), ("id", 0)]
    assert key_columns(db_path, "idx_jobs_status") == [("status", 0)]
    assert key_columns(db_path, "idx_jobs_platform") == [("platform", 0), *newest]
    assert key_columns(db_path, "idx_jobs_created_at") == newest
    assert key_columns(db_path, "idx_jobs_status_created") == [("status", 0), *newest]
    covered = [(name, 0) for name in JOB_FIELDS if name not in ("created_at", "id")]
    assert key_columns(db_path, "idx_jobs_active_created") == [*newest, *covered]
    assert key_columns(db_path, "idx_files_job_id") == [("job_id", 0), ("created_at", 0)]
    assert key_columns(db_path, "idx_files_file_type") == [("file_type", 0), *newest]
    assert key_columns(db_path, "idx_files_created_at") == newest
    assert key_columns(db_path, "idx_files_job_id_type") == [
        ("job_id", 0),
        ("file_type", 0),
        ("created_at", 0),
    ]


@pytest.mark.sqlite_only
def test_only_the_active_and_queued_indexes_are_partial(db: DatabaseConfig, db_path: Path) -> None:
    partial = {
        name
        for table in TABLES
        for name, row in index_list(db_path, table).items()
        if row["partial"] == 1
    }
    assert partial == {
        "idx_jobs_active_created",
        "idx_jobs_url_queued",
        "idx_subscriptions_due",
        *NEEDS_COLLECTION_COLUMNS,
    }
    assert where_tokens(index_sql(db_path, "idx_subscriptions_due")) == ("paused", "=", "0")
    for name in ("idx_jobs_identity", "idx_jobs_parent", "idx_jobs_subscription"):
        column = name.removeprefix("idx_jobs_").replace("parent", "parent_id")
        column = column.replace("subscription", "subscription_id")
        assert where_tokens(index_sql(db_path, name)) == (column, "is", "not", "null")
    for name in ("idx_jobs_url_queued", "idx_jobs_identity_queued"):
        queued = where_tokens(index_sql(db_path, name))
        assert queued == ("status", "in", "(", "'pending'", ",", "'running'", ")")
    tokens = where_tokens(index_sql(db_path, "idx_jobs_active_created"))
    assert tokens[:3] == ("status", "in", "(")
    assert {t for t in tokens if t.startswith("'")} == {f"'{s}'" for s in ACTIVE_STATUSES}


@pytest.mark.sqlite_only
def test_partial_index_holds_only_active_jobs(filled: DatabaseConfig, db_path: Path) -> None:
    with reading(db_path) as conn:
        indexed = conn.execute(
            "SELECT COUNT(*) FROM jobs INDEXED BY idx_jobs_active_created "
            "WHERE status IN ('pending', 'running', 'cancelling')"
        ).fetchone()[0]
        # Asking the partial index for a finished status is an error: it cannot serve it.
        with pytest.raises(sqlite3.OperationalError, match="no query solution"):
            conn.execute(
                "SELECT COUNT(*) FROM jobs INDEXED BY idx_jobs_active_created "
                "WHERE status = 'completed'"
            ).fetchall()
    assert indexed == len(ACTIVE_STATUSES)


def test_build_on_tables_with_rows_runs_analyze(db_path: Path) -> None:
    # Tables with rows but no indexes at all, as the schema was before indexes existed.
    conn = sqlite3.connect(db_path)
    for model in ALL_MODELS:
        conn.execute(model.get_create_table_sql())
    job_rows = [Job(url=f"https://e.com/{n}", platform="other").to_row() for n in range(25)]
    conn.executemany(JobRepository.insert_sql(), job_rows)
    file_rows = [
        File(job_id=row[0], file_path=f"/f/{n}", file_type="video", file_size=n).to_row()
        for n, row in enumerate(job_rows)
    ]
    conn.executemany(FileRepository.insert_sql(), file_rows)
    conn.commit()
    has_stat = conn.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
    ).fetchone()[0]
    conn.close()
    assert has_stat == 0
    assert not any(name.startswith("idx_") for name in index_names(db_path))

    config = DatabaseConfig(db_path)
    report = config.initialize_schema()
    config.close()

    assert report.names("create table") == []
    assert set(report.names("create index")) == set(DECLARED)
    assert sorted(report.names("analyze")) == ["files", "jobs", "subscriptions"]
    with reading(db_path) as check:
        stats = {row["idx"]: row["stat"] for row in check.execute("SELECT * FROM sqlite_stat1")}
    for name in DECLARED:
        if name == "idx_jobs_active_created" or name in NEEDS_COLLECTION_COLUMNS:
            continue  # no active job, no identity, parent or subscription: empty partials
        if name in SUBSCRIPTION_INDEXES:
            continue  # no subscription: an empty table has no statistics rows
        assert name in stats, name
        assert int(stats[name].split()[0]) == 25, name


# -- running it again ------------------------------------------------------------------


def test_second_run_changes_nothing_and_logs_nothing(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="collector")
    config = DatabaseConfig(db_path)
    first = config.initialize_schema()
    first_info = [
        r for r in caplog.records if r.name.startswith("collector") and r.levelno >= logging.INFO
    ]
    assert first.changes
    assert len(first_info) == len(first.changes)
    assert all(r.levelno == logging.INFO for r in first_info)
    for change, record in zip(first.changes, first_info, strict=True):
        assert change.name in record.getMessage()

    # Rows written since: the next start refreshes the statistics, one line a table.
    fill(config)
    caplog.clear()
    grown = config.initialize_schema()
    grown_changes = [(c.action, c.name) for c in grown.changes]
    assert grown_changes == [("analyze", "jobs"), ("analyze", "files")]
    grown_info = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(grown_info) == 2
    assert grown_info[0].startswith("analyzed jobs: ")

    before = schema_rows(db_path)
    caplog.clear()
    second = config.initialize_schema()
    after = schema_rows(db_path)
    config.close()

    assert second.changes == []
    assert not second.changed
    assert after == before
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
    assert {s.name: s.state for s in second.indexes} == dict.fromkeys(DECLARED, "ok")


@pytest.mark.sqlite_only
def test_index_methods_are_idempotent_too(filled: DatabaseConfig, db_path: Path) -> None:
    before = schema_rows(db_path)
    assert filled.create_indexes(ALL_MODELS) == []
    assert filled.ensure_indexes(ALL_MODELS).changes == []
    assert filled.initialize_schema().changes == []
    assert schema_rows(db_path) == before


def test_inspect_reports_every_declared_index_ok(db: DatabaseConfig) -> None:
    assert states(db) == dict.fromkeys(DECLARED, "ok")


# -- drift --------------------------------------------------------------------------------

ACTIVE_IN = "WHERE status IN ('pending', 'running', 'cancelling')"
# The columns idx_jobs_active_created covers after its keyset order, as SQL.
ACTIVE_COVERS = ", ".join(name for name in JOB_FIELDS if name not in ("created_at", "id"))
# Each differs from its declaration in one respect.
DRIFTS = [
    ("idx_jobs_status", "CREATE INDEX idx_jobs_status ON jobs(platform)"),
    ("idx_jobs_status", "CREATE INDEX idx_jobs_status ON jobs(status COLLATE NOCASE)"),
    ("idx_jobs_status", "CREATE INDEX idx_jobs_status ON jobs(lower(status))"),
    ("idx_jobs_status", "CREATE INDEX idx_jobs_status ON files(file_type)"),
    ("idx_jobs_status", "CREATE INDEX idx_jobs_status ON jobs(status, platform)"),
    ("idx_jobs_created_at", "CREATE INDEX idx_jobs_created_at ON jobs(created_at, id DESC)"),
    ("idx_jobs_created_at", "CREATE INDEX idx_jobs_created_at ON jobs(created_at DESC, id)"),
    ("idx_jobs_created_at", "CREATE UNIQUE INDEX idx_jobs_created_at ON jobs(created_at, id)"),
    ("idx_jobs_platform", "CREATE INDEX idx_jobs_platform ON jobs(created_at, id, platform)"),
    ("idx_files_job_id", "CREATE INDEX idx_files_job_id ON files(job_id)"),
    (
        "idx_jobs_status",
        "CREATE INDEX idx_jobs_status ON jobs(status) WHERE status = 'pending'",
    ),
    (
        "idx_jobs_active_created",
        f"CREATE INDEX idx_jobs_active_created ON jobs(created_at, id, {ACTIVE_COVERS})",
    ),
    (
        "idx_jobs_active_created",
        f"CREATE INDEX idx_jobs_active_created ON jobs(created_at, id, {ACTIVE_COVERS}) "
        "WHERE status IN ('pending', 'running')",
    ),
    (
        "idx_jobs_active_created",
        f"CREATE INDEX idx_jobs_active_created ON jobs(created_at, id, {ACTIVE_COVERS}) "
        "WHERE status IN ('pending', 'running', 'cancelling', 'failed')",
    ),
    (
        "idx_jobs_active_created",
        f"CREATE INDEX idx_jobs_active_created ON jobs(created_at, id, {ACTIVE_COVERS}) "
        "WHERE platform IN ('pending', 'running', 'cancelling')",
    ),
    # One covered column missing (a column added to jobs later, say).
    (
        "idx_jobs_active_created",
        "CREATE INDEX idx_jobs_active_created ON jobs(created_at, id, "
        f"{ACTIVE_COVERS.rsplit(', ', 1)[0]}) {ACTIVE_IN}",
    ),
    # The previous version's definition, before it covered every column.
    (
        "idx_jobs_active_created",
        f"CREATE INDEX idx_jobs_active_created ON jobs(created_at, id) {ACTIVE_IN}",
    ),
    # The previous version's definitions: keyset order descending (the plan's DESC).
    (
        "idx_jobs_platform",
        "CREATE INDEX idx_jobs_platform ON jobs(platform, created_at DESC, id DESC)",
    ),
    ("idx_jobs_created_at", "CREATE INDEX idx_jobs_created_at ON jobs(created_at DESC, id DESC)"),
    (
        "idx_jobs_status_created",
        "CREATE INDEX idx_jobs_status_created ON jobs(status, created_at DESC, id DESC)",
    ),
    (
        "idx_jobs_active_created",
        f"CREATE INDEX idx_jobs_active_created ON jobs(created_at DESC, id DESC) {ACTIVE_IN}",
    ),
    (
        "idx_files_file_type",
        "CREATE INDEX idx_files_file_type ON files(file_type, created_at DESC, id DESC)",
    ),
    (
        "idx_files_created_at",
        "CREATE INDEX idx_files_created_at ON files(created_at DESC, id DESC)",
    ),
    # And before lists were paged by (created_at, id).
    ("idx_jobs_platform", "CREATE INDEX idx_jobs_platform ON jobs(platform, created_at DESC)"),
    ("idx_jobs_created_at", "CREATE INDEX idx_jobs_created_at ON jobs(created_at DESC)"),
    (
        "idx_jobs_status_created",
        "CREATE INDEX idx_jobs_status_created ON jobs(status, created_at DESC)",
    ),
    (
        "idx_jobs_active_created",
        f"CREATE INDEX idx_jobs_active_created ON jobs(created_at DESC) {ACTIVE_IN}",
    ),
    ("idx_files_file_type", "CREATE INDEX idx_files_file_type ON files(file_type)"),
    ("idx_files_created_at", "CREATE INDEX idx_files_created_at ON files(created_at DESC)"),
]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("name", "sql"), DRIFTS, ids=[sql for _, sql in DRIFTS])
def test_drifted_index_is_detected_and_rebuilt(
    filled: DatabaseConfig, db_path: Path, name: str, sql: str
) -> None:
    rows_before = {table: all_rows(db_path, table) for table in TABLES}
    run_sql(db_path, f"DROP INDEX {name}", sql)
    assert index_sql(db_path, name) == sql

    found = states(filled)
    assert found[name] == "drifted"
    assert {n: s for n, s in found.items() if n != name} == {n: "ok" for n in DECLARED if n != name}

    report = filled.initialize_schema()

    assert report.names("rebuild index") == [name]
    assert report.names("create index") == []
    assert report.names("analyze") == [DECLARED[name].table]
    rebuilt = next(c for c in report.changes if c.action == "rebuild index")
    assert rebuilt.detail  # says what differed
    assert key_columns(db_path, name) == expected_keys(name)
    assert index_sql(db_path, name) == DECLARED[name].create_sql(if_not_exists=False)
    listing = index_list(db_path, DECLARED[name].table)
    assert listing[name]["partial"] == int(bool(DECLARED[name].where))
    assert listing[name]["unique"] == int(DECLARED[name].unique)
    assert states(filled) == dict.fromkeys(DECLARED, "ok")
    assert {table: all_rows(db_path, table) for table in TABLES} == rows_before
    assert filled.initialize_schema().changes == []


OK_SPELLINGS = [
    ("idx_jobs_status", "CREATE INDEX idx_jobs_status ON jobs(status)"),
    ("idx_jobs_status", "create   index idx_jobs_status\n  on jobs ( status )"),
    (
        "idx_jobs_platform",
        "CREATE INDEX idx_jobs_platform ON jobs(platform, created_at ASC, id ASC)",
    ),
    (
        "idx_jobs_created_at",
        'CREATE INDEX "idx_jobs_created_at" ON [jobs] (`created_at` asc, "id" Asc)',
    ),
    (
        "idx_jobs_status_created",
        "CREATE INDEX idx_jobs_status_created ON jobs(status ASC, created_at, id ASC)",
    ),
    ("idx_files_job_id", "CREATE INDEX idx_files_job_id ON files(job_id, created_at)"),
    (
        "idx_files_file_type",
        "CREATE INDEX idx_files_file_type ON files(file_type ASC, created_at ASC, id)",
    ),
    (
        "idx_files_created_at",
        "create index idx_files_created_at on FILES (CREATED_AT,ID asc)",
    ),
    (
        "idx_jobs_active_created",
        f"CREATE INDEX idx_jobs_active_created ON jobs(created_at ASC, id ASC, {ACTIVE_COVERS}) "
        "WHERE status IN ('pending','running','cancelling')",
    ),
    (
        "idx_jobs_active_created",
        "create index idx_jobs_active_created on jobs (created_at , id asc, "
        f"{ACTIVE_COVERS.upper()})\n    where STATUS in ( 'pending' , 'running' , 'cancelling' )",
    ),
]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("name", "sql"), OK_SPELLINGS, ids=[sql for _, sql in OK_SPELLINGS])
def test_same_definition_in_other_spelling_is_ok(
    filled: DatabaseConfig, db_path: Path, name: str, sql: str
) -> None:
    run_sql(db_path, f"DROP INDEX {name}", sql)
    stored = index_sql(db_path, name)
    assert stored == "CREATE INDEX " + sql.split(None, 2)[2]  # SQLite rewrites the keywords
    before = schema_rows(db_path)

    assert states(filled)[name] == "ok"
    report = filled.initialize_schema()

    assert report.changes == []
    assert schema_rows(db_path) == before
    assert index_sql(db_path, name) == stored  # the plan's own text is kept, not rebuilt


@pytest.mark.sqlite_only
def test_index_named_in_other_case_does_not_break_reconcile(
    filled: DatabaseConfig, db_path: Path
) -> None:
    # SQLite index names are case-insensitive: IDX_JOBS_STATUS *is* idx_jobs_status.
    run_sql(db_path, "DROP INDEX idx_jobs_status", "CREATE INDEX IDX_JOBS_STATUS ON jobs(status)")

    report = filled.initialize_schema()

    assert "missing" not in {s.state for s in report.indexes}
    assert [name.lower() for name in index_list(db_path, "jobs")].count("idx_jobs_status") == 1


# -- indexes nobody declared ----------------------------------------------------------------


@pytest.mark.sqlite_only
def test_unmanaged_indexes_are_reported_and_never_dropped(
    filled: DatabaseConfig, db_path: Path
) -> None:
    user_sql = "CREATE INDEX my_idx ON jobs(title)"
    stale_sql = "CREATE INDEX idx_jobs_title ON jobs(title, url)"
    files_sql = "CREATE INDEX idx_files_path ON files(file_path)"
    run_sql(db_path, user_sql, stale_sql, files_sql)

    found = states(filled)
    assert found["my_idx"] == "unmanaged"
    assert found["idx_jobs_title"] == "unmanaged"
    assert found["idx_files_path"] == "unmanaged"

    report = filled.initialize_schema()
    assert report.changes == []
    unmanaged = {s.name: s for s in report.indexes if s.state == "unmanaged"}
    assert set(unmanaged) == {"my_idx", "idx_jobs_title", "idx_files_path"}
    assert unmanaged["my_idx"].table == "jobs"
    assert unmanaged["idx_files_path"].table == "files"
    assert "stale" in unmanaged["idx_jobs_title"].detail
    assert "not declared" in unmanaged["my_idx"].detail

    assert filled.ensure_indexes(ALL_MODELS).changes == []
    assert filled.create_indexes(ALL_MODELS) == []
    assert index_sql(db_path, "my_idx") == user_sql
    assert index_sql(db_path, "idx_jobs_title") == stale_sql
    assert index_sql(db_path, "idx_files_path") == files_sql


# -- columns -------------------------------------------------------------------------------


def test_missing_columns_are_added_and_rows_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    create_legacy_database(path, drop_columns=("bytes_downloaded", "current_operation"))
    columns_before = column_names(path, "jobs")
    assert "bytes_downloaded" not in columns_before
    assert "current_operation" not in columns_before
    rows_before = all_rows(path, "jobs")
    files_before = all_rows(path, "files")

    config = DatabaseConfig(path)
    report = config.initialize_schema()

    # The two dropped columns, the queue's three and the media's six that legacy
    # databases never had, and the files' host.
    assert sorted(report.names("add column")) == [
        "bytes_downloaded",
        "current_operation",
        "duration",
        "entries",
        "extractor",
        "extractor_id",
        "format",
        "host",
        "identity",
        "lease_expires_at",
        "next_attempt_at",
        "parent_id",
        "removed_at",
        "subscription_id",
        "upload_date",
        "uploader",
        "worker_id",
    ]
    with reading(path) as conn:
        info = {row["name"]: row for row in conn.execute("PRAGMA table_info(jobs)")}
        after = conn.execute(
            f"SELECT {', '.join(columns_before)}, bytes_downloaded, current_operation "
            "FROM jobs ORDER BY rowid"
        ).fetchall()
    assert info["bytes_downloaded"]["type"] == "INTEGER"
    assert info["bytes_downloaded"]["notnull"] == 1
    assert info["bytes_downloaded"]["dflt_value"] == "0"
    assert info["current_operation"]["type"] == "TEXT"
    assert info["current_operation"]["notnull"] == 0
    assert [tuple(row)[: len(columns_before)] for row in after] == rows_before
    assert all(row["bytes_downloaded"] == 0 for row in after)
    assert all(row["current_operation"] is None for row in after)
    assert [row[: len(files_before[0])] for row in all_rows(path, "files")] == files_before
    jobs = JobRepository(config).get_recent_jobs(10)
    assert len(jobs) == len(rows_before)
    assert {job.bytes_downloaded for job in jobs} == {0}
    assert config.initialize_schema().changes == []
    config.close()


def test_changed_column_type_is_a_warning_not_an_alteration(tmp_path: Path) -> None:
    path = tmp_path / "typed.db"
    run_sql(
        path,
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value BLOB, "
        "created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)",
    )
    config = DatabaseConfig(path)
    report = config.initialize_schema()
    config.close()

    assert any("settings.value" in w for w in report.warnings)
    with reading(path) as conn:
        kinds = {row["name"]: row["type"] for row in conn.execute("PRAGMA table_info(settings)")}
    assert kinds["value"] == "BLOB"


# -- create_indexes / ensure_indexes -------------------------------------------------------


@pytest.mark.sqlite_only
def test_create_indexes_only_creates_missing_ones(filled: DatabaseConfig, db_path: Path) -> None:
    drifted_sql = "CREATE INDEX idx_jobs_created_at ON jobs(created_at)"
    run_sql(
        db_path,
        "DROP INDEX idx_jobs_status",
        "DROP INDEX idx_files_file_type",
        "DROP INDEX idx_jobs_created_at",
        drifted_sql,
    )

    created = filled.create_indexes(ALL_MODELS)

    assert sorted(created) == ["idx_files_file_type", "idx_jobs_status"]
    assert key_columns(db_path, "idx_jobs_status") == [("status", 0)]
    assert key_columns(db_path, "idx_files_file_type") == [
        ("file_type", 0),
        ("created_at", 0),
        ("id", 0),
    ]
    assert index_sql(db_path, "idx_jobs_created_at") == drifted_sql  # not rebuilt
    assert states(filled)["idx_jobs_created_at"] == "drifted"
    assert filled.create_indexes(ALL_MODELS) == []

    report = filled.ensure_indexes(ALL_MODELS)

    assert report.names("rebuild index") == ["idx_jobs_created_at"]
    assert report.names("create index") == []
    assert key_columns(db_path, "idx_jobs_created_at") == [("created_at", 0), ("id", 0)]
    assert states(filled) == dict.fromkeys(DECLARED, "ok")


@pytest.mark.sqlite_only
def test_ensure_indexes_creates_missing_and_rebuilds_drifted(
    filled: DatabaseConfig, db_path: Path
) -> None:
    run_sql(
        db_path,
        "DROP INDEX idx_files_job_id",
        "DROP INDEX idx_jobs_active_created",
        "CREATE INDEX idx_jobs_active_created ON jobs(created_at DESC)",
    )

    report = filled.ensure_indexes(ALL_MODELS)

    assert report.names("create index") == ["idx_files_job_id"]
    assert report.names("rebuild index") == ["idx_jobs_active_created"]
    assert report.names("create table") == []
    assert index_list(db_path, "jobs")["idx_jobs_active_created"]["partial"] == 1
    assert states(filled) == dict.fromkeys(DECLARED, "ok")


def test_ensure_indexes_does_not_touch_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    create_legacy_database(path, drop_columns=("bytes_downloaded",))
    config = DatabaseConfig(path)

    report = config.ensure_indexes(ALL_MODELS)
    config.close()

    assert report.names("add column") == []
    assert "bytes_downloaded" not in column_names(path, "jobs")
    # An index over a column the table lacks is not built (SQLite would index the
    # column's quoted name as a string constant): a warning names it and its columns.
    # The subscriptions table is not there at all: its indexes wait for the full reconcile.
    lacking = {"idx_jobs_active_created", *NEEDS_COLLECTION_COLUMNS, *SUBSCRIPTION_INDEXES}
    assert set(report.names("create index")) == set(DECLARED) - lacking
    # And the full-text search, over the uploader the legacy table lacks, waits too.
    assert len(report.warnings) == len(lacking) + 1
    assert any("idx_jobs_active_created" in w and "bytes_downloaded" in w for w in report.warnings)
    assert any("full-text search over jobs" in w and "uploader" in w for w in report.warnings)
    assert "jobs_search" not in report.names("build derived")
    assert "idx_jobs_active_created" not in index_list(path, "jobs")

    again = DatabaseConfig(path)
    assert set(again.initialize_schema().names("create index")) == lacking
    again.close()


# -- transactions -----------------------------------------------------------------------------


def test_column_that_cannot_be_added_fails_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    create_legacy_database(path, drop_columns=("bytes_downloaded", "current_operation"))
    run_sql(
        path,
        "CREATE TABLE reconcile_needs_label (id TEXT PRIMARY KEY, "
        "created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)",
        "INSERT INTO reconcile_needs_label VALUES ('a', '2025-01-01 00:00:00', "
        "'2025-01-01 00:00:00')",
    )
    before = schema_rows(path)
    rows_before = {t: all_rows(path, t) for t in (*LEGACY_TABLES, "reconcile_needs_label")}
    config = DatabaseConfig(path)

    # Job's two columns are added before NeedsLabel is reached; they must not survive.
    with pytest.raises(SchemaError, match=r"reconcile_needs_label.*'label'"):
        config.initialize_schema([Job, File, NeedsLabel])

    assert not config.connection().in_transaction
    assert schema_rows(path) == before
    assert "bytes_downloaded" not in column_names(path, "jobs")
    assert not any(name.startswith("idx_") for name in index_names(path))
    assert {t: all_rows(path, t) for t in rows_before} == rows_before
    # The same connection still works, and the real models reconcile fine.
    assert set(config.initialize_schema().names("create index")) == set(DECLARED)
    config.close()


def test_failure_while_building_an_index_keeps_the_finished_steps(db_path: Path) -> None:
    """Each index is built in a short transaction of its own (so writers of other
    processes wait one build, not the whole upgrade): a failing one undoes itself
    only, and the next run builds what is still missing."""
    run_sql(
        db_path,
        "CREATE TABLE reconcile_unique_label (id TEXT PRIMARY KEY, "
        "created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, label TEXT)",
        "INSERT INTO reconcile_unique_label VALUES ('a', '2025-01-01', '2025-01-01', 'same')",
        "INSERT INTO reconcile_unique_label VALUES ('b', '2025-01-01', '2025-01-01', 'same')",
    )
    config = DatabaseConfig(db_path)

    # Tables jobs/files/settings and all their indexes come first; the unique index fails.
    with pytest.raises(sqlite3.IntegrityError):
        config.initialize_schema([*ALL_MODELS, UniqueLabel])

    assert not config.connection().in_transaction
    assert table_names(db_path) >= {"jobs", "files", "settings", "reconcile_unique_label"}
    assert {n for n in index_names(db_path) if n.startswith("idx_")} == set(DECLARED)
    assert "idx_reconcile_unique_label_label" not in index_names(db_path)
    assert len(all_rows(db_path, "reconcile_unique_label")) == 2

    run_sql(db_path, "DELETE FROM reconcile_unique_label WHERE id = 'b'")
    report = config.initialize_schema([*ALL_MODELS, UniqueLabel])
    config.close()
    assert report.names("create index") == ["idx_reconcile_unique_label_label"]
    assert (
        index_list(db_path, "reconcile_unique_label")["idx_reconcile_unique_label_label"]["unique"]
        == 1
    )


# -- get_index_info -------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_get_index_info_lists_name_and_sql(filled: DatabaseConfig, db_path: Path) -> None:
    run_sql(db_path, "CREATE INDEX my_idx ON jobs(title)")

    info = filled.get_index_info("jobs")

    assert all(set(entry) == {"name", "sql"} for entry in info)
    by_name = {entry["name"]: entry["sql"] for entry in info}
    jobs_declared = {spec.name for spec in Job.index_specs()}
    assert jobs_declared <= set(by_name)
    assert "my_idx" in by_name
    for name in jobs_declared | {"my_idx"}:
        assert by_name[name] == index_sql(db_path, name)
    assert not any(name.startswith("idx_files") for name in by_name)
    files_info = {entry["name"] for entry in filled.get_index_info("files")}
    assert {spec.name for spec in File.index_specs()} <= files_info
    assert filled.get_index_info("settings") == [
        {"name": name, "sql": None} for name in sorted(index_list(db_path, "settings"))
    ]


# -- both engines: indexes on tables with rows ------------------------------------------------


def fill_and_settle(db: DatabaseConfig) -> list[str]:
    """Rows in every table, statistics taken, and a reconcile with nothing left to do."""
    ids = fill(db)
    for model in ALL_MODELS:
        db.dialect.analyze(db.connection(), model.get_table_name())
    db.initialize_schema()
    assert db.initialize_schema().changes == []
    return ids


def engine_states(db: DatabaseConfig) -> dict[str, str]:
    with db.transaction() as conn:
        return {s.name: s.state for s in inspect(conn, ALL_MODELS)}


def test_missing_index_on_a_table_with_rows_is_built(db: DatabaseConfig) -> None:
    fill_and_settle(db)
    db.connection().execute('DROP INDEX "idx_jobs_status"')
    assert engine_states(db)["idx_jobs_status"] == "missing"

    report = db.initialize_schema()

    online = db.dialect.features.online_index_builds
    built = [c for c in report.changes if c.action == "create index"]
    assert built == [
        Change("create index", "jobs", "idx_jobs_status", "concurrently" if online else "")
    ]
    assert engine_states(db) == dict.fromkeys(DECLARED, "ok")
    assert db.initialize_schema().changes == []


def test_drifted_index_on_a_table_with_rows_is_rebuilt(db: DatabaseConfig) -> None:
    fill_and_settle(db)
    conn = db.connection()
    conn.execute('DROP INDEX "idx_jobs_created_at"')
    conn.execute('CREATE INDEX "idx_jobs_created_at" ON "jobs" ("created_at")')
    assert engine_states(db)["idx_jobs_created_at"] == "drifted"

    report = db.initialize_schema()

    assert report.names("rebuild index") == ["idx_jobs_created_at"]
    if db.dialect.features.online_index_builds:
        assert report.changes[0].detail.startswith("concurrently; columns (created_at)")
    assert engine_states(db) == dict.fromkeys(DECLARED, "ok")
    info = db.dialect.index_info(db.connection(), "idx_jobs_created_at")
    assert info is not None
    assert [column for column, _ in info.columns] == ["created_at", "id"]


def test_second_run_on_a_database_in_use_changes_nothing(db: DatabaseConfig) -> None:
    fill_and_settle(db)
    report = db.initialize_schema()
    assert report.changes == []
    expected = dict.fromkeys(DECLARED, "ok")
    if db.dialect.search_index_sql("jobs", ("title", "url"), SEARCH_INDEX) is not None:
        expected[SEARCH_INDEX] = "ok"
    assert {s.name: s.state for s in report.indexes} == expected


# -- PostgreSQL: invalid indexes, leftovers, lock waits, fleets, storage, HOT ----------------


def pg_valid(db: DatabaseConfig, name: str) -> bool | None:
    """pg_index.indisvalid of the index ``name`` in the current schema; None if absent."""
    row = (
        db.connection()
        .execute(
            "SELECT i.indisvalid FROM pg_catalog.pg_index AS i "
            "JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid "
            "WHERE c.relname = ? AND c.relnamespace = "
            "(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = current_schema())",
            (name,),
        )
        .fetchone()
    )
    return None if row is None else bool(row[0])


def test_invalid_index_is_reported_and_rebuilt(pg_db: DatabaseConfig) -> None:
    name = "idx_reconcile_unique_label_label"
    models = [*ALL_MODELS, UniqueLabel]
    pg_db.initialize_schema(models)
    conn = pg_db.connection()
    conn.execute(f'DROP INDEX "{name}"')
    for key in ("a", "b"):
        conn.execute("INSERT INTO reconcile_unique_label VALUES (?, now(), now(), 'same')", (key,))
    # A concurrent build that fails (duplicates) leaves its index behind, invalid.
    with pytest.raises(Exception, match="could not create unique index"):
        conn.execute(f'CREATE UNIQUE INDEX CONCURRENTLY "{name}" ON reconcile_unique_label (label)')
    assert pg_valid(pg_db, name) is False
    with pg_db.transaction() as tx:
        found = {s.name: s for s in inspect(tx, models)}
    assert found[name].state == "invalid"

    # Still duplicates: the rebuild fails, the invalid index stays (no IF NOT EXISTS
    # kept it as if it were fine) and no temporary index is left behind.
    with pytest.raises(Exception, match="could not create unique index"):
        pg_db.initialize_schema(models)
    assert pg_valid(pg_db, name) is False
    assert pg_valid(pg_db, build_name(name)) is None

    conn.execute("DELETE FROM reconcile_unique_label WHERE id = 'b'")
    # This session's row counts reach the statistics now, not after the rebuild's
    # ANALYZE (which would make the last run below find them stale).
    conn.execute("SELECT pg_catalog.pg_stat_force_next_flush()")
    report = pg_db.initialize_schema(models)

    rebuilt = [c for c in report.changes if c.action == "rebuild index"]
    assert [(c.name, c.detail.split(";")[0]) for c in rebuilt] == [(name, "concurrently")]
    assert "invalid" in rebuilt[0].detail
    assert pg_valid(pg_db, name) is True
    assert pg_valid(pg_db, build_name(name)) is None
    assert {s.name: s.state for s in report.indexes}[name] == "ok"
    assert pg_db.initialize_schema(models).changes == []


def test_invalid_index_on_an_empty_table_is_rebuilt_in_place(pg_db: DatabaseConfig) -> None:
    conn = pg_db.connection()
    conn.execute('DROP INDEX "idx_files_file_type"')
    conn.execute('CREATE INDEX "idx_files_file_type" ON files (file_type, created_at, id)')
    conn.execute(
        "UPDATE pg_catalog.pg_index SET indisvalid = false WHERE indexrelid = "
        "(SELECT oid FROM pg_catalog.pg_class WHERE relname = 'idx_files_file_type' "
        "AND relnamespace = (SELECT oid FROM pg_catalog.pg_namespace "
        "WHERE nspname = current_schema()))"
    )
    assert engine_states(pg_db)["idx_files_file_type"] == "invalid"

    report = pg_db.initialize_schema()

    assert report.names("rebuild index") == ["idx_files_file_type"]
    assert pg_valid(pg_db, "idx_files_file_type") is True
    assert engine_states(pg_db) == dict.fromkeys(DECLARED, "ok")


def test_leftover_temporary_indexes_are_dropped(pg_db: DatabaseConfig) -> None:
    fill_and_settle(pg_db)
    conn = pg_db.connection()
    # One a build left valid (killed between build and swap), one it left invalid.
    valid_left = build_name("idx_jobs_status")
    invalid_left = build_name("idx_files_created_at")
    conn.execute(f'CREATE INDEX CONCURRENTLY "{valid_left}" ON jobs (status)')
    conn.execute(f'CREATE INDEX CONCURRENTLY "{invalid_left}" ON files (created_at, id)')
    conn.execute(
        "UPDATE pg_catalog.pg_index SET indisvalid = false WHERE indexrelid = "
        f"'{invalid_left}'::regclass"
    )
    found = engine_states(pg_db)
    assert found[valid_left] == "invalid"
    assert found[invalid_left] == "invalid"

    report = pg_db.initialize_schema()

    assert sorted(report.names("drop index")) == sorted([valid_left, invalid_left])
    assert pg_valid(pg_db, valid_left) is None
    assert pg_valid(pg_db, invalid_left) is None
    assert engine_states(pg_db) == dict.fromkeys(DECLARED, "ok")


def test_start_behind_a_long_lock_says_which_table_and_lock(
    pg_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    DatabaseConfig(pg_schema_url).initialize_schema()
    monkeypatch.setenv("COLLECTOR_BUSY_TIMEOUT_MS", "200")
    holder = psycopg.connect(pg_schema_url, autocommit=True)
    try:
        holder.execute("SET application_name = 'long-transaction'")
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
        config = DatabaseConfig(pg_schema_url)
        assert config.busy_timeout_ms == 200
        with pytest.raises(DatabaseBusyError) as raised:
            config.initialize_schema()
        config.dispose()
    finally:
        holder.close()
    message = str(raised.value)
    assert "schema upgrade" in message
    assert "table jobs" in message
    assert "long-transaction" in message
    assert "AccessExclusiveLock on jobs" in message
    assert "200 ms" in message
    assert "lock timeout" in message


FLEET_START = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from collector.config.database import DatabaseConfig
db = DatabaseConfig(sys.argv[1])
report = db.initialize_schema()
print(json.dumps([list(change) for change in report.changes]))
db.dispose()
"""


def test_eight_processes_starting_at_once_take_turns(pg_schema_url: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", FLEET_START, pg_schema_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0] * 8, [e for _, e in outputs]
    changes = [json.loads(out) for out, _ in outputs]
    upgraded = [found for found in changes if found]
    assert len(upgraded) == 1
    assert sorted(c[2] for c in upgraded[0] if c[0] == "create table") == sorted(TABLES)
    config = DatabaseConfig(pg_schema_url)
    assert engine_states(config) == dict.fromkeys(DECLARED, "ok")
    config.dispose()


def reloptions(db: DatabaseConfig, table: str) -> dict[str, str]:
    row = (
        db.connection()
        .execute("SELECT reloptions FROM pg_catalog.pg_class WHERE oid = ?::regclass", (table,))
        .fetchone()
    )
    return dict(option.split("=", 1) for option in row[0] or ())


def test_declared_storage_settings_are_created_and_reconciled(pg_db: DatabaseConfig) -> None:
    declared = {name: f"{value:g}" for name, value in Job.storage.items()}
    assert declared["fillfactor"] == "85"
    assert reloptions(pg_db, "jobs") == declared
    assert reloptions(pg_db, "files") == {}
    conn = pg_db.connection()
    conn.execute("ALTER TABLE jobs RESET (fillfactor)")
    conn.execute("ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.2)")
    with pg_db.transaction() as tx:
        (state,) = storage_states(tx, ALL_MODELS)
    assert state.state == "drifted"
    assert "fillfactor default, declared 85" in state.detail
    assert "autovacuum_vacuum_scale_factor 0.2, declared 0.05" in state.detail

    report = pg_db.initialize_schema()

    (change,) = [c for c in report.changes if c.action == "set storage"]
    assert (change.table, change.detail) == ("jobs", state.detail)
    assert reloptions(pg_db, "jobs") == declared
    assert pg_db.initialize_schema().changes == []


def test_storage_declaration_is_checked() -> None:
    class Bad(BaseModel):
        table_name = "reconcile_bad_storage"
        columns: ClassVar[dict[str, Column]] = {"label": Column("TEXT")}
        storage: ClassVar[dict[str, int | float]] = {"fill_factor": 80}

    with pytest.raises(ValueError, match="valid settings: fillfactor, autovacuum_"):
        postgresql_ddl.create_table_sql(Bad)


def test_sqlite_ignores_storage_settings(db_path: Path) -> None:
    config = DatabaseConfig(db_path)
    report = config.initialize_schema()
    config.close()
    assert report.storage == []
    assert "fillfactor" not in index_sql_of_table(db_path, "jobs")


def index_sql_of_table(path: Path, table: str) -> str:
    with reading(path) as conn:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    return row[0]


def test_progress_updates_are_hot_updates(pg_db: DatabaseConfig) -> None:
    """A worker's progress write changes no indexed column: while its page has room, the
    update is HOT (a new row version on the same page, no index touched).

    The first 25 reports (5 running jobs, 5 each) fit in the room their page has, so
    every one is HOT whatever else the server does. Past that, room comes from pruning
    the page's dead versions, which a snapshot older than them (any session's) puts
    off; so of the sustained reports after them, most are HOT, not necessarily all."""
    queue = JobQueue(pg_db)
    for number in range(5):
        queue.enqueue(f"https://example.com/hot/{number}")
    held = [queue.claim("hot-worker", 600) for _ in range(5)]
    conn = pg_db.connection()
    # An (auto)ANALYZE of the table would hold such a snapshot: off for this table.
    # (Undeclared settings are not reconciled away.)
    conn.execute("ALTER TABLE jobs SET (autovacuum_enabled = false)")

    def updates() -> tuple[int, int]:
        conn.execute("SELECT pg_catalog.pg_stat_force_next_flush()")
        conn.execute("SELECT pg_catalog.pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_catalog.pg_stat_user_tables "
            "WHERE relid = 'jobs'::regclass"
        ).fetchone()
        return int(row[0]), int(row[1])

    def report(seconds: range) -> tuple[int, int]:
        before = updates()
        for second in seconds:
            for job in held:
                assert job is not None
                status = queue.report_progress(
                    job.id, "hot-worker", 600, progress=second, bytes_downloaded=second * 1000,
                    operation=f"downloading {second}",
                )  # fmt: skip
                assert status == "running"
        after = updates()
        return after[0] - before[0], after[1] - before[1]

    made, hot = report(range(1, 6))
    assert made == 25
    assert hot == 25
    made, hot = report(range(6, 41))
    assert made == 175
    assert hot > made // 2


def test_db_commands_on_postgresql(pg_schema_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLLECTOR_DB_PATH", raising=False)
    monkeypatch.setenv("COLLECTOR_DATABASE_URL", pg_schema_url)
    upgraded = CliRunner().invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "create table jobs (jobs)" in upgraded.output
    again = CliRunner().invoke(main, ["db", "upgrade"])
    assert again.output.strip() == "schema up to date: nothing to do"

    config = DatabaseConfig(pg_schema_url)
    JobQueue(config).enqueue("https://example.com/cli")
    conn = config.connection()
    conn.execute("ALTER TABLE jobs SET (fillfactor = 100)")
    conn.execute(
        "UPDATE pg_catalog.pg_index SET indisvalid = false "
        "WHERE indexrelid = 'idx_jobs_status'::regclass"
    )
    config.dispose()
    status = CliRunner().invoke(main, ["db", "status", "--json"])
    assert status.exit_code == 0, status.output
    jobs_table = json.loads(status.output)["tables"][0]
    assert {i["name"]: i["state"] for i in jobs_table["indexes"]}["idx_jobs_status"] == "invalid"
    assert jobs_table["storage"]["state"] == "drifted"
    text = CliRunner().invoke(main, ["db", "status"])
    assert "idx_jobs_status" in text.output and "invalid" in text.output
    assert "storage settings             drifted  (fillfactor 100, declared 85)" in text.output

    fixed = CliRunner().invoke(main, ["db", "upgrade"])
    assert fixed.exit_code == 0, fixed.output
    assert "rebuild index idx_jobs_status (jobs): concurrently; invalid" in fixed.output
    assert "set storage jobs (jobs): fillfactor 100, declared 85" in fixed.output

    # explain reads each repository query's plan on PostgreSQL; its contracts there are
    # checked elsewhere: here it runs and answers 0 (all kept) or 1 (one broken).
    explained = CliRunner().invoke(main, ["db", "explain", "--json"])
    assert explained.exit_code in (0, 1), explained.output
    queries = json.loads(explained.output)
    assert {"JobRepository.get_active_jobs", "JobQueue.cancel"} <= {q["query"] for q in queries}
    assert all(q["plan"] for q in queries)


def test_online_false_builds_in_a_transaction(pg_db: DatabaseConfig) -> None:
    """A bulk load's target (db copy) asks for plain builds: nobody writes to it yet."""
    fill_and_settle(pg_db)
    pg_db.connection().execute('DROP INDEX "idx_files_job_id"')

    report = pg_db.initialize_schema(online=False)

    assert [c for c in report.changes if c.action == "create index"] == [
        Change("create index", "files", "idx_files_job_id")
    ]
    assert engine_states(pg_db) == dict.fromkeys(DECLARED, "ok")


def test_a_killed_concurrent_build_is_found_and_finished_by_the_next_start(
    pg_db: DatabaseConfig,
) -> None:
    """An upgrade killed during CREATE INDEX CONCURRENTLY leaves the temporary index
    behind, invalid; the next start drops it and builds the index."""
    fill_and_settle(pg_db)
    name = "idx_jobs_platform"
    pg_db.connection().execute(f'DROP INDEX "{name}"')
    url = str(pg_db.location)
    # A transaction that wrote to jobs and stays open: the concurrent build, once its
    # index is in the catalogue, waits for it to end.
    writer = psycopg.connect(url, autocommit=True)
    upgrade = None
    try:
        writer.execute("BEGIN")
        writer.execute("UPDATE jobs SET title = title")
        upgrade = subprocess.Popen(
            [sys.executable, "-m", "collector", "--database-url", url, "db", "upgrade"],
            env={**os.environ, "COLLECTOR_BUSY_TIMEOUT_MS": "60000"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        watcher = psycopg.connect(url, autocommit=True)
        try:
            pid = None
            while pid is None and upgrade.poll() is None:
                row = watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() "
                    "AND query LIKE 'CREATE INDEX CONCURRENTLY%'"
                ).fetchone()
                pid = None if row is None else row[0]
                time.sleep(0.05)
            assert pid is not None, upgrade.communicate()
            watcher.execute("SELECT pg_terminate_backend(%s)", (pid,))
        finally:
            watcher.close()
        upgrade.communicate(timeout=60)
        assert upgrade.returncode != 0
    finally:
        writer.close()
        if upgrade is not None and upgrade.poll() is None:
            upgrade.kill()
    assert pg_valid(pg_db, build_name(name)) is False
    assert pg_valid(pg_db, name) is None
    found = engine_states(pg_db)
    assert found[build_name(name)] == "invalid"
    assert found[name] == "missing"

    report = pg_db.initialize_schema()

    assert report.names("drop index") == [build_name(name)]
    assert [c for c in report.changes if c.action == "create index"] == [
        Change("create index", "jobs", name, "concurrently")
    ]
    assert pg_valid(pg_db, build_name(name)) is None
    assert engine_states(pg_db) == dict.fromkeys(DECLARED, "ok")
