"""The PostgreSQL dialect against a real server (the session database of ``pg_url``).

Each test works in a schema of its own (dropped after it), which the dialect's
introspection reads as "the current schema"; the plan tests share one 20k-row table.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from collector.dialects import BUSY, DAMAGED, FULL, NOT_A_DATABASE, IndexInfo
from collector.dialects.postgresql import MAX_BIND_PARAMETERS, PostgreSQLDialect

from ..pg_fixtures import database_url

PG = PostgreSQLDialect(statement_timeout_ms=30_000)
BUSY_MS = 200
PLAN_ROWS = 20_000


def open_in_schema(url: str, schema: str, busy_timeout_ms: int = BUSY_MS) -> Any:
    conn = PG.connect(url, busy_timeout_ms)
    conn.execute("SELECT pg_catalog.set_config('search_path', %s, false)", (schema,))
    return conn


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    schema = f"t_{secrets.token_hex(4)}"
    with closing(PG.connect(url, BUSY_MS)) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield schema
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with fresh_schema(pg_url) as name:
        yield name


@pytest.fixture
def conn(pg_url: str, schema: str) -> Iterator[Any]:
    with closing(open_in_schema(pg_url, schema)) as connection:
        yield connection


# -- connections and transactions -------------------------------------------------------


def setting(conn: Any, name: str) -> str:
    return conn.execute("SELECT pg_catalog.current_setting(%s) AS value", (name,)).fetchone()[
        "value"
    ]


def test_connect_sets_the_session_up(conn: Any) -> None:
    assert PG.owns(conn)
    assert setting(conn, "application_name") == "collector"
    assert setting(conn, "lock_timeout") == f"{BUSY_MS}ms"
    assert setting(conn, "statement_timeout") == "30s"
    assert setting(conn, "TimeZone") == "UTC"
    assert PG.placeholder == "%s"
    assert conn.autocommit is True
    assert not PG.in_transaction(conn)


def test_the_urls_own_application_name_wins(pg_url: str) -> None:
    url = pg_url + "?application_name=collector-host3"
    with closing(PG.connect(url, BUSY_MS)) as conn:
        assert setting(conn, "application_name") == "collector-host3"


def test_rows_read_by_name_and_position_and_executemany(conn: Any) -> None:
    conn.execute("CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL)")
    conn.executemany("INSERT INTO t (id, name) VALUES (%s, %s)", [(1, "a"), (2, "b")])
    row = conn.execute("SELECT id, name FROM t ORDER BY id").fetchone()
    assert (row[0], row["name"], row.keys(), dict(row)) == (
        1,
        "a",
        ["id", "name"],
        {"id": 1, "name": "a"},
    )
    assert PG.tuple_cursor(conn).execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]
    assert type(PG.tuple_cursor(conn).execute("SELECT 1").fetchone()) is tuple


def test_begin_write_opens_a_transaction_that_commit_ends(conn: Any) -> None:
    conn.execute("CREATE TABLE t (id integer PRIMARY KEY)")
    PG.begin_write(conn)
    assert PG.in_transaction(conn)
    conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("ROLLBACK")
    assert not PG.in_transaction(conn)
    assert conn.execute("SELECT count(*) AS n FROM t").fetchone()["n"] == 0
    PG.begin_write(conn)
    conn.execute("INSERT INTO t VALUES (2)")
    conn.execute("COMMIT")
    assert conn.execute("SELECT count(*) AS n FROM t").fetchone()["n"] == 1


def test_the_pool_sets_its_connections_up_as_connect_does(pg_url: str) -> None:
    with (
        PG.pool(pg_url, busy_timeout_ms=750, min_size=1, max_size=2) as pool,
        pool.connection() as conn,
    ):
        assert setting(conn, "lock_timeout") == "750ms"
        assert setting(conn, "application_name") == "collector"
        assert conn.execute("SELECT 7 AS seven").fetchone()["seven"] == 7
        conn.executemany("SELECT %s", [(1,), (2,)])


def test_a_file_path_is_not_a_postgresql_database(tmp_path: Path) -> None:
    assert "postgresql:// URL" in (PG.check_path(tmp_path / "x.db") or "")
    with closing(sqlite3.connect(":memory:")) as other:
        assert not PG.owns(other)


# -- errors ---------------------------------------------------------------------------------


def test_a_lock_held_past_lock_timeout_is_busy(pg_url: str, schema: str, conn: Any) -> None:
    conn.execute("CREATE TABLE t (id integer PRIMARY KEY, n integer)")
    conn.execute("INSERT INTO t VALUES (1, 0)")
    with closing(open_in_schema(pg_url, schema, busy_timeout_ms=100)) as other:
        PG.begin_write(conn)
        conn.execute("UPDATE t SET n = 1 WHERE id = 1")
        with pytest.raises(psycopg.Error) as caught:
            other.execute("UPDATE t SET n = 2 WHERE id = 1")
        conn.execute("ROLLBACK")
    assert caught.value.sqlstate == "55P03"
    assert PG.classify(caught.value) == BUSY


def test_a_unique_violation_is_not_about_the_database(conn: Any) -> None:
    conn.execute("CREATE TABLE t (id integer PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(psycopg.errors.UniqueViolation) as caught:
        conn.execute("INSERT INTO t VALUES (1)")
    assert PG.classify(caught.value) is None


def test_a_missing_database_is_not_a_database(pg_url: str, conn: Any) -> None:
    missing = f"collector_missing_{secrets.token_hex(4)}"
    with pytest.raises(psycopg.OperationalError) as at_connect:
        PG.connect(database_url(pg_url, missing), BUSY_MS)
    assert at_connect.value.sqlstate is None  # libpq has no SQLSTATE for a refused start-up
    assert PG.classify(at_connect.value) == NOT_A_DATABASE
    with pytest.raises(psycopg.Error) as in_session:
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(missing)))
    assert in_session.value.sqlstate == "3D000"
    assert PG.classify(in_session.value) == NOT_A_DATABASE


def test_an_unreachable_server_is_none_of_the_kinds() -> None:
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect("postgresql://postgres@127.0.0.1:1/postgres", connect_timeout=2)
    assert PG.classify(caught.value) is None


@pytest.mark.parametrize(
    ("sqlstate", "kind"),
    [
        ("55P03", BUSY),
        ("40001", BUSY),
        ("40P01", BUSY),
        ("53300", BUSY),
        ("57P03", BUSY),
        ("53100", FULL),
        ("XX001", DAMAGED),
        ("XX002", DAMAGED),
        ("3D000", NOT_A_DATABASE),
        ("57014", None),  # statement_timeout or a cancel: not busy
        ("53200", None),  # out of memory: not a full database
        ("23505", None),
        ("42P01", None),
    ],
)
def test_sqlstates_map_to_kinds(sqlstate: str, kind: str | None) -> None:
    error = errors.lookup(sqlstate)("message")
    assert error.sqlstate == sqlstate
    assert PG.classify(error) == kind


def test_other_engines_errors_are_not_classified() -> None:
    assert PG.classify(sqlite3.OperationalError("database is locked")) is None
    assert PG.classify(ValueError("x")) is None


# -- introspection ----------------------------------------------------------------------------


def test_tables_and_columns_read_from_the_catalogue(conn: Any) -> None:
    conn.execute(
        "CREATE TABLE jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "url text NOT NULL, status varchar(16) NOT NULL DEFAULT 'queued', "
        "created_at timestamptz NOT NULL DEFAULT now(), progress real)"
    )
    conn.execute("CREATE TABLE files (job_id bigint, name text, PRIMARY KEY (job_id, name))")
    conn.execute("CREATE VIEW v AS SELECT 1 AS one")
    assert PG.table_names(conn) == {"jobs", "files"}
    columns = {c.name: c for c in PG.table_columns(conn, "jobs")}
    assert list(columns) == ["id", "url", "status", "created_at", "progress"]
    assert (columns["id"].type, columns["id"].notnull, columns["id"].pk) == ("bigint", True, True)
    assert columns["status"].type == "character varying(16)"
    assert columns["status"].default == "'queued'::character varying"
    assert columns["created_at"].type == "timestamp with time zone"
    assert columns["created_at"].default == "now()"
    assert (columns["progress"].notnull, columns["progress"].pk, columns["progress"].default) == (
        False,
        False,
        None,
    )
    assert [(c.name, c.pk) for c in PG.table_columns(conn, "files")] == [
        ("job_id", True),
        ("name", True),
    ]
    assert PG.table_columns(conn, "nope") == []


def make_indexed_table(conn: Any) -> None:
    conn.execute(
        "CREATE TABLE jobs (id integer PRIMARY KEY, url text NOT NULL, status text NOT NULL, "
        "created_at timestamptz NOT NULL, progress real, CONSTRAINT jobs_url_key UNIQUE (url))"
    )
    conn.execute("CREATE INDEX idx_jobs_status ON jobs (status)")
    conn.execute("CREATE UNIQUE INDEX idx_jobs_status_id ON jobs (status, id)")
    conn.execute("CREATE INDEX idx_jobs_created_desc ON jobs (created_at DESC, id DESC)")
    conn.execute(
        "CREATE INDEX idx_jobs_active ON jobs (status, created_at) "
        "WHERE status IN ('queued', 'running')"
    )
    conn.execute("CREATE INDEX idx_jobs_covering ON jobs (status) INCLUDE (url, created_at)")
    conn.execute("CREATE INDEX idx_jobs_lower_url ON jobs (lower(url), id)")


def test_indexes_read_structurally(conn: Any) -> None:
    make_indexed_table(conn)
    found = {info.name: info for info in PG.table_indexes(conn, "jobs")}
    assert sorted(found) == [
        "idx_jobs_active",
        "idx_jobs_covering",
        "idx_jobs_created_desc",
        "idx_jobs_lower_url",
        "idx_jobs_status",
        "idx_jobs_status_id",
        "jobs_pkey",
        "jobs_url_key",
    ]
    assert found["jobs_pkey"][:6] == ("jobs_pkey", "jobs", True, "pk", False, (("id", False),))
    assert (found["jobs_url_key"].origin, found["jobs_url_key"].unique) == ("u", True)
    plain = found["idx_jobs_status"]
    assert (plain.unique, plain.origin, plain.partial, plain.predicate) == (False, "c", False, None)
    assert (plain.columns, plain.include, plain.valid, plain.method) == (
        (("status", False),),
        (),
        True,
        "btree",
    )
    assert plain.collations == ("default",)
    assert plain.sql == "CREATE INDEX idx_jobs_status ON {}.jobs USING btree (status)".format(
        conn.execute("SELECT current_schema() AS s").fetchone()["s"]
    )
    assert found["idx_jobs_status_id"].unique is True
    assert found["idx_jobs_status_id"].columns == (("status", False), ("id", False))
    assert found["idx_jobs_created_desc"].columns == (("created_at", True), ("id", True))
    assert found["idx_jobs_created_desc"].collations == ("", "")  # not collatable
    active = found["idx_jobs_active"]
    assert active.partial is True
    assert active.columns == (("status", False), ("created_at", False))
    assert active.predicate == "status = ANY (ARRAY['queued'::text, 'running'::text])"
    covering = found["idx_jobs_covering"]
    assert (covering.columns, covering.include) == ((("status", False),), ("url", "created_at"))
    assert found["idx_jobs_lower_url"].columns == ((None, False), ("id", False))
    assert all(info.valid for info in found.values())
    assert PG.index_info(conn, "idx_jobs_covering") == covering
    assert PG.index_info(conn, "IDX_JOBS_COVERING") is None  # names are case-sensitive
    assert PG.index_definitions(conn, "jobs") == [(i.name, i.sql) for i in found.values()]


def test_a_failed_concurrent_build_leaves_an_invalid_index(conn: Any) -> None:
    conn.execute("CREATE TABLE t (id integer PRIMARY KEY, k text NOT NULL)")
    conn.execute("INSERT INTO t VALUES (1, 'same'), (2, 'same')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY idx_t_k ON t (k)")
    info = PG.index_info(conn, "idx_t_k")
    assert info is not None
    assert (info.valid, info.unique, info.columns) == (False, True, (("k", False),))
    assert PG.index_info(conn, "t_pkey").valid is True


def test_sqlite_index_info_keeps_its_shape(tmp_path: Path) -> None:
    """The fields PostgreSQL added have defaults: SQLite's index records are unchanged."""
    info = IndexInfo("i", "t", False, "c", False, (("a", False),), ("BINARY",), None)
    assert (info.predicate, info.include, info.valid, info.method) == (None, (), True, "btree")


