"""Schema reconcile against real SQLite files: tables, columns, indexes, transactions.

The schema is always read back through PRAGMAs or sqlite_master, never assumed.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

import pytest

from collector.config.database import DatabaseConfig
from collector.models import ACTIVE_STATUSES, ALL_MODELS, STATUSES, BaseModel, Column, File, Job
from collector.repositories import FileRepository, JobRepository
from collector.schema.introspect import where_tokens
from collector.schema.reconcile import Change, SchemaError, inspect
from tests.conftest import index_names, reading, schema_rows, table_names
from tests.expected import JOB_FIELDS, PLAN_INDEXES
from tests.legacy import create_legacy_database

DECLARED = {spec.name: spec for model in ALL_MODELS for spec in model.index_specs()}
TABLES = {"jobs", "files", "settings"}
# Trigger-kept tables (schema/derived.py), in the order the models declare them.
DERIVED_TABLES = ["jobs_status_counts", "files_file_type_counts", "files_orphan_job_id"]
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

    assert table_names(db_path) == TABLES | set(DERIVED_TABLES)
    assert sorted(report.names("create table")) == sorted(TABLES)
    assert report.names("build derived") == DERIVED_TABLES
    assert report.names("rebuild derived") == []
    assert [(s.table, s.name, s.state) for s in report.derived] == [
        ("jobs", "jobs_status_counts", "ok"),
        ("files", "files_file_type_counts", "ok"),
        ("files", "files_orphan_job_id", "ok"),
    ]
    assert trigger_names(db_path) == DERIVED_TRIGGERS
    assert len(DERIVED_TRIGGERS) == 12
    assert set(report.names("create index")) == set(DECLARED)
    assert set(DECLARED) == PLAN_INDEXES | {"idx_jobs_active_created"}
    idx_names = {name for name in index_names(db_path) if name.startswith("idx_")}
    assert idx_names == set(DECLARED)
    for model in ALL_MODELS:
        assert column_names(db_path, model.get_table_name()) == list(model.field_names())
        listing = index_list(db_path, model.get_table_name())
        for spec in model.index_specs():
            assert spec.name in listing, spec.name
            assert listing[spec.name]["unique"] == int(spec.unique)
            assert key_columns(db_path, spec.name) == expected_keys(spec.name), spec.name


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


def test_only_the_active_index_is_partial(db: DatabaseConfig, db_path: Path) -> None:
    partial = {
        name
        for table in TABLES
        for name, row in index_list(db_path, table).items()
        if row["partial"] == 1
    }
    assert partial == {"idx_jobs_active_created"}
    tokens = where_tokens(index_sql(db_path, "idx_jobs_active_created"))
    assert tokens[:3] == ("status", "in", "(")
    assert {t for t in tokens if t.startswith("'")} == {f"'{s}'" for s in ACTIVE_STATUSES}


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
    assert sorted(report.names("analyze")) == ["files", "jobs"]
    with reading(db_path) as check:
        stats = {row["idx"]: row["stat"] for row in check.execute("SELECT * FROM sqlite_stat1")}
    for name in DECLARED:
        if name == "idx_jobs_active_created":
            continue  # no active job: the partial index is empty
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
        f"{ACTIVE_COVERS.removesuffix(', next_attempt_at')}) {ACTIVE_IN}",
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


def test_index_named_in_other_case_does_not_break_reconcile(
    filled: DatabaseConfig, db_path: Path
) -> None:
    # SQLite index names are case-insensitive: IDX_JOBS_STATUS *is* idx_jobs_status.
    run_sql(db_path, "DROP INDEX idx_jobs_status", "CREATE INDEX IDX_JOBS_STATUS ON jobs(status)")

    report = filled.initialize_schema()

    assert "missing" not in {s.state for s in report.indexes}
    assert [name.lower() for name in index_list(db_path, "jobs")].count("idx_jobs_status") == 1


# -- indexes nobody declared ----------------------------------------------------------------


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

    # The two dropped columns, the queue's three that legacy databases never had, and
    # the files' host.
    assert sorted(report.names("add column")) == [
        "bytes_downloaded",
        "current_operation",
        "host",
        "lease_expires_at",
        "next_attempt_at",
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
    assert set(report.names("create index")) == set(DECLARED)


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
    rows_before = {t: all_rows(path, t) for t in (*TABLES, "reconcile_needs_label")}
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
