"""The declarations rendered for PostgreSQL, executed on the server and compared back
structurally (``pg_url``'s session database, a schema per test)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import psycopg
import pytest
from psycopg import sql

from collector.dialects.postgresql import PostgreSQLDialect
from collector.dialects.postgresql_ddl import create_table_sql, indexes_sql
from collector.models import ALL_MODELS, Job
from collector.schema.reconcile import inspect

PG = PostgreSQLDialect(statement_timeout_ms=30_000)


@pytest.fixture
def conn(pg_url: str) -> Iterator[Any]:
    schema = f"t_{secrets.token_hex(4)}"
    with closing(PG.connect(pg_url, 2_000)) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        connection.execute("SELECT pg_catalog.set_config('search_path', %s, false)", (schema,))
        try:
            yield connection
        finally:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def create_all(conn: Any) -> None:
    for model in ALL_MODELS:
        conn.execute(create_table_sql(model))
        for statement in indexes_sql(model):
            conn.execute(statement)


def states(conn: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each index's state as reconcile reads it, with its differences one by one."""
    return {
        s.name: (s.state, tuple(s.detail.split("; ")) if s.detail else ())
        for s in inspect(conn, ALL_MODELS)
    }


def test_the_rendered_schema_runs_and_reads_back_as_declared(conn: Any) -> None:
    create_all(conn)
    assert PG.table_names(conn) == {"jobs", "files", "settings", "subscriptions"}
    columns = {c.name: c for c in PG.table_columns(conn, "jobs")}
    assert columns["created_at"].type == "timestamp with time zone"
    assert columns["progress"].type == "bigint"
    assert columns["progress"].notnull and columns["progress"].default == "0"
    assert columns["status"].default == "'pending'::text"
    assert columns["id"].pk and not columns["title"].notnull
    active = PG.index_info(conn, "idx_jobs_active_created")
    assert active is not None
    assert active.columns == (("created_at", False), ("id", False))
    assert active.include == ()
    assert active.predicate is not None and "ANY" in active.predicate
    # The foreign key cascades.
    conn.execute(
        "INSERT INTO jobs (id, created_at, updated_at, url, platform) "
        "VALUES ('j1', now(), now(), 'u', 'other')"
    )
    conn.execute(
        "INSERT INTO files (id, created_at, updated_at, job_id, file_path, file_type) "
        "VALUES ('f1', now(), now(), 'j1', 'p', 'video')"
    )
    conn.execute("DELETE FROM jobs WHERE id = 'j1'")
    assert conn.execute("SELECT count(*) AS n FROM files").fetchone()["n"] == 0
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            "INSERT INTO files (id, created_at, updated_at, job_id, file_path, file_type) "
            "VALUES ('f2', now(), now(), 'nope', 'p', 'video')"
        )


def test_every_index_is_ok_after_creating_from_the_declarations(conn: Any) -> None:
    create_all(conn)
    found = states(conn)
    declared = {spec.name for model in ALL_MODELS for spec in model.index_specs()}
    assert set(found) == declared
    assert all(state == ("ok", ()) for state in found.values())


def test_missing(conn: Any) -> None:
    create_all(conn)
    conn.execute('DROP INDEX "idx_files_job_id"')
    assert states(conn)["idx_files_job_id"] == ("missing", ())


def test_drifted_column_order(conn: Any) -> None:
    create_all(conn)
    conn.execute('DROP INDEX "idx_jobs_platform"')
    conn.execute('CREATE INDEX "idx_jobs_platform" ON jobs (created_at, platform, id)')
    state, diffs = states(conn)["idx_jobs_platform"]
    assert state == "drifted"
    assert diffs == (
        "column order (created_at, platform, id), declared (platform, created_at, id)",
    )


def test_drifted_columns_direction_and_uniqueness(conn: Any) -> None:
    create_all(conn)
    conn.execute('DROP INDEX "idx_jobs_created_at"')
    conn.execute('CREATE UNIQUE INDEX "idx_jobs_created_at" ON jobs (created_at DESC, id)')
    state, diffs = states(conn)["idx_jobs_created_at"]
    assert state == "drifted"
    assert diffs == (
        "directions (created_at DESC, id), declared (created_at, id)",
        "unique=True, declared unique=False",
    )


def test_drifted_include_on_the_active_index(conn: Any) -> None:
    create_all(conn)
    conn.execute('DROP INDEX "idx_jobs_active_created"')
    conn.execute(
        'CREATE INDEX "idx_jobs_active_created" ON jobs (created_at, id) '
        "INCLUDE (progress, updated_at) WHERE status IN ('pending', 'running', 'cancelling')"
    )
    state, diffs = states(conn)["idx_jobs_active_created"]
    assert state == "drifted"
    assert diffs == ("included columns (progress, updated_at), declared ()",)


def test_an_equivalent_predicate_written_differently_is_ok(conn: Any) -> None:
    create_all(conn)
    conn.execute('DROP INDEX "idx_jobs_active_created"')
    conn.execute(
        'CREATE INDEX "idx_jobs_active_created" ON jobs (created_at, id) '
        "WHERE status = ANY (ARRAY['pending'::text, 'running'::text, 'cancelling'::text])"
    )
    assert states(conn)["idx_jobs_active_created"] == ("ok", ())


