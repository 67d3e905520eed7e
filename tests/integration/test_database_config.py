"""DatabaseConfig on real files: bad paths, locks, connections, transactions, capture."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import collector.repositories.job_repository as job_sql
from collector.app import create_app
from collector.config.database import (
    DatabaseBusyError,
    DatabaseConfig,
    DatabaseError,
    NotADatabaseError,
    Statement,
)
from collector.config.settings import Config
from collector.repositories import FileRepository, JobRepository, SettingsRepository
from collector.repositories.job_repository import SQL_GET
from tests.conftest import reading

SIDE_FILES = ("-wal", "-shm", "-journal")
TEXT = b"hello, not a database"


def side_files(path: Path) -> list[Path]:
    return [p for p in (path.with_name(path.name + s) for s in SIDE_FILES) if p.exists()]


def count_rows(path: Path, table: str) -> int:
    with reading(path) as conn:
        return conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]


def table_set(path: Path) -> set[str]:
    with reading(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


@pytest.fixture
def locker(db: DatabaseConfig, db_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection, usable from a timer thread."""
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


# -- not a database ---------------------------------------------------------------------

OPENERS: dict[str, Callable[[DatabaseConfig], Any]] = {
    "connection": lambda c: c.connection(),
    "initialize_schema": lambda c: c.initialize_schema(),
    "create_job": lambda c: JobRepository(c).create_job("https://e.com/x", "other"),
    "settings.get": lambda c: SettingsRepository(c).get("k"),
    "transaction": lambda c: c.transaction().__enter__(),
}