# -- plans ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan_conn(pg_url: str) -> Iterator[Any]:
    """A 20k-row jobs table with two indexes, analyzed."""
    with fresh_schema(pg_url) as schema, closing(open_in_schema(pg_url, schema)) as conn:
        conn.execute(
            "CREATE TABLE jobs (id integer PRIMARY KEY, status text NOT NULL, "
            "priority integer NOT NULL, note text NOT NULL) WITH (autovacuum_enabled = false)"
        )
        conn.execute(
            "INSERT INTO jobs SELECT g, CASE WHEN g %% 100 = 0 THEN 'failed' ELSE 'done' END, "
            "g %% 7, md5(g::text) FROM generate_series(1, %s) AS g",
            (PLAN_ROWS,),
        )
        conn.execute("CREATE INDEX idx_jobs_status_id ON jobs (status, id)")
        # Statistics from every row (20k is under ANALYZE's sample) and a visibility map:
        # the planner's choices below are the same on every run.
        conn.execute("VACUUM (ANALYZE) jobs")
        yield conn


def test_explain_reads_an_index_search(plan_conn: Any) -> None:
    steps = PG.explain(plan_conn, "SELECT * FROM jobs WHERE id = %s", (123,))
    assert [(s.node_type, s.op, s.table, s.index) for s in steps] == [
        ("Index Scan", "SEARCH", "jobs", "jobs_pkey")
    ]
    assert not any(s.full_scan or s.temp_sort for s in steps)