def test_drifted_predicate(conn: Any) -> None:
    create_all(conn)
    conn.execute('DROP INDEX "idx_jobs_active_created"')
    conn.execute(
        'CREATE INDEX "idx_jobs_active_created" ON jobs (created_at, id) '
        "WHERE status IN ('pending', 'running')"
    )
    state, diffs = states(conn)["idx_jobs_active_created"]
    assert state == "drifted"
    assert diffs == (
        "predicate status = ANY (ARRAY['pending'::text, 'running'::text]), declared "
        "status = ANY (ARRAY['pending'::text, 'running'::text, 'cancelling'::text])",
    )
    conn.execute('DROP INDEX "idx_jobs_active_created"')
    conn.execute('CREATE INDEX "idx_jobs_active_created" ON jobs (created_at, id)')
    assert states(conn)["idx_jobs_active_created"][1] == (
        "predicate none, declared "
        "status = ANY (ARRAY['pending'::text, 'running'::text, 'cancelling'::text])",
    )


def test_invalid_after_a_failed_unique_build_concurrently(conn: Any) -> None:
    create_all(conn)
    for job_id in ("a", "b"):
        conn.execute(
            "INSERT INTO jobs (id, created_at, updated_at, url, platform) "
            "VALUES (%s, now(), now(), 'same', 'other')",
            (job_id,),
        )
    conn.execute('DROP INDEX "idx_jobs_status"')
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute('CREATE UNIQUE INDEX CONCURRENTLY "idx_jobs_status" ON jobs (url)')
    info = PG.index_info(conn, "idx_jobs_status")
    assert info is not None and not info.valid
    assert states(conn)["idx_jobs_status"] == (
        "invalid",
        ("unusable: left by an interrupted or failed concurrent build",),
    )


def test_unmanaged(conn: Any) -> None:
    create_all(conn)
    conn.execute("CREATE INDEX jobs_by_url ON jobs (url)")
    conn.execute('CREATE INDEX "idx_files_old" ON files (file_path)')
    found = states(conn)
    assert found["jobs_by_url"] == ("unmanaged", ("not declared by any model",))
    assert found["idx_files_old"] == ("unmanaged", ("stale idx_ index, no longer declared",))
    assert "jobs_pkey" not in found
    assert sum(1 for state, _ in found.values() if state == "ok") == sum(
        len(model.index_specs()) for model in ALL_MODELS
    )
    # The predicate probe left nothing behind and no transaction open.
    assert not PG.in_transaction(conn)
    assert (
        conn.execute(
            "SELECT count(*) AS n FROM pg_catalog.pg_class "
            "WHERE relname = 'collector_predicate_probe'"
        ).fetchone()["n"]
        == 0
    )
    assert Job.get_table_name() == "jobs"


def hot_updates_of_a_progress_write(conn: Any, keep_title: str = "") -> int:
    """HOT updates among 10 progress writes, counted in their own transaction (exact);
    ``keep_title``: also set the title to itself, as the worker's progress write does."""
    for i in range(10):
        conn.execute(
            "INSERT INTO jobs (id, created_at, updated_at, url, platform, status) "
            "VALUES (%s, now(), now(), 'u', 'other', 'running')",
            (f"j{i}",),
        )
    with conn.transaction():
        conn.execute(
            "UPDATE jobs SET progress = 50, bytes_downloaded = 1000, "
            "current_operation = 'downloading', updated_at = now() + interval '1 second'"
            + keep_title
        )
        row = conn.execute(
            "SELECT pg_catalog.pg_stat_get_xact_tuples_hot_updated('jobs'::regclass) AS n"
        ).fetchone()
    return int(row["n"])


def test_progress_writes_are_hot_updates_with_the_rendered_indexes(conn: Any) -> None:
    create_all(conn)
    assert hot_updates_of_a_progress_write(conn) == 10


def test_progress_writes_stay_hot_with_the_stored_search_document(conn: Any) -> None:
    create_all(conn)
    search = PG.search_column("jobs", Job.search, Job.primary_key)
    conn.execute(search.add_sql)
    for statement in search.install_sql:
        conn.execute(statement)
    conn.execute(PG.search_index_sql("jobs", Job.search, "idx_jobs_search"))
    assert hot_updates_of_a_progress_write(conn, ", title = COALESCE(NULL, title)") == 10
    documents = conn.execute("SELECT search_document::text AS d FROM jobs").fetchall()
    assert [row["d"] for row in documents] == ["'u':1"] * 10  # the URL's word, by the trigger


def test_the_sqlite_form_of_the_covering_index_would_break_hot_updates(conn: Any) -> None:
    create_all(conn)
    conn.execute('DROP INDEX "idx_jobs_active_created"')
    sqlite_form = Job.index("idx_jobs_active_created").create_sql(if_not_exists=False)
    conn.execute(sqlite_form)
    assert hot_updates_of_a_progress_write(conn) == 0
