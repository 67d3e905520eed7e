"""The models' declarations rendered for PostgreSQL (exact SQL; no server needed)."""

from __future__ import annotations

from typing import Any, ClassVar

from collector.dialects.postgresql_ddl import (
    PgIndex,
    create_index_sql,
    create_table_sql,
    indexes_sql,
    pg_index,
    set_storage_sql,
    storage_differences,
)
from collector.models import BaseModel, Column, File, Job, Settings


class Sample(BaseModel):
    table_name = "samples"
    columns: ClassVar[dict[str, Column]] = {
        "score": Column("REAL", nullable=False, default=0),
        "payload": Column("BLOB"),
        "owner": Column("TEXT", references="jobs.id", on_delete="SET NULL"),
        "label": Column("TEXT", nullable=False, default="it's"),
    }
    indexes: ClassVar[list[dict[str, Any]]] = [
        {"columns": [("score", "DESC"), "id"], "unique": True, "name": "idx_samples_score"},
        {"columns": ["label"], "where": {"owner": "x", "score": [1, 2]}},
    ]


def test_jobs_table_and_indexes() -> None:
    assert create_table_sql(Job) == (
        'CREATE TABLE IF NOT EXISTS "jobs" (\n'
        '    "id" text PRIMARY KEY,\n'
        '    "created_at" timestamptz NOT NULL,\n'
        '    "updated_at" timestamptz NOT NULL,\n'
        '    "url" text NOT NULL,\n'
        '    "platform" text NOT NULL,\n'
        "    \"status\" text NOT NULL DEFAULT 'pending',\n"
        '    "title" text,\n'
        '    "progress" bigint NOT NULL DEFAULT 0,\n'
        '    "current_operation" text,\n'
        '    "error_message" text,\n'
        '    "retry_count" bigint NOT NULL DEFAULT 0,\n'
        '    "bytes_downloaded" bigint NOT NULL DEFAULT 0,\n'
        '    "completed_at" timestamptz,\n'
        '    "worker_id" text,\n'
        '    "lease_expires_at" timestamptz,\n'
        '    "next_attempt_at" timestamptz,\n'
        '    "format" text,\n'
        '    "uploader" text,\n'
        '    "duration" bigint,\n'
        '    "upload_date" text,\n'
        '    "extractor" text,\n'
        '    "extractor_id" text,\n'
        '    "identity" text,\n'
        '    "entries" bigint,\n'
        '    "parent_id" text,\n'
        '    "subscription_id" text,\n'
        '    "removed_at" timestamptz\n'
        ") WITH (fillfactor=85, autovacuum_vacuum_scale_factor=0.05, "
        "autovacuum_analyze_scale_factor=0.02)"
    )
    assert indexes_sql(Job) == [
        'CREATE INDEX "idx_jobs_status" ON "jobs" ("status")',
        'CREATE INDEX "idx_jobs_platform" ON "jobs" ("platform", "created_at", "id")',
        'CREATE INDEX "idx_jobs_created_at" ON "jobs" ("created_at", "id")',
        'CREATE INDEX "idx_jobs_status_created" ON "jobs" ("status", "created_at", "id")',
        # The covering index keeps its key only: no progress column, no INCLUDE (HOT).
        'CREATE INDEX "idx_jobs_active_created" ON "jobs" ("created_at", "id") '
        "WHERE \"status\" IN ('pending', 'running', 'cancelling')",
        'CREATE INDEX "idx_jobs_url_queued" ON "jobs" ("url") '
        "WHERE \"status\" IN ('pending', 'running')",
        'CREATE UNIQUE INDEX "idx_jobs_identity_queued" ON "jobs" ("identity") '
        "WHERE \"status\" IN ('pending', 'running')",
        'CREATE INDEX "idx_jobs_identity" ON "jobs" ("identity") WHERE "identity" IS NOT NULL',
        'CREATE INDEX "idx_jobs_parent" ON "jobs" ("parent_id", "created_at", "id", "status") '
        'WHERE "parent_id" IS NOT NULL',
        'CREATE INDEX "idx_jobs_subscription" ON "jobs" '
        '("subscription_id", "created_at", "id", "status") WHERE "subscription_id" IS NOT NULL',
    ]