def test_explain_reads_a_covering_index_in_order(plan_conn: Any) -> None:
    steps = PG.explain(
        plan_conn,
        "SELECT id FROM jobs WHERE status = %s ORDER BY id DESC LIMIT 50",
        ("failed",),
    )
    scans = [s for s in steps if s.table == "jobs"]
    assert [(s.node_type, s.index, s.covering) for s in scans] == [
        ("Index Only Scan", "idx_jobs_status_id", True)
    ]
    assert steps[0].node_type == "Limit" and scans[0].parent == steps[0].id
    assert not any(s.full_scan or s.temp_sort for s in steps)


def test_explain_reads_a_seq_scan_and_a_sort(plan_conn: Any) -> None:
    steps = PG.explain(plan_conn, "SELECT * FROM jobs WHERE priority = %s ORDER BY note", (3,))
    by_type = {s.node_type: s for s in steps}
    assert by_type["Sort"].temp_sort is True
    seq = by_type["Seq Scan"]
    assert (seq.op, seq.table, seq.index, seq.full_scan) == ("SCAN", "jobs", None, True)
    assert seq.parent == by_type["Sort"].id
    assert seq.detail == "Seq Scan on jobs"


def test_explain_names_the_index_behind_a_bitmap_scan(plan_conn: Any) -> None:
    steps = PG.explain(plan_conn, "SELECT * FROM jobs WHERE id < %s OR id > %s", (500, 19_500))
    heap = [s for s in steps if s.node_type == "Bitmap Heap Scan"]
    assert [(s.op, s.table, s.index, s.full_scan) for s in heap] == [
        ("SEARCH", "jobs", "jobs_pkey", False)
    ]


