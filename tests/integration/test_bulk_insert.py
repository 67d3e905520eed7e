"""Repository.insert_rows: the bulk path, several rows to a statement, same result as one by one."""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from typing import Any

import psycopg
import pytest

from collector.bench.dataset import generate_rows
from collector.config.database import DatabaseConfig
from collector.dialects import Connection, dialect_for
from collector.models import ALL_MODELS
from collector.models.file import File
from collector.models.job import Job
from collector.repositories import FileRepository, JobRepository
from collector.repositories.base import ROWS_PER_ARRAY_INSERT, ROWS_PER_INSERT
from collector.schema import derived
from tests.conftest import as_stored, beside, raw

pytestmark = pytest.mark.both_engines

Rows = list[tuple[Any, ...]]


def dataset(jobs: int, seed: int = 3) -> tuple[Rows, Rows]:
    job_rows: Rows = []
    file_rows: Rows = []
    for job, files in generate_rows(jobs, 3, "plan", seed):
        job_rows.append(job)
        file_rows.extend(files)
    return job_rows, file_rows


MODELS = {"jobs": Job, "files": File}


def stored(db: DatabaseConfig, table: str) -> Rows:
    """The table's rows by id, timestamps as datetimes (text on SQLite, timestamptz on
    PostgreSQL)."""
    model = MODELS[table]
    columns = ", ".join(f'"{name}"' for name in model.field_names())  # not PG's stored words
    with beside(db) as conn:
        rows = conn.execute(f'SELECT {columns} FROM "{table}" ORDER BY id').fetchall()
    return [as_stored(model, model.field_names(), row) for row in rows]


def given(table: str, rows: Rows) -> Rows:
    """``rows`` as inserted, in id order, timestamps as datetimes (to compare with stored)."""
    model = MODELS[table]
    return [as_stored(model, model.field_names(), row) for row in sorted(rows)]


def integrity_error(db: DatabaseConfig) -> type[Exception]:
    """The engine's own error for a broken constraint."""
    return psycopg.IntegrityError if db.dialect.name == "postgresql" else sqlite3.IntegrityError


def derived_is_exact(db: DatabaseConfig) -> None:
    with beside(db) as conn:
        for item in derived.declared(ALL_MODELS, db.dialect):
            held = sorted(tuple(row) for row in conn.execute(item.content_sql))
            truth = sorted(tuple(row) for row in conn.execute(item.truth_sql))
            assert held == truth, item.table


class Recording:
    """A connection that records, for each statement, how many rows it inserted."""

    def __init__(self, conn: Connection, width: int) -> None:
        self.conn, self.width = conn, width
        # A stand-in names its engine (collector.dialects.dialect_for).
        self.dialect = dialect_for(conn)
        self.rows_per_statement: list[int] = []
        self.statements: list[str] = []

    def execute(self, sql: str, params: Any = ()) -> Any:
        if sql.startswith("INSERT"):
            self.statements.append(sql)
            if "unnest(" in sql:  # one array per column, each as long as the rows
                assert len(params) == self.width
                assert len({len(column) for column in params}) == 1
                self.rows_per_statement.append(len(params[0]))
            else:
                assert sql.count("(?") * self.width == len(params)
                self.rows_per_statement.append(sql.count("(?"))
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)  # getlimit, info, in_transaction: the engine's own


@pytest.mark.parametrize(
    "count",
    [0, 1, ROWS_PER_INSERT - 1, ROWS_PER_INSERT, ROWS_PER_INSERT + 1, 3 * ROWS_PER_INSERT + 7],
)
def test_rows_stored_as_given_with_counts_exact(db: DatabaseConfig, count: int) -> None:
    job_rows, file_rows = dataset(count)

    with db.transaction() as conn:
        assert JobRepository.insert_rows(conn, job_rows) == count
        assert FileRepository.insert_rows(conn, file_rows) == len(file_rows)

    assert stored(db, "jobs") == given("jobs", job_rows)
    assert stored(db, "files") == given("files", file_rows)
    assert JobRepository(db).count() == count
    assert FileRepository(db).count() == len(file_rows)
    derived_is_exact(db)


def test_several_rows_to_a_statement(db: DatabaseConfig) -> None:
    arrays = JobRepository.array_insert_sql(db.dialect) is not None
    assert arrays == (db.dialect.name == "postgresql")
    per = ROWS_PER_ARRAY_INSERT if arrays else ROWS_PER_INSERT
    job_rows, _ = dataset(2 * per + 5)
    conn = Recording(db.connection(), len(Job.field_names()))

    with db.transaction():
        JobRepository.insert_rows(conn, job_rows)  # type: ignore[arg-type]  # a recording stand-in

    assert conn.rows_per_statement == [per, per, 5]
    assert stored(db, "jobs") == given("jobs", job_rows)


def test_one_statement_text_for_any_number_of_rows(pg_db: DatabaseConfig) -> None:
    """PostgreSQL binds one array per column: a batch of 3 and one of 7 send the same
    text with a parameter per column (28 for a job), few enough for psycopg to keep
    the parsed statement (a VALUES list of 10 jobs was 280, parsed again each time)."""
    db = pg_db
    job_rows, _ = dataset(10)
    conn = Recording(db.connection(), len(Job.field_names()))

    with db.transaction():
        JobRepository.insert_rows(conn, job_rows[:3])  # type: ignore[arg-type]  # a recording stand-in
        JobRepository.insert_rows(conn, job_rows[3:])  # type: ignore[arg-type]  # a recording stand-in

    assert conn.rows_per_statement == [3, 7]
    assert conn.statements[0] == conn.statements[1]
    assert conn.statements[0].count("?") == len(Job.field_names()) <= 50
    assert stored(db, "jobs") == given("jobs", job_rows)


