"""collector.models: declarations, the SQL derived from them, and model instances."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from collector.models import (
    ACTIVE_STATUSES,
    ALL_MODELS,
    BaseModel,
    Column,
    File,
    IndexSpec,
    Job,
    ModelDefinitionError,
    Settings,
    Subscription,
    values,
)
from collector.models import base as base_module
from collector.models.fields import generate_index_name
from collector.schema.reconcile import check_models
from tests.expected import JOB_FIELDS, JOB_INDEXES, SUBSCRIPTION_INDEXES

FILE_INDEXES = (
    "idx_files_job_id",
    "idx_files_file_type",
    "idx_files_created_at",
    "idx_files_job_id_type",
)
STORED = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")


def all_sql() -> list[str]:
    sql = []
    for model in ALL_MODELS:
        sql.append(model.get_create_table_sql())
        sql.extend(model.get_indexes_sql())
        sql.extend(spec.create_sql(if_not_exists=False) for spec in model.index_specs())
    return sql


# -- declarations ------------------------------------------------------------------


class TestDeclarations:
    def test_job_index_names(self) -> None:
        assert tuple(spec.name for spec in Job.index_specs()) == JOB_INDEXES

    def test_file_index_names(self) -> None:
        assert tuple(spec.name for spec in File.index_specs()) == FILE_INDEXES

    def test_subscription_index_names(self) -> None:
        assert tuple(spec.name for spec in Subscription.index_specs()) == SUBSCRIPTION_INDEXES
        due = Subscription.index("idx_subscriptions_due")
        assert due.where_sql() == '"paused" = 0'
        assert Subscription.index("idx_subscriptions_identity").unique

    def test_settings_declares_no_index(self) -> None:
        assert Settings.index_specs() == ()
        assert Settings.get_indexes_sql() == []

    def test_table_names(self) -> None:
        assert [m.get_table_name() for m in ALL_MODELS] == [
            "jobs",
            "files",
            "settings",
            "subscriptions",
        ]

    def test_job_indexes_sql(self) -> None:
        assert Job.get_indexes_sql() == [
            'CREATE INDEX IF NOT EXISTS "idx_jobs_status" ON "jobs" ("status")',
            'CREATE INDEX IF NOT EXISTS "idx_jobs_platform" ON "jobs" '
            '("platform", "created_at", "id")',
            'CREATE INDEX IF NOT EXISTS "idx_jobs_created_at" ON "jobs" ("created_at", "id")',
            'CREATE INDEX IF NOT EXISTS "idx_jobs_status_created" ON "jobs" '
            '("status", "created_at", "id")',
            'CREATE INDEX IF NOT EXISTS "idx_jobs_active_created" ON "jobs" '
            '("created_at", "id", "updated_at", "url", "platform", "status", "title", '
            '"progress", "current_operation", "error_message", "retry_count", '
            '"bytes_downloaded", "completed_at", "worker_id", "lease_expires_at", '
            '"next_attempt_at", "format", "uploader", "duration", "upload_date", '
            '"extractor", "extractor_id", "identity", "entries", "parent_id", '
            '"subscription_id", "removed_at") '
            "WHERE \"status\" IN ('pending', 'running', 'cancelling')",
            'CREATE INDEX IF NOT EXISTS "idx_jobs_url_queued" ON "jobs" ("url") '
            "WHERE \"status\" IN ('pending', 'running')",
            'CREATE UNIQUE INDEX IF NOT EXISTS "idx_jobs_identity_queued" ON "jobs" '
            "(\"identity\") WHERE \"status\" IN ('pending', 'running')",
            'CREATE INDEX IF NOT EXISTS "idx_jobs_identity" ON "jobs" ("identity") '
            'WHERE "identity" IS NOT NULL',
            'CREATE INDEX IF NOT EXISTS "idx_jobs_parent" ON "jobs" '
            '("parent_id", "created_at", "id", "status") WHERE "parent_id" IS NOT NULL',
            'CREATE INDEX IF NOT EXISTS "idx_jobs_subscription" ON "jobs" '
            '("subscription_id", "created_at", "id", "status") '
            'WHERE "subscription_id" IS NOT NULL',
        ]

    def test_file_indexes_sql(self) -> None:
        assert File.get_indexes_sql() == [
            'CREATE INDEX IF NOT EXISTS "idx_files_job_id" ON "files" ("job_id", "created_at")',
            'CREATE INDEX IF NOT EXISTS "idx_files_file_type" ON "files" '
            '("file_type", "created_at", "id")',
            'CREATE INDEX IF NOT EXISTS "idx_files_created_at" ON "files" ("created_at", "id")',
            'CREATE INDEX IF NOT EXISTS "idx_files_job_id_type" ON "files" '
            '("job_id", "file_type", "created_at")',
        ]

    def test_create_sql_without_if_not_exists(self) -> None:
        assert Job.index("idx_jobs_status").create_sql(if_not_exists=False) == (
            'CREATE INDEX "idx_jobs_status" ON "jobs" ("status")'
        )

    def test_partial_index_spec(self) -> None:
        spec = Job.index("idx_jobs_active_created")
        # Covering: the keyset order first, then every other column of jobs.
        assert spec.column_names[:2] == ("created_at", "id")
        assert sorted(spec.column_names) == sorted(JOB_FIELDS)
        assert all(direction is None for _, direction in spec.columns)
        assert spec.where == (("status", ACTIVE_STATUSES),)
        assert spec.where_sql() == "\"status\" IN ('pending', 'running', 'cancelling')"
        assert not spec.unique

    def test_unique_and_single_value_where(self) -> None:
        spec = IndexSpec(
            name="idx_t_a",
            table="t",
            columns=(("a", None), ("b", "ASC")),
            unique=True,
            where=(("s", ("x",)), ("n", (1, 2))),
        )
        assert spec.create_sql() == (
            'CREATE UNIQUE INDEX IF NOT EXISTS "idx_t_a" ON "t" ("a", "b" ASC) '
            'WHERE "s" = \'x\' AND "n" IN (1, 2)'
        )
        assert IndexSpec("idx_t_a", "t", (("a", None),)).where_sql() is None

    def test_job_create_table_sql(self) -> None:
        assert Job.get_create_table_sql() == (
            'CREATE TABLE IF NOT EXISTS "jobs" (\n'
            '    "id" TEXT PRIMARY KEY,\n'
            '    "created_at" TIMESTAMP NOT NULL,\n'
            '    "updated_at" TIMESTAMP NOT NULL,\n'
            '    "url" TEXT NOT NULL,\n'
            '    "platform" TEXT NOT NULL,\n'
            "    \"status\" TEXT NOT NULL DEFAULT 'pending',\n"
            '    "title" TEXT,\n'
            '    "progress" INTEGER NOT NULL DEFAULT 0,\n'
            '    "current_operation" TEXT,\n'
            '    "error_message" TEXT,\n'
            '    "retry_count" INTEGER NOT NULL DEFAULT 0,\n'
            '    "bytes_downloaded" INTEGER NOT NULL DEFAULT 0,\n'
            '    "completed_at" TIMESTAMP,\n'
            '    "worker_id" TEXT,\n'
            '    "lease_expires_at" TIMESTAMP,\n'
            '    "next_attempt_at" TIMESTAMP,\n'
            '    "format" TEXT,\n'
            '    "uploader" TEXT,\n'
            '    "duration" INTEGER,\n'
            '    "upload_date" TEXT,\n'
            '    "extractor" TEXT,\n'
            '    "extractor_id" TEXT,\n'
            '    "identity" TEXT,\n'
            '    "entries" INTEGER,\n'
            '    "parent_id" TEXT,\n'
            '    "subscription_id" TEXT,\n'
            '    "removed_at" TIMESTAMP\n'
            ")"
        )

    def test_file_create_table_sql_has_foreign_key(self) -> None:
        sql = File.get_create_table_sql()
        assert sql.startswith('CREATE TABLE IF NOT EXISTS "files" (\n    "id" TEXT PRIMARY KEY,')
        assert '    "job_id" TEXT NOT NULL REFERENCES "jobs" ("id") ON DELETE CASCADE,\n' in sql
        assert '    "file_size" INTEGER NOT NULL DEFAULT 0,\n    "host" TEXT\n)' in sql

    def test_settings_create_table_sql(self) -> None:
        assert Settings.get_create_table_sql() == (
            'CREATE TABLE IF NOT EXISTS "settings" (\n'
            '    "key" TEXT PRIMARY KEY,\n'
            '    "created_at" TIMESTAMP NOT NULL,\n'
            '    "updated_at" TIMESTAMP NOT NULL,\n'
            '    "value" TEXT\n'
            ")"
        )

    def test_no_double_space_in_any_statement(self) -> None:
        for sql in all_sql():
            assert "CREATE  INDEX" not in sql
            assert "  " not in sql.replace("\n    ", "\n")

    def test_all_sql_is_accepted_by_sqlite(self) -> None:
        conn = sqlite3.connect(":memory:")
        try:
            for model in ALL_MODELS:
                conn.execute(model.get_create_table_sql())
                for sql in model.get_indexes_sql():
                    conn.execute(sql)
                    conn.execute(sql)  # IF NOT EXISTS: repeatable
            names = {
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                )
            }
        finally:
            conn.close()
        assert names == set(JOB_INDEXES) | set(FILE_INDEXES) | set(SUBSCRIPTION_INDEXES)

    def test_field_names_and_lookup(self) -> None:
        assert Job.field_names() == JOB_FIELDS
        assert Settings.field_names() == ("key", "created_at", "updated_at", "value")
        assert Job.field("status") == Column("TEXT", nullable=False, default="pending")
        assert Job.field("id").primary_key

    def test_unknown_index_lookup(self) -> None:
        with pytest.raises(KeyError, match="Job declares no index 'idx_nope'"):
            Job.index("idx_nope")

    def test_shipped_models_pass_check_models(self) -> None:
        assert check_models(ALL_MODELS) is None

    def test_default_table_name_from_class_name(self) -> None:
        class Widget(BaseModel):
            columns: ClassVar[dict[str, Column]] = {"name": Column()}

        assert Widget.get_table_name() == "widgets"
        assert Widget.index_specs() == ()


# -- bad declarations --------------------------------------------------------------


STATUS_COLUMNS: dict[str, Column] = {
    "name": Column("TEXT", nullable=False),
    "status": Column("TEXT", default="new"),
    "size": Column("INTEGER"),
}


class TestBadIndexDeclarations:
    @pytest.mark.parametrize(
        ("decl", "fault"),
        [
            ({"columns": ["nope"]}, "unknown column 'nope'; valid: id, created_at, updated_at"),
            ({"columns": [("status", "UP")]}, "bad direction 'status' 'UP'; valid: ASC, DESC"),
            ({"columns": [("status",)]}, "must be a name or (name, 'ASC'|'DESC')"),
            ({"columns": [("status", "DESC", "x")]}, "must be a name or (name, 'ASC'|'DESC')"),
            ({"columns": [("status", 1)]}, "must be a name or (name, 'ASC'|'DESC')"),
            ({"columns": ["status"], "name": "idx x; DROP"}, "bad name 'idx x; DROP'"),
            ({"columns": ["status"], "name": "idx-x"}, "bad name 'idx-x'"),
            ({"columns": ["status"], "name": 7}, "bad name 7"),
            ({"columns": ["status"], "name": "widgets_status"}, "must start with 'idx_'"),
            ({"columns": ["status"], "name": "idx_" + "a" * 61}, "at most 64 characters"),
            ({"columns": ["status"], "uniq": True}, "unknown keys ['uniq']"),
            ({"columns": ["status"], "unique": "yes"}, "'unique' must be True or False"),
            ({"columns": []}, "'columns' must be a non-empty list"),
            ({"name": "idx_widgets_x"}, "'columns' must be a non-empty list"),
            ({"columns": "status"}, "'columns' must be a non-empty list"),
            ({"columns": ["status", ("status", "DESC")]}, "a column appears twice"),
            ({"columns": ["status", "status"]}, "a column appears twice"),
            ({"columns": ["name"], "where": {"nope": "x"}}, "unknown column 'nope' in 'where'"),
            ({"columns": ["name"], "where": {"status": 1.5}}, "must be str or int constants"),
            ({"columns": ["name"], "where": {"status": None}}, "must be str or int constants"),
            ({"columns": ["name"], "where": {"status": True}}, "must be str or int constants"),
            ({"columns": ["name"], "where": {"status": object()}}, "must be str or int"),
            ({"columns": ["name"], "where": {"status": ["a", len]}}, "must be str or int"),
            ({"columns": ["name"], "where": {"status": []}}, "must be str or int constants"),
            ({"columns": ["name"], "where": {}}, "'where' must be a dict"),
            ({"columns": ["name"], "where": "status = 'x'"}, "'where' must be a dict"),
            ("idx_widgets_status", "an index is a dict"),
        ],
    )
    def test_fails_at_class_definition(self, decl: Any, fault: str) -> None:
        with pytest.raises(ModelDefinitionError) as info:

            class BadIndexWidget(BaseModel):
                table_name = "bad_index_widgets"
                columns: ClassVar[dict[str, Column]] = STATUS_COLUMNS
                indexes: ClassVar[list[Any]] = [decl]

        message = str(info.value)
        assert message.startswith("BadIndexWidget: ")
        assert fault in message

    def test_unknown_column_message_lists_every_valid_column(self) -> None:
        with pytest.raises(ModelDefinitionError) as info:

            class UnknownColumnWidget(BaseModel):
                table_name = "unknown_column_widgets"
                columns: ClassVar[dict[str, Column]] = STATUS_COLUMNS
                indexes: ClassVar[list[Any]] = [{"columns": ["colour"]}]

        assert "UnknownColumnWidget" in str(info.value)
        assert str(info.value).endswith(
            "unknown column 'colour'; valid: id, created_at, updated_at, name, status, size"
        )

    def test_duplicate_name_within_a_model(self) -> None:
        with pytest.raises(ModelDefinitionError) as info:

            class DuplicateWidget(BaseModel):
                table_name = "duplicate_widgets"
                columns: ClassVar[dict[str, Column]] = STATUS_COLUMNS
                indexes: ClassVar[list[Any]] = [
                    {"columns": ["status"], "name": "idx_duplicate_widgets_x"},
                    {"columns": ["size"], "name": "idx_duplicate_widgets_x"},
                ]

        assert str(info.value) == (
            "DuplicateWidget: duplicate index name 'idx_duplicate_widgets_x'"
        )

    def test_duplicate_generated_name_within_a_model(self) -> None:
        with pytest.raises(ModelDefinitionError, match="GeneratedDuplicateWidget: duplicate"):

            class GeneratedDuplicateWidget(BaseModel):
                table_name = "generated_duplicate_widgets"
                columns: ClassVar[dict[str, Column]] = STATUS_COLUMNS
                indexes: ClassVar[list[Any]] = [
                    {"columns": ["status"]},
                    {"columns": [("status", "DESC")]},
                ]

    def test_unhashable_column_entry_is_a_definition_error(self) -> None:
        # A malformed entry must give ModelDefinitionError, not a bare TypeError.
        with pytest.raises(ModelDefinitionError, match="UnhashableWidget"):

            class UnhashableWidget(BaseModel):
                table_name = "unhashable_widgets"
                columns: ClassVar[dict[str, Column]] = STATUS_COLUMNS
                indexes: ClassVar[list[Any]] = [{"columns": [{"status": "DESC"}]}]

    def test_good_edge_cases_are_accepted(self) -> None:
        class EdgeWidget(BaseModel):
            table_name = "edge_widgets"
            columns: ClassVar[dict[str, Column]] = STATUS_COLUMNS
            indexes: ClassVar[list[Any]] = [
                {"columns": [("status", "desc")], "name": "idx_" + "e" * 60},
                {"columns": [["size", "ASC"]], "unique": True, "where": {"status": "new"}},
                {"columns": ["name"], "where": {"size": [1, 2]}},
            ]

        first, second, third = EdgeWidget.index_specs()
        assert len(first.name) == 64
        assert first.columns == (("status", "DESC"),)
        assert second.name == "idx_edge_widgets_size"
        assert second.create_sql() == (
            'CREATE UNIQUE INDEX IF NOT EXISTS "idx_edge_widgets_size" ON "edge_widgets" '
            '("size" ASC) WHERE "status" = \'new\''
        )
        assert third.where == (("size", (1, 2)),)


class TestBadColumnDeclarations:
    def test_bad_column_type(self) -> None:
        with pytest.raises(ModelDefinitionError) as info:

            class BadTypeGadget(BaseModel):
                table_name = "bad_type_gadgets"
                columns: ClassVar[dict[str, Column]] = {"size": Column("VARCHAR")}

        assert str(info.value).startswith("BadTypeGadget: column 'size': type 'VARCHAR'")
        assert "TIMESTAMP" in str(info.value)

    def test_column_that_is_not_a_column(self) -> None:
        with pytest.raises(ModelDefinitionError, match="NotColumnGadget: column 'size'"):

            class NotColumnGadget(BaseModel):
                table_name = "not_column_gadgets"
                columns: ClassVar[dict[str, Any]] = {"size": "INTEGER"}

    @pytest.mark.parametrize("name", ["bad name", "size; DROP TABLE jobs", "1st"])
    def test_bad_column_name(self, name: str) -> None:
        with pytest.raises(ModelDefinitionError, match="BadNameGadget: bad column name"):

            class BadNameGadget(BaseModel):
                table_name = "bad_name_gadgets"
                columns: ClassVar[dict[str, Column]] = {name: Column()}

    def test_column_declared_twice(self) -> None:
        with pytest.raises(ModelDefinitionError, match="TwiceGadget: column 'created_at'"):

            class TwiceGadget(BaseModel):
                table_name = "twice_gadgets"
                columns: ClassVar[dict[str, Column]] = {"created_at": Column("TIMESTAMP")}

    def test_primary_key_must_be_declared(self) -> None:
        with pytest.raises(ModelDefinitionError, match="NoKeyGadget: primary key 'code'"):

            class NoKeyGadget(BaseModel):
                table_name = "no_key_gadgets"
                primary_key = "code"
                columns: ClassVar[dict[str, Column]] = {"code": Column("TEXT")}

    def test_custom_primary_key_column_type_is_checked(self) -> None:
        # Only the non-key columns are checked today; the key column's type goes into
        # the DDL unvalidated (Column.ddl writes self.type as is).
        with pytest.raises(ModelDefinitionError, match="KeyTypeGadget"):

            class KeyTypeGadget(BaseModel):
                table_name = "key_type_gadgets"
                primary_key = "code"
                columns: ClassVar[dict[str, Column]] = {
                    "code": Column("TEXT); DROP TABLE jobs; --", primary_key=True)
                }

    @pytest.mark.parametrize(
        "column",
        [
            Column("REAL", default=1.5),  # type: ignore[arg-type]
            Column("TEXT", references="jobs"),
            Column("TEXT", references="jobs.id; DROP"),
            Column("TEXT", references="jobs.id", on_delete="CASCADE; DROP TABLE jobs"),
        ],
        ids=["float-default", "references-no-column", "references-hostile", "on-delete-hostile"],
    )
    def test_column_options_are_checked_at_class_definition(self, column: Column) -> None:
        # "checked when the class is defined, so a bad declaration never reaches a
        # database" (BaseModel docstring): default, references and on_delete included.
        with pytest.raises(ModelDefinitionError, match="OptionGadget"):

            class OptionGadget(BaseModel):
                table_name = "option_gadgets"
                columns: ClassVar[dict[str, Column]] = {"ref": column}

    @pytest.mark.parametrize("table", ["bad table", "t; DROP TABLE jobs", "1t", 'g"', "jobs\n"])
    def test_bad_table_name(self, table: str) -> None:
        with pytest.raises(ModelDefinitionError) as info:

            class BadTableGadget(BaseModel):
                table_name = table

        assert str(info.value) == f"BadTableGadget: bad table name {table!r}"


class TestCheckModels:
    def test_same_index_name_in_two_models(self) -> None:
        class LeftThing(BaseModel):
            table_name = "left_things"
            columns: ClassVar[dict[str, Column]] = {"a": Column()}
            indexes: ClassVar[list[Any]] = [{"columns": ["a"], "name": "idx_shared_thing"}]

        class RightThing(BaseModel):
            table_name = "right_things"
            columns: ClassVar[dict[str, Column]] = {"b": Column()}
            indexes: ClassVar[list[Any]] = [{"columns": ["b"], "name": "idx_shared_thing"}]

        with pytest.raises(ModelDefinitionError) as info:
            check_models([LeftThing, RightThing])
        assert str(info.value) == (
            "index name 'idx_shared_thing' is declared by both LeftThing and RightThing"
        )
        assert check_models([LeftThing]) is None
        assert check_models([RightThing, Job]) is None

    def test_clash_with_a_shipped_model(self) -> None:
        class ClashThing(BaseModel):
            table_name = "clash_things"
            columns: ClassVar[dict[str, Column]] = {"status": Column()}
            indexes: ClassVar[list[Any]] = [{"columns": ["status"], "name": "idx_jobs_status"}]

        with pytest.raises(ModelDefinitionError, match="both Job and ClashThing"):
            check_models([*ALL_MODELS, ClashThing])


# -- generated index names ---------------------------------------------------------


class TestGeneratedIndexNames:
    def test_from_columns_ignoring_direction(self) -> None:
        assert Job._generate_index_name(["status", ("created_at", "DESC")]) == (
            "idx_jobs_status_created_at"
        )
        assert File._generate_index_name(["job_id"]) == "idx_files_job_id"

    def test_exactly_64_is_kept(self) -> None:
        name = generate_index_name("t", ["c" * 58])
        assert len(name) == 64
        assert name == "idx_t_" + "c" * 58

    def test_long_names_are_shortened_with_a_hash(self) -> None:
        long_cols = ["a" * 40, ("b" * 40, "DESC")]
        name = generate_index_name("jobs", long_cols)
        full = "idx_jobs_" + "a" * 40 + "_" + "b" * 40
        assert len(name) == 64
        assert name.startswith(full[:55] + "_")
        assert re.fullmatch(r"[0-9a-f]{8}", name[-8:])
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        assert generate_index_name("jobs", long_cols) == name  # deterministic

    def test_long_names_stay_distinct(self) -> None:
        names = {generate_index_name("jobs", ["a" * 60, suffix]) for suffix in "xyz"}
        names.add(generate_index_name("jobs", ["a" * 61]))
        assert len(names) == 4
        assert all(len(n) == 64 for n in names)
        assert len({n[:55] for n in names}) == 1  # only the hash tells them apart

    def test_long_generated_name_is_accepted_by_a_model(self) -> None:
        long_column = "a_rather_long_column_name_for_testing_name_shortening"

        class LongNameRecord(BaseModel):
            table_name = "long_name_records"
            columns: ClassVar[dict[str, Column]] = {long_column: Column()}
            indexes: ClassVar[list[Any]] = [{"columns": [long_column, "created_at"]}]

        (spec,) = LongNameRecord.index_specs()
        assert spec.name == LongNameRecord._generate_index_name([long_column, "created_at"])
        assert len(spec.name) == 64


# -- instances ---------------------------------------------------------------------


def fixed_clock(monkeypatch: pytest.MonkeyPatch, millis: int) -> None:
    monkeypatch.setattr(values, "time", SimpleNamespace(time_ns=lambda: millis * 1_000_000))


class TestIds:
    def test_version_7_layout(self) -> None:
        for _ in range(20):
            value = uuid.UUID(Job(url="u", platform="other").id)
            assert value.version == 7
            assert str(value)[14] == "7"
            assert value.variant == uuid.RFC_4122

    def test_first_48_bits_are_the_time_in_milliseconds(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fixed_clock(monkeypatch, 1_739_786_400_123)
        assert uuid.UUID(values.new_id()).int >> 80 == 1_739_786_400_123

    def test_later_ids_sort_after_earlier_ones(self, monkeypatch: pytest.MonkeyPatch) -> None:
        ids = []
        for millis in (1_739_786_400_000, 1_739_786_400_001, 1_739_786_400_002, 1_800_000_000_000):
            fixed_clock(monkeypatch, millis)
            ids.extend(Job(url="u", platform="other").id for _ in range(3))
        batches = [ids[i : i + 3] for i in range(0, len(ids), 3)]
        for earlier, later in pairwise(batches):
            assert max(earlier) < min(later)

    def test_ids_are_unique(self) -> None:
        assert len({values.new_id() for _ in range(1000)}) == 1000


class TestInstances:
    def test_defaults(self) -> None:
        job = Job(url="https://example.com/v", platform="youtube")
        assert job.status == "pending"
        assert job.progress == 0
        assert job.retry_count == 0
        assert job.bytes_downloaded == 0
        assert job.title is None
        assert job.completed_at is None
        assert job.is_active
        assert job.created_at == job.updated_at
        assert job.created_at.tzinfo is not None
        assert job.created_at.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - job.created_at) < timedelta(days=1)

    def test_settings_has_no_generated_id(self) -> None:
        setting = Settings(key="theme", value="dark")
        assert not hasattr(setting, "id")
        assert setting.key == "theme"
        assert setting.created_at.utcoffset() == timedelta(0)

    def test_unknown_kwargs(self) -> None:
        with pytest.raises(TypeError) as info:
            Job(url="u", platform="other", colour="red", size=1)
        message = str(info.value)
        assert message.startswith("Job: unknown fields ['colour', 'size']")
        assert "valid: " + ", ".join(JOB_FIELDS) in message

    def test_to_dict_is_json_friendly(self) -> None:
        job = Job(url="u", platform="tiktok", completed_at=datetime(2025, 2, 17, 10, tzinfo=UTC))
        data = job.to_dict()
        assert tuple(data) == JOB_FIELDS
        assert data["completed_at"] == "2025-02-17T10:00:00+00:00"
        assert data["created_at"] == job.created_at.isoformat()
        assert json.loads(json.dumps(data)) == data

    def test_from_dict_ignores_unknown_keys_and_parses_legacy_text(self) -> None:
        job = Job.from_dict(
            {
                "id": "abc",
                "url": "u",
                "platform": "other",
                "status": "completed",
                "created_at": "2025-02-17 10:00:00.123456",
                "updated_at": "2025-02-17 10:00:00",
                "completed_at": None,
                "file_count": 3,
                "unknown": object(),
            }
        )
        assert job.id == "abc"
        assert job.status == "completed"
        assert job.created_at == datetime(2025, 2, 17, 10, 0, 0, 123456, tzinfo=UTC)
        assert job.updated_at == datetime(2025, 2, 17, 10, 0, 0, tzinfo=UTC)
        assert job.created_at.utcoffset() == timedelta(0)
        assert job.updated_at.utcoffset() == timedelta(0)
        assert job.completed_at is None
        assert not hasattr(job, "file_count")

    def test_from_dict_accepts_sqlite_rows(self) -> None:
        conn = sqlite3.connect(":memory:")
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute(
                "SELECT 'theme' AS key, 'dark' AS value, 1 AS extra, "
                "'2025-02-17 10:00:00' AS created_at, "
                "'2025-02-17 10:00:01.5' AS updated_at"
            ).fetchone()
        finally:
            conn.close()
        setting = Settings.from_dict(row)
        assert (setting.key, setting.value) == ("theme", "dark")
        assert setting.created_at == datetime(2025, 2, 17, 10, tzinfo=UTC)
        assert setting.updated_at == datetime(2025, 2, 17, 10, 0, 1, 500000, tzinfo=UTC)

    def test_from_rows_matches_from_dict(self) -> None:
        names = ("extra", *JOB_FIELDS)
        rows = [
            ("x", *Job(url="a", platform="youtube", title="A").to_row()),
            ("y", *Job(url="b", platform="other", completed_at=datetime.now(UTC)).to_row()),
        ]
        built = Job.from_rows(rows, names)
        assert [type(job) for job in built] == [Job, Job]
        for job, row in zip(built, rows, strict=True):
            expected = Job.from_dict(dict(zip(names, row, strict=True)))
            assert job.to_dict() == expected.to_dict()
            assert job == expected
            assert job.created_at.utcoffset() == timedelta(0)
            assert not hasattr(job, "extra")
        assert built[0].completed_at is None
        assert built[1].completed_at.utcoffset() == timedelta(0)

    def test_from_rows_parses_legacy_text_and_defaults_missing_columns(self) -> None:
        names = ("id", "url", "platform", "created_at", "updated_at", "future_column")
        rows = [("j1", "u", "tiktok", "2025-02-17 10:00:00", "2025-02-17 10:00:00.25", 9)]
        (job,) = Job.from_rows(rows, names)
        assert job.id == "j1"
        assert job.created_at == datetime(2025, 2, 17, 10, tzinfo=UTC)
        assert job.updated_at == datetime(2025, 2, 17, 10, 0, 0, 250000, tzinfo=UTC)
        assert (job.status, job.progress, job.title, job.completed_at) == ("pending", 0, None, None)
        assert not hasattr(job, "future_column")
        assert rows[0][3] == "2025-02-17 10:00:00"  # the input row is not modified
        assert Job.from_rows([], names) == []

    def test_aware_input_is_converted_to_utc(self) -> None:
        plus_two = timezone(timedelta(hours=2))
        job = Job(url="u", platform="other", created_at=datetime(2025, 2, 17, 12, tzinfo=plus_two))
        assert job.created_at == datetime(2025, 2, 17, 10, tzinfo=UTC)
        assert job.created_at.utcoffset() == timedelta(0)
        assert job.to_row()[1] == "2025-02-17 10:00:00.000000"

    def test_to_row_stores_timestamps_with_fraction(self) -> None:
        job = Job(
            id="j1",
            url="u",
            platform="instagram",
            created_at=datetime(2025, 2, 17, 10, tzinfo=UTC),
            updated_at="2025-02-17 10:00:00.5",
            completed_at="2025-02-17 10:00:00",
        )
        row = job.to_row()
        assert len(row) == len(JOB_FIELDS)
        assert row[:3] == ("j1", "2025-02-17 10:00:00.000000", "2025-02-17 10:00:00.500000")
        assert row[3:6] == ("u", "instagram", "pending")
        completed = JOB_FIELDS.index("completed_at")
        assert row[completed] == "2025-02-17 10:00:00.000000"
        assert all(STORED.match(row[i]) for i in (1, 2, completed))
        assert STORED.match(Job(url="u", platform="other").to_row()[1])

    def test_to_row_round_trips_through_from_dict(self) -> None:
        job = Job(url="u", platform="other", title="T", completed_at=datetime.now(UTC))
        again = Job.from_dict(dict(zip(Job.field_names(), job.to_row(), strict=True)))
        assert again.to_dict() == job.to_dict()

    def test_update_timestamp(self, monkeypatch: pytest.MonkeyPatch) -> None:
        job = Job(url="u", platform="other", created_at="2025-02-17 10:00:00")
        later = datetime(2030, 1, 1, tzinfo=UTC)
        monkeypatch.setattr(base_module, "utcnow", lambda: later)
        job.update_timestamp()
        assert job.updated_at == later
        assert job.created_at == datetime(2025, 2, 17, 10, tzinfo=UTC)

    def test_is_active(self) -> None:
        assert Job(url="u", platform="other", status="running").is_active
        assert not Job(url="u", platform="other", status="completed").is_active


class TestIdentity:
    def test_equality_by_primary_key(self) -> None:
        a = Job(id="same", url="a", platform="youtube")
        b = Job(id="same", url="b", platform="tiktok", status="failed")
        c = Job(id="other", url="a", platform="youtube")
        assert a == b
        assert a != c
        assert hash(a) == hash(b)
        assert len({a, b, c}) == 2

    def test_different_models_are_never_equal(self) -> None:
        job = Job(id="same", url="u", platform="other")
        file = File(id="same", job_id="x", file_path="/p", file_type="video")
        assert job != file
        assert job != "same"
        assert len({job, file}) == 2

    def test_settings_equality_by_key(self) -> None:
        assert Settings(key="theme", value="dark") == Settings(key="theme", value="light")
        assert Settings(key="theme") != Settings(key="lang")
        assert hash(Settings(key="theme")) == hash(Settings(key="theme", value="x"))

    def test_repr(self) -> None:
        assert repr(Job(id="abc", url="u", platform="other")) == "Job(id='abc')"
        assert repr(File(id="f1", job_id="j", file_path="p", file_type="audio")) == (
            "File(id='f1')"
        )
        assert repr(Settings(key="theme")) == "Settings(key='theme')"


# -- stored timestamps -------------------------------------------------------------


class TestTimestamps:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2025-02-17 10:00:00.123456", datetime(2025, 2, 17, 10, 0, 0, 123456, tzinfo=UTC)),
            ("2025-02-17 10:00:00", datetime(2025, 2, 17, 10, tzinfo=UTC)),
            ("2025-02-17T10:00:00", datetime(2025, 2, 17, 10, tzinfo=UTC)),
            ("2025-02-17T12:00:00+02:00", datetime(2025, 2, 17, 10, tzinfo=UTC)),
        ],
    )
    def test_from_db_timestamp(self, text: str, expected: datetime) -> None:
        parsed = values.from_db_timestamp(text)
        assert parsed == expected
        assert parsed is not None
        assert parsed.utcoffset() == timedelta(0)

    def test_from_db_timestamp_none_and_naive(self) -> None:
        assert values.from_db_timestamp(None) is None
        naive = values.from_db_timestamp(datetime(2025, 1, 1, 8))
        assert naive == datetime(2025, 1, 1, 8, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (datetime(2025, 2, 17, 10, tzinfo=UTC), "2025-02-17 10:00:00.000000"),
            (datetime(2025, 2, 17, 10, 0, 0, 7), "2025-02-17 10:00:00.000007"),
            (
                datetime(2025, 2, 17, 0, 30, tzinfo=timezone(timedelta(hours=1))),
                "2025-02-16 23:30:00.000000",
            ),
        ],
    )
    def test_to_db_timestamp(self, value: datetime, text: str) -> None:
        assert values.to_db_timestamp(value) == text

    def test_text_order_is_time_order_across_legacy_and_new_forms(self) -> None:
        legacy = [
            "2025-02-17 10:00:00",
            "2025-02-17 10:00:01",
            "2025-02-17 09:59:59.999999",
            "2025-02-17 10:00:00.5",
            "2024-12-31 23:59:59",
            "2025-02-17 10:00:02",
        ]
        new = [
            values.to_db_timestamp(dt)
            for dt in (
                datetime(2025, 2, 17, 10, 0, 0, 1, tzinfo=UTC),
                datetime(2025, 2, 17, 10, 0, 0, 999999, tzinfo=UTC),
                datetime(2025, 2, 17, 10, 0, 1, 1, tzinfo=UTC),
                datetime(2025, 2, 17, 9, 59, 59, tzinfo=UTC),
                datetime(2025, 1, 1, tzinfo=UTC),
                datetime(2025, 2, 17, 10, 0, 1, 500000, tzinfo=UTC),
            )
        ]
        texts = legacy + new
        times = [values.from_db_timestamp(t) for t in texts]
        assert len(set(times)) == len(times)  # distinct instants
        assert sorted(texts) == sorted(texts, key=lambda t: values.from_db_timestamp(t))

        conn = sqlite3.connect(":memory:")
        try:
            conn.execute("CREATE TABLE t (ts TIMESTAMP)")
            conn.executemany("INSERT INTO t VALUES (?)", [(t,) for t in texts])
            by_sqlite = [r[0] for r in conn.execute("SELECT ts FROM t ORDER BY ts")]
        finally:
            conn.close()
        assert by_sqlite == sorted(texts, key=lambda t: values.from_db_timestamp(t))

    def test_model_rows_sort_like_their_times(self) -> None:
        base = datetime(2025, 2, 17, 10, tzinfo=UTC)
        offsets = [timedelta(microseconds=n) for n in (0, 1, 999_999, 1_000_000, 1_000_001)]
        jobs = [Job(url="u", platform="other", created_at=base + d) for d in reversed(offsets)]
        stored = [job.to_row()[1] for job in jobs]
        assert sorted(stored) == [values.to_db_timestamp(base + d) for d in offsets]