def test_explain_with_a_subplan_keeps_parents(plan_conn: Any) -> None:
    steps = PG.explain(
        plan_conn,
        "SELECT j.id FROM jobs AS j WHERE j.id = (SELECT max(id) FROM jobs WHERE status = %s)",
        ("failed",),
    )
    ids = {s.id for s in steps}
    assert steps[0].parent == 0 and all(s.parent in ids for s in steps[1:])
    outer = [s for s in steps if s.table == "jobs" and "j" in s.detail.split()]
    assert outer and outer[0].detail.endswith("on jobs j")


# -- statistics, checks, limits -----------------------------------------------------------------


def test_statistics_sizes_and_optimize(conn: Any) -> None:
    # No autovacuum: it could analyze the table before the first assertion.
    conn.execute("CREATE TABLE t (id integer, v text) WITH (autovacuum_enabled = false)")
    conn.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) AS g")
    assert PG.analyzed_rows(conn, "t") is None
    PG.optimize(conn)  # analyzes what was never analyzed
    assert PG.analyzed_rows(conn, "t") == 5000
    assert PG.table_size(conn, "t") == 5000
    conn.execute("CREATE INDEX idx_t_id ON t (id)")
    sizes = PG.table_sizes(conn)
    assert sizes is not None and set(sizes) == {"t", "idx_t_id"}
    assert sizes["t"] > sizes["idx_t_id"] > 0
    assert list(sizes.values()) == sorted(sizes.values(), reverse=True)
    with pytest.raises(ValueError, match="no table 'nope'"):
        PG.table_size(conn, "nope")


def test_integrity_check_needs_amcheck(conn: Any) -> None:
    conn.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
    conn.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) AS g")
    assert PG.features.integrity_check is False
    with pytest.raises(NotImplementedError, match="CREATE EXTENSION amcheck"):
        PG.integrity_check(conn, quick=True, limit=10)
    conn.execute("CREATE EXTENSION amcheck")  # into this test's schema, dropped with it
    assert PG.integrity_check(conn, quick=True, limit=10) == ["ok"]
    assert PG.integrity_check(conn, quick=False, limit=10) == ["ok"]


def test_features_limits_and_what_is_not_there_yet(conn: Any, tmp_path: Path) -> None:
    assert (PG.name, PG.display_name) == ("postgresql", "PostgreSQL")
    assert PG.features.file_based is False
    assert PG.features.partial_indexes is True
    assert PG.features.data_version is False
    assert PG.features.table_sizes is True
    assert PG.max_variables(conn) == MAX_BIND_PARAMETERS == 65_535
    values = list(range(MAX_BIND_PARAMETERS))
    statement = "SELECT count(*) AS n FROM (VALUES " + ", ".join(["(%s)"] * len(values)) + ") v"
    assert conn.execute(statement, values).fetchone()["n"] == MAX_BIND_PARAMETERS
    with pytest.raises(NotImplementedError, match="LISTEN/NOTIFY"):
        PG.data_version(conn)
    with pytest.raises(NotImplementedError, match="pg_dump"):
        PG.backup(conn, tmp_path / "copy")
    assert PG.stored_trigger_sql(conn, "trg") is None