@pytest.mark.sqlite_only
def test_fewer_rows_a_statement_under_a_low_variable_limit(db: DatabaseConfig) -> None:
    """SQLite's bound-variable limit is per connection (setlimit); PostgreSQL's is fixed."""
    width = len(Job.field_names())
    job_rows, file_rows = dataset(20)
    raw_conn = db.connection()
    previous = raw_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 3 * width + 1)
    try:
        conn = Recording(raw_conn, width)
        with db.transaction():
            JobRepository.insert_rows(conn, job_rows)  # type: ignore[arg-type]  # a recording stand-in
            FileRepository.insert_rows(raw_conn, file_rows)
        raw_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, width)
        assert JobRepository.rows_per_insert(raw_conn) == 1
        raw_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, width - 1)
        too_few = f"limit of {width - 1} bound variables is below the {width} values of one Job"
        with pytest.raises(ValueError, match=too_few):
            JobRepository.insert_rows(raw_conn, job_rows)
    finally:
        raw_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, previous)

    assert conn.rows_per_statement == [3] * 6 + [2]
    assert stored(db, "jobs") == given("jobs", job_rows)
    assert stored(db, "files") == given("files", file_rows)


def test_a_failing_row_rolls_back_the_whole_batch(db: DatabaseConfig) -> None:
    before, _ = dataset(5, seed=1)
    with db.transaction() as conn:
        JobRepository.insert_rows(conn, before)
    job_rows, _ = dataset(2 * ROWS_PER_INSERT)
    job_rows[ROWS_PER_INSERT + 3] = before[2]  # a duplicate id in the second statement

    with pytest.raises(integrity_error(db)), db.transaction() as conn:
        JobRepository.insert_rows(conn, job_rows)

    assert stored(db, "jobs") == given("jobs", before)
    statistics = JobRepository(db).get_job_statistics()
    assert {status: n for status, n in statistics.items() if n} == Counter(r[5] for r in before)
    derived_is_exact(db)


def test_a_failing_row_leaves_nothing_without_a_transaction_too(db: DatabaseConfig) -> None:
    # The connection is in autocommit: the savepoint, not the caller, makes it all or none.
    before, _ = dataset(5, seed=1)
    job_rows, _ = dataset(3 * ROWS_PER_INSERT)
    job_rows[2 * ROWS_PER_INSERT + 10] = before[0]
    conn = db.connection()
    JobRepository.insert_rows(conn, before)
    assert not db.dialect.in_transaction(conn)

    with pytest.raises(integrity_error(db)):
        JobRepository.insert_rows(conn, job_rows)

    assert not db.dialect.in_transaction(conn)
    assert stored(db, "jobs") == given("jobs", before)
    derived_is_exact(db)


def test_rows_may_come_from_a_generator(db: DatabaseConfig) -> None:
    job_rows, _ = dataset(ROWS_PER_INSERT + 3)

    with db.transaction() as conn:
        inserted = JobRepository.insert_rows(conn, (row for row in job_rows))

    assert inserted == len(job_rows)
    assert stored(db, "jobs") == given("jobs", job_rows)


def test_a_row_of_the_wrong_width_is_refused_before_any_insert(db: DatabaseConfig) -> None:
    job_rows, _ = dataset(3)
    job_rows[1] = job_rows[1][:-1]

    refused = pytest.raises(ValueError, match=r"row 1 of Job has 26 values; 27 expected \(id, ")
    with refused, db.transaction() as conn:
        JobRepository.insert_rows(conn, job_rows)

    assert stored(db, "jobs") == []


def test_hostile_values_are_bound_not_pasted(db: DatabaseConfig) -> None:
    job_rows, _ = dataset(3)
    hostile = "x'); DROP TABLE jobs; --"
    job_rows[0] = (*job_rows[0][:6], hostile, *job_rows[0][7:])  # the title

    with db.transaction() as conn:
        JobRepository.insert_rows(conn, job_rows)

    assert stored(db, "jobs") == given("jobs", job_rows)
    assert hostile in {row[6] for row in stored(db, "jobs")}


@pytest.mark.sqlite_only
def test_files_without_their_job_are_tracked_as_orphans(db: DatabaseConfig) -> None:
    """SQLite's foreign keys are off on a plain connection and the orphans table is kept
    by triggers; PostgreSQL always enforces the foreign key (it keeps no orphans)."""
    # Foreign keys off, as the pre-index code and other tools write: the trigger,
    # not the constraint, keeps the orphan table exact.
    job_rows, file_rows = dataset(2 * ROWS_PER_INSERT)
    kept = job_rows[::2]
    with closing(raw(db.db_path)) as conn:
        JobRepository.insert_rows(conn, kept)
        FileRepository.insert_rows(conn, file_rows)
        conn.commit()

    orphaned = {row[3] for row in file_rows} - {row[0] for row in kept}
    assert len(orphaned) == ROWS_PER_INSERT
    assert {f.job_id for f in FileRepository(db).get_orphaned_files()} == orphaned
    derived_is_exact(db)


def test_insert_sql_needs_one_row_or_more() -> None:
    with pytest.raises(ValueError, match="rows must be 1 or more, not 0"):
        JobRepository.insert_sql(0)