@pytest.mark.parametrize("opener", OPENERS.values(), ids=OPENERS.keys())
def test_text_file_is_not_a_database_and_is_left_alone(
    tmp_path: Path, opener: Callable[[DatabaseConfig], Any]
) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(TEXT)
    config = DatabaseConfig(path)

    with pytest.raises(NotADatabaseError) as caught:
        opener(config)

    assert str(path) in str(caught.value)
    assert path.read_bytes() == TEXT
    assert side_files(path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_file_with_sqlite_header_but_garbage_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    content = b"SQLite format 3\x00" + b"\xff" * 200
    path.write_bytes(content)

    with pytest.raises(NotADatabaseError) as caught:
        DatabaseConfig(path).initialize_schema()

    assert str(path) in str(caught.value)
    assert path.read_bytes() == content


def test_directory_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "a_directory"
    path.mkdir()

    with pytest.raises(NotADatabaseError) as caught:
        DatabaseConfig(path).connection()
    with pytest.raises(NotADatabaseError):
        DatabaseConfig(path).initialize_schema()

    assert str(path) in str(caught.value)
    assert list(path.iterdir()) == []
    assert side_files(path) == []


def test_create_app_on_a_text_file_raises_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(TEXT)

    with pytest.raises(NotADatabaseError) as caught:
        create_app({"TESTING": True, "DB_PATH": str(path)})

    assert str(path) in str(caught.value)
    assert path.read_bytes() == TEXT
    assert side_files(path) == []


def test_create_app_on_a_directory_raises_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(NotADatabaseError) as caught:
        create_app({"TESTING": True, "DB_PATH": str(tmp_path)})
    assert str(tmp_path) in str(caught.value)


def test_empty_file_becomes_a_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    config = DatabaseConfig(path)
    config.initialize_schema()
    config.close()
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert {"jobs", "files", "settings"} <= table_set(path)


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "collector.db"
    config = DatabaseConfig(path)
    config.initialize_schema()
    config.close()
    assert {"jobs", "files", "settings"} <= table_set(path)


def test_a_path_that_cannot_be_opened_is_a_database_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    under_a_file = blocker / "collector.db"  # its parent cannot be made
    dangling = tmp_path / "link.db"  # the parent exists; SQLite cannot open the target
    dangling.symlink_to(under_a_file)

    for path in (under_a_file, dangling):
        with pytest.raises(DatabaseError) as caught:
            DatabaseConfig(path).initialize_schema()
        assert f"cannot open the database {path}" in str(caught.value)
    assert blocker.read_text() == "not a directory"


# -- busy timeout ---------------------------------------------------------------------------


def test_writer_waits_for_a_lock_released_in_time(
    db: DatabaseConfig, db_path: Path, locker: sqlite3.Connection
) -> None:
    locker.execute("BEGIN IMMEDIATE")
    locker.execute(
        "INSERT INTO settings (key, value, created_at, updated_at) "
        "VALUES ('locker', 'held', '2025-01-01 00:00:00.000000', '2025-01-01 00:00:00.000000')"
    )
    released = threading.Event()

    def release() -> None:
        released.set()  # set before COMMIT: the lock is free only after this
        locker.execute("COMMIT")

    timer = threading.Timer(0.3, release)
    waiting = DatabaseConfig(db_path, busy_timeout_ms=5000)
    timer.start()
    try:
        job = JobRepository(waiting).create_job("https://e.com/waited", "other", "waited")
    finally:
        timer.join()
    waiting.close()

    assert released.is_set()
    with reading(db_path) as conn:
        row = conn.execute("SELECT url, title FROM jobs WHERE id = ?", (job.id,)).fetchone()
        held = conn.execute("SELECT value FROM settings WHERE key = 'locker'").fetchone()
    assert tuple(row) == ("https://e.com/waited", "waited")
    assert held[0] == "held"


def test_writer_gives_up_with_busy_error_when_lock_is_held(
    db: DatabaseConfig, db_path: Path, locker: sqlite3.Connection
) -> None:
    impatient = DatabaseConfig(db_path, busy_timeout_ms=50)
    jobs = JobRepository(impatient)
    locker.execute("BEGIN IMMEDIATE")

    with pytest.raises(DatabaseBusyError) as caught:
        jobs.create_job("https://e.com/never", "other")
    with pytest.raises(DatabaseBusyError):
        SettingsRepository(impatient).set("k", "v")

    assert str(db_path) in str(caught.value)
    assert "50 ms" in str(caught.value)
    locker.execute("ROLLBACK")
    assert count_rows(db_path, "jobs") == 0
    assert count_rows(db_path, "settings") == 0
    # Nothing is left half-open: the same object writes once the lock is gone.
    assert not impatient.connection().in_transaction
    job = jobs.create_job("https://e.com/later", "other")
    assert jobs.get_job(job.id) is not None
    assert count_rows(db_path, "jobs") == 1
    impatient.close()


def test_reads_are_not_blocked_by_a_writer(
    db: DatabaseConfig, db_path: Path, locker: sqlite3.Connection
) -> None:
    JobRepository(db).create_job("https://e.com/1", "other")
    reader = DatabaseConfig(db_path, busy_timeout_ms=0)
    locker.execute("BEGIN IMMEDIATE")
    locker.execute("DELETE FROM jobs")
    assert JobRepository(reader).count() == 1  # WAL: the reader sees the committed state
    reader.close()


# -- connection settings ---------------------------------------------------------------------


def test_connection_pragmas(db_path: Path) -> None:
    config = DatabaseConfig(db_path, busy_timeout_ms=1234)
    conn = config.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
    assert config.busy_timeout_ms == 1234
    assert not conn.in_transaction
    config.close()
    with reading(db_path) as other:  # WAL is a property of the file, not just the connection
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_busy_timeout_from_environment(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_BUSY_TIMEOUT_MS", "4321")
    config = DatabaseConfig(db_path)
    assert config.busy_timeout_ms == 4321
    assert config.connection().execute("PRAGMA busy_timeout").fetchone()[0] == 4321
    config.close()
    monkeypatch.delenv("COLLECTOR_BUSY_TIMEOUT_MS")
    assert DatabaseConfig(db_path).busy_timeout_ms == 30_000
    assert DatabaseConfig(db_path, busy_timeout_ms=0).busy_timeout_ms == 0


def test_same_thread_same_connection(db: DatabaseConfig) -> None:
    assert db.connection() is db.connection()
    with db.get_connection() as conn:
        assert conn is db.connection()
        assert conn.row_factory is sqlite3.Row


def test_each_thread_has_its_own_connection_and_close_is_per_thread(
    db: DatabaseConfig,
) -> None:
    mine = db.connection()
    opened, closed_mine, done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def worker() -> None:
        try:
            theirs = db.connection()
            seen["conn"] = theirs
            seen["same_again"] = db.connection() is theirs
            opened.set()
            closed_mine.wait(10)
            seen["after_main_closed"] = theirs.execute("SELECT 1").fetchone()[0]
            db.close()
            try:
                theirs.execute("SELECT 1")
            except sqlite3.ProgrammingError:
                seen["closed_by_own_close"] = True
        finally:
            opened.set()
            done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert opened.wait(10)
    assert seen["conn"] is not mine
    assert seen["same_again"] is True

    db.close()
    closed_mine.set()
    thread.join(10)

    assert done.is_set()
    assert seen["after_main_closed"] == 1  # the other thread's connection survived
    assert seen["closed_by_own_close"] is True
    with pytest.raises(sqlite3.ProgrammingError):
        mine.execute("SELECT 1")
    again = db.connection()
    assert again is not mine
    assert again.execute("SELECT 1").fetchone()[0] == 1
    db.close()
    db.close()  # closing twice is harmless


def test_threads_write_through_their_own_connections(db: DatabaseConfig, db_path: Path) -> None:
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        try:
            jobs = JobRepository(db)
            for n in range(5):
                jobs.create_job(f"https://e.com/{number}/{n}", "other")
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert count_rows(db_path, "jobs") == 20


# -- transactions -----------------------------------------------------------------------------


def test_transaction_commits_on_success(db: DatabaseConfig, db_path: Path) -> None:
    jobs = JobRepository(db)
    with db.transaction() as conn:
        first = jobs.create_job("https://e.com/1", "other")
        second = jobs.create_job("https://e.com/2", "other")
        assert conn.in_transaction
        assert count_rows(db_path, "jobs") == 0  # not visible to others before COMMIT
    assert not db.connection().in_transaction
    assert count_rows(db_path, "jobs") == 2
    assert jobs.get_job(first.id) is not None
    assert jobs.get_job(second.id) is not None


def test_transaction_rolls_back_on_exception(db: DatabaseConfig, db_path: Path) -> None:
    jobs, settings = JobRepository(db), SettingsRepository(db)
    with pytest.raises(RuntimeError, match="boom"), db.transaction():
        jobs.create_job("https://e.com/1", "other")
        settings.set("k", "v")
        raise RuntimeError("boom")
    assert not db.connection().in_transaction
    assert count_rows(db_path, "jobs") == 0
    assert settings.get("k") is None
    # The next transaction starts cleanly at the outer level.
    jobs.create_job("https://e.com/2", "other")
    assert count_rows(db_path, "jobs") == 1


def test_nested_transaction_rolls_back_only_the_inner_part(
    db: DatabaseConfig, db_path: Path
) -> None:
    jobs = JobRepository(db)
    with db.transaction():
        outer = jobs.create_job("https://e.com/outer", "other")
        try:
            with db.transaction():
                inner = jobs.create_job("https://e.com/inner", "other")
                assert jobs.get_job(inner.id) is not None
                raise ValueError("inner fails")
        except ValueError:
            pass
        assert jobs.get_job(inner.id) is None
        after = jobs.create_job("https://e.com/after", "other")
    assert not db.connection().in_transaction
    with reading(db_path) as conn:
        urls = {row[0] for row in conn.execute("SELECT url FROM jobs")}
    assert urls == {"https://e.com/outer", "https://e.com/after"}
    assert jobs.get_job(outer.id) is not None
    assert jobs.get_job(after.id) is not None


def test_outer_failure_undoes_a_committed_inner_part(db: DatabaseConfig, db_path: Path) -> None:
    jobs = JobRepository(db)
    with pytest.raises(KeyError), db.transaction():
        with db.transaction():
            jobs.create_job("https://e.com/inner", "other")
        raise KeyError("outer fails")
    assert count_rows(db_path, "jobs") == 0
    assert not db.connection().in_transaction


# -- capture ----------------------------------------------------------------------------------


def test_capture_records_statements_and_runs_them(db: DatabaseConfig, db_path: Path) -> None:
    jobs = JobRepository(db)
    with db.capture() as statements:
        job = jobs.create_job("https://e.com/c", "other", "captured")
        fetched = jobs.get_job(job.id)
    assert statements == [
        Statement(JobRepository.insert_sql(), job.to_row()),
        Statement(SQL_GET, (job.id,)),
    ]
    assert fetched is not None
    assert fetched.title == "captured"
    assert count_rows(db_path, "jobs") == 1
    jobs.count()
    assert len(statements) == 2  # nothing recorded once the block is left


def test_capture_without_execute_writes_nothing(db: DatabaseConfig, db_path: Path) -> None:
    jobs, files, settings = JobRepository(db), FileRepository(db), SettingsRepository(db)
    kept = jobs.create_job("https://e.com/kept", "other")
    files.create_file(kept.id, "/f.mp4", "video", 1)
    with reading(db_path) as conn:
        before = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("jobs", "files")}
        before = {t: [tuple(r) for r in rows] for t, rows in before.items()}

    with db.capture(execute=False) as statements:
        jobs.create_job("https://e.com/not-written", "other")
        settings.set("k", "v")
        assert jobs.delete_job(kept.id) is None  # nothing ran, so nothing was deleted
        jobs.fail_job(kept.id, "never")
        assert jobs.get_recent_jobs(5) == []  # queries return no rows

    sqls = [s.sql for s in statements]
    assert sqls[0] == JobRepository.insert_sql()
    assert any(sql.startswith("INSERT INTO settings") for sql in sqls)
    assert job_sql.SQL_DELETE_FILES in sqls
    assert "DELETE FROM jobs WHERE id = ?" in sqls
    assert all(isinstance(s.params, tuple) for s in statements)
    with reading(db_path) as conn:
        after = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("jobs", "files")}
        after = {t: [tuple(r) for r in rows] for t, rows in after.items()}
    assert after == before
    assert settings.get("k") is None
    assert jobs.get_job(kept.id).status == "pending"