def test_files_table_has_its_foreign_key_and_settings_its_own_primary_key() -> None:
    assert create_table_sql(File) == (
        'CREATE TABLE IF NOT EXISTS "files" (\n'
        '    "id" text PRIMARY KEY,\n'
        '    "created_at" timestamptz NOT NULL,\n'
        '    "updated_at" timestamptz NOT NULL,\n'
        '    "job_id" text NOT NULL REFERENCES "jobs" ("id") ON DELETE CASCADE,\n'
        '    "file_path" text NOT NULL,\n'
        '    "file_type" text NOT NULL,\n'
        '    "file_size" bigint NOT NULL DEFAULT 0,\n'
        '    "host" text\n'
        ")"
    )
    assert indexes_sql(File)[0] == (
        'CREATE INDEX "idx_files_job_id" ON "files" ("job_id", "created_at")'
    )
    assert create_table_sql(Settings) == (
        'CREATE TABLE IF NOT EXISTS "settings" (\n'
        '    "key" text PRIMARY KEY,\n'
        '    "created_at" timestamptz NOT NULL,\n'
        '    "updated_at" timestamptz NOT NULL,\n'
        '    "value" text\n'
        ")"
    )
    assert indexes_sql(Settings) == []


def test_other_types_directions_uniqueness_and_predicates() -> None:
    assert create_table_sql(Sample) == (
        'CREATE TABLE IF NOT EXISTS "samples" (\n'
        '    "id" text PRIMARY KEY,\n'
        '    "created_at" timestamptz NOT NULL,\n'
        '    "updated_at" timestamptz NOT NULL,\n'
        '    "score" double precision NOT NULL DEFAULT 0,\n'
        '    "payload" bytea,\n'
        '    "owner" text REFERENCES "jobs" ("id") ON DELETE SET NULL,\n'
        "    \"label\" text NOT NULL DEFAULT 'it''s'\n"
        ")"
    )
    assert indexes_sql(Sample) == [
        'CREATE UNIQUE INDEX "idx_samples_score" ON "samples" ("score" DESC, "id")',
        'CREATE INDEX "idx_samples_label" ON "samples" ("label") '
        'WHERE "owner" = \'x\' AND "score" IN (1, 2)',
    ]


def test_the_sqlite_declarations_are_untouched() -> None:
    spec = Job.index("idx_jobs_active_created")
    assert len(spec.columns) == len(Job.field_names()) == 27
    assert pg_index(Job, spec).keys == (("created_at", False), ("id", False))
    assert Job.get_indexes_sql()[4].startswith(
        'CREATE INDEX IF NOT EXISTS "idx_jobs_active_created" ON "jobs" '
        '("created_at", "id", "updated_at", "url",'
    )


def test_create_index_concurrently_under_another_name_with_include() -> None:
    index = PgIndex(
        name="idx_jobs_x",
        table="jobs",
        keys=(("created_at", False), ("id", True)),
        include=("title", "url"),
        unique=True,
        where="\"status\" = 'pending'",
    )
    assert create_index_sql(index, concurrently=True, name="idx_jobs_x_new") == (
        'CREATE UNIQUE INDEX CONCURRENTLY "idx_jobs_x_new" ON "jobs" ("created_at", "id" DESC) '
        'INCLUDE ("title", "url") WHERE "status" = \'pending\''
    )
    assert create_index_sql(index._replace(method="gin", include=(), where=None)) == (
        'CREATE UNIQUE INDEX "idx_jobs_x" ON "jobs" USING gin ("created_at", "id" DESC)'
    )


def test_storage_settings_render_and_compare() -> None:
    assert set_storage_sql(Job) == (
        'ALTER TABLE "jobs" SET (fillfactor=85, autovacuum_vacuum_scale_factor=0.05, '
        "autovacuum_analyze_scale_factor=0.02)"
    )
    assert set_storage_sql(File) is None
    same = ["autovacuum_analyze_scale_factor=0.020", "fillfactor=85", "toast_tuple_target=128"]
    same.append("autovacuum_vacuum_scale_factor=0.05")
    assert storage_differences(Job, same) == []
    assert storage_differences(Job, ["fillfactor=100"]) == [
        "fillfactor 100, declared 85",
        "autovacuum_vacuum_scale_factor default, declared 0.05",
        "autovacuum_analyze_scale_factor default, declared 0.02",
    ]
    assert storage_differences(File, None) == []