# -- hostile strings --------------------------------------------------------------------------

HOSTILE = [
    "x'); DROP TABLE jobs;--",
    '" OR 1=1 --',
    "'; DELETE FROM settings; SELECT '",
    "Robert'); DROP TABLE files; --",
    "ünïcødé ✓ 漢字 🎉 \u202eevil",
    "before\x00after",
    "\x00",
    "%s %d {0} ? :name @p $1",
    "line\nbreak\ttab\r\n",
    "a" * 10_000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_strings_round_trip(db: DatabaseConfig, db_path: Path, text: str) -> None:
    jobs, files, settings = JobRepository(db), FileRepository(db), SettingsRepository(db)
    tables_before = table_set(db_path)

    job = jobs.create_job(text, "other", title=text)
    failed = jobs.fail_job(job.id, text)
    files.create_file(job.id, text, "video", 1)
    settings.set(text, text)

    back = jobs.get_job(job.id)
    assert back is not None
    assert (back.url, back.title, back.error_message) == (text, text, text)
    assert failed is not None
    assert failed.error_message == text
    assert [j.id for j in jobs.find_by(url=text)] == [job.id]
    assert [j.id for j in jobs.find_by(title=text, status="failed")] == [job.id]
    assert [f.file_path for f in files.get_job_files(job.id)] == [text]
    assert settings.get(text) == text
    assert settings.all() == {text: text}
    with reading(db_path) as conn:
        stored = conn.execute(
            "SELECT url, title, error_message FROM jobs WHERE id = ?", (job.id,)
        ).fetchone()
    assert tuple(stored) == (text, text, text)
    assert table_set(db_path) == tables_before
    assert jobs.count() == 1
    assert files.count() == 1
    assert settings.delete(text) is True
    assert settings.get(text) is None


# -- invalid settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, "5", True, False, 1.5, "abc", [5]])
def test_invalid_busy_timeout_is_rejected(db_path: Path, value: Any) -> None:
    with pytest.raises(ValueError, match="busy_timeout_ms"):
        DatabaseConfig(db_path, busy_timeout_ms=value)
    assert not db_path.exists()


@pytest.mark.parametrize("raw_value", ["abc", "", "5.5", "-1", "600001", "1e3"])
def test_invalid_busy_timeout_environment_is_rejected(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, raw_value: str
) -> None:
    monkeypatch.setenv("COLLECTOR_BUSY_TIMEOUT_MS", raw_value)
    with pytest.raises(ValueError, match="COLLECTOR_BUSY_TIMEOUT_MS") as caught:
        DatabaseConfig(db_path)
    with pytest.raises(ValueError, match="COLLECTOR_BUSY_TIMEOUT_MS"):
        Config.busy_timeout_ms()
    if raw_value == "abc":
        assert "must be an integer" in str(caught.value)
        assert "'abc'" in str(caught.value)
    assert not db_path.exists()


def test_explicit_busy_timeout_wins_over_a_bad_environment(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLLECTOR_BUSY_TIMEOUT_MS", "abc")
    assert DatabaseConfig(db_path, busy_timeout_ms=100).busy_timeout_ms == 100


@pytest.mark.parametrize("value", [2**31, 10**12])
def test_busy_timeout_beyond_sqlite_range_is_rejected_or_honoured(
    db_path: Path, value: int
) -> None:
    # SQLite keeps a 32-bit busy timeout: PRAGMA busy_timeout = 2**31 silently becomes 0,
    # i.e. a writer would not wait at all while the config claims it waits for ages.
    try:
        config = DatabaseConfig(db_path, busy_timeout_ms=value)
    except ValueError:
        return
    applied = config.connection().execute("PRAGMA busy_timeout").fetchone()[0]
    config.close()
    assert applied == value


OTHER_PROCESS = """
import sys
from collector.config.database import DatabaseConfig
from collector.repositories import SettingsRepository
db = DatabaseConfig(sys.argv[1])
SettingsRepository(db).set("other", "process")
db.close()
"""


def test_a_new_connection_keeps_the_locks_of_open_ones(db: DatabaseConfig, db_path: Path) -> None:
    # POSIX drops every lock a process holds on a file when it closes any descriptor
    # of it. Opening a connection (each web request does) must not read the database
    # file through a descriptor of its own, or the long-lived connections (the
    # worker's) lose their shared lock: then another process (collector add) that
    # closes its connection thinks it is the last one, checkpoints and deletes the
    # -wal and -shm files still in use here, and this process stops seeing its writes.
    worker = db.connection()
    worker.execute("SELECT COUNT(*) FROM jobs").fetchall()
    request = db.connect()
    request.close()

    subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(db_path)], check=True, timeout=30)

    assert sorted(p.name for p in side_files(db_path)) == [
        "collector.db-shm",
        "collector.db-wal",
    ]
    assert SettingsRepository(db).get("other") == "process"


@contextmanager
def protocol_trace(conn: Any, path: Path) -> Iterator[None]:
    """libpq's trace of the messages ``conn`` sends and receives, written to ``path``."""
    from psycopg.pq import Trace

    with path.open("w") as out:
        conn.pgconn.trace(out.fileno())
        conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield
        finally:
            conn.pgconn.untrace()


def test_a_lone_write_on_postgresql_is_sent_alone(pg_db: DatabaseConfig, tmp_path: Path) -> None:
    """Outside a transaction one write goes without BEGIN and COMMIT (two round trips
    fewer: PostgreSQL commits a lone statement by itself); inside one it joins it."""
    job = JobRepository(pg_db).create_job("https://example.com/v/1", "other")
    update = "UPDATE jobs SET title = ? WHERE id = ?"
    conn = pg_db.connection()
    with protocol_trace(conn, tmp_path / "alone.trace"):
        assert pg_db.execute_update(update, ("alone", job.id)) == 1
        assert pg_db.execute_returning(update + " RETURNING title", ("again", job.id))
    with protocol_trace(conn, tmp_path / "inside.trace"), pg_db.transaction():
        assert pg_db.execute_update(update, ("inside", job.id)) == 1
    alone = (tmp_path / "alone.trace").read_text()
    inside = (tmp_path / "inside.trace").read_text()
    assert alone.count("UPDATE jobs SET title") == 2
    assert "BEGIN" not in alone and "COMMIT" not in alone
    assert "BEGIN" in inside and "COMMIT" in inside
    assert not pg_db.dialect.in_transaction(conn)
    assert JobRepository(pg_db).get_job(job.id).title == "inside"


def test_a_failed_lone_write_on_postgresql_leaves_the_connection_usable(
    pg_db: DatabaseConfig,
) -> None:
    job = JobRepository(pg_db).create_job("https://example.com/v/1", "other")
    with pytest.raises(pg_db.dialect.DatabaseError, match="jobs_pkey"):
        pg_db.execute_update("UPDATE jobs SET id = ? WHERE id = ?", ("same", job.id))
        pg_db.execute_update("INSERT INTO jobs SELECT * FROM jobs WHERE id = ?", ("same",))
    assert not pg_db.dialect.in_transaction(pg_db.connection())
    assert pg_db.execute_update("UPDATE jobs SET title = ? WHERE id = ?", ("ok", "same")) == 1


def test_a_lone_write_on_sqlite_takes_the_write_lock_first(db: DatabaseConfig) -> None:
    """SQLite's writes begin with BEGIN IMMEDIATE (wait for the lock, never fail to
    upgrade a read lock), alone or not."""
    with db.lone_write() as conn:
        assert db.dialect.in_transaction(conn)
    assert not db.dialect.in_transaction(db.connection())
