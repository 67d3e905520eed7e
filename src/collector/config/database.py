"""DatabaseConfig: connections, transactions and schema set-up for the SQLite store.

Each thread gets its own connection (never shared), opened lazily and configured
once: WAL journal, a busy timeout so a locked database waits instead of failing,
foreign keys on, and autocommit mode so that transactions are explicit and short
(``BEGIN IMMEDIATE`` for writes, SAVEPOINTs when nested).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from collector.models import ALL_MODELS
from collector.models.base import BaseModel
from collector.schema.reconcile import ReconcileReport, create_missing_indexes, reconcile

from . import conditions
from .settings import Config

logger = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
# Databases this process has opened a connection to. Their header is not read again:
# closing any descriptor of a file drops every POSIX lock the process holds on it,
# so reading the header while a connection is open (a new connection per web request,
# the worker's kept one) would take the open connections' shared lock away. Another
# process closing its connection would then checkpoint and delete the -wal and -shm
# files still in use here, and this process would stop seeing the other's writes.
_CONNECTED: set[Path] = set()
Params = Sequence[Any]


class DatabaseError(Exception):
    """The database cannot be used.

    ``reason`` is SQLite's own words, without the file's path: what a web client
    may be told (the message, with the path, is for the operator).
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


class NotADatabaseError(DatabaseError):
    """The path exists but is not an SQLite database."""


class DatabaseBusyError(DatabaseError):
    """Another writer held the lock longer than the busy timeout."""


class DatabaseDamagedError(DatabaseError):
    """SQLite met a damaged page: check the file and restore a backup."""


class DatabaseFullError(DatabaseError):
    """A write was refused for lack of space; nothing of it was kept."""


# SQLite's primary result codes (the low byte of an extended code).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 5, 6, 11, 13, 26


class Statement(NamedTuple):
    """One statement as the application ran it: SQL text and bound values."""

    sql: str
    params: tuple[Any, ...]


class DatabaseConfig:
    """Database configuration and connection management."""

    def __init__(self, db_path: str | Path | None = None, busy_timeout_ms: int | None = None):
        self.db_path = Path(db_path) if db_path is not None else Config.DB_PATH
        timeout = Config.busy_timeout_ms() if busy_timeout_ms is None else busy_timeout_ms
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int)
            or not 0 <= timeout <= Config.MAX_BUSY_TIMEOUT_MS
        ):
            raise ValueError(
                f"busy_timeout_ms must be an integer from 0 to {Config.MAX_BUSY_TIMEOUT_MS}, "
                f"not {timeout!r}"
            )
        self.busy_timeout_ms = timeout
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"DatabaseConfig({str(self.db_path)!r})"

    # -- connections ---------------------------------------------------------------

    def check_path(self) -> None:
        """Raise NotADatabaseError if the path holds something other than SQLite."""
        path = self.db_path
        if path.is_dir():
            raise NotADatabaseError(f"{path} is a directory, not an SQLite database")
        if path.resolve() in _CONNECTED:
            return
        if path.exists() and path.stat().st_size > 0:
            with path.open("rb") as fh:
                if fh.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                    raise NotADatabaseError(f"{path} is not an SQLite database")

    def connect(self) -> sqlite3.Connection:
        """Open and configure a new connection (callers own it; prefer connection())."""
        self.check_path()
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.db_path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open the database {self.db_path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        try:
            # PRAGMA values cannot be bound; this one is a validated int.
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Statement journals (one per write that fires triggers) stay in memory.
            conn.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self.translate(exc) from exc
        _CONNECTED.add(self.db_path.resolve())
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def get_connection(self) -> Iterator[sqlite3.Connection]:
        """The plan's accessor: this thread's connection, rows as sqlite3.Row."""
        yield self.connection()

    def close(self) -> None:
        """Close this thread's connection, if open."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()

    def translate(self, exc: BaseException) -> BaseException:
        """``exc`` as one of this module's errors when it is about the file, else itself.

        A damaged file or a full disk is also noted in ``conditions`` (one log line
        per condition, however many operations meet it).
        """
        if not isinstance(exc, sqlite3.DatabaseError):
            return exc
        message = str(exc)
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        path = self.db_path
        if code in (SQLITE_BUSY, SQLITE_LOCKED) or (
            not code and ("locked" in message or "busy" in message)
        ):
            return DatabaseBusyError(
                f"{path} is locked by another writer (waited {self.busy_timeout_ms} ms): {message}",
                "the database is busy",
            )
        if code == SQLITE_CORRUPT or (not code and "malformed" in message):
            conditions.report(path, conditions.DAMAGED, message)
            return DatabaseDamagedError(
                f"the database {path} is damaged ({message}); stop collector, run "
                f"`collector --db {path} db check` and restore the latest backup "
                "(README: Backups)",
                f"the database is damaged ({message})",
            )
        if code == SQLITE_FULL or (not code and "is full" in message):
            conditions.report(path, conditions.FULL, message)
            return DatabaseFullError(
                f"no space left for the database {path} ({message}); nothing of this change "
                "was saved: free disk space and try again",
                f"no space left for the database ({message}); nothing of this change was saved",
            )
        if code == SQLITE_NOTADB or (not code and "not a database" in message):
            return NotADatabaseError(f"{path} is not a usable SQLite database: {message}")
        return exc

    # -- transactions ----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: BEGIN IMMEDIATE, or a SAVEPOINT when already in one.

        Commits on success, rolls back on any exception. Short by design: never hold
        one across network or disk I/O of a download.
        """
        conn = self.connection()
        depth = getattr(self._local, "depth", 0)
        savepoint = f"sp_{depth}"
        try:
            if depth == 0:
                conn.execute("BEGIN IMMEDIATE")
            else:
                conn.execute(f"SAVEPOINT {savepoint}")
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from exc
        self._local.depth = depth + 1
        try:
            yield conn
        except BaseException as exc:
            self._local.depth = depth
            self._roll_back(conn, depth, savepoint)
            translated = self.translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        self._local.depth = depth
        try:
            conn.execute("COMMIT" if depth == 0 else f"RELEASE {savepoint}")
        except sqlite3.DatabaseError as exc:
            if depth == 0 and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise self.translate(exc) from exc
        if depth == 0:
            conditions.write_succeeded(self.db_path)

    @staticmethod
    def _roll_back(conn: sqlite3.Connection, depth: int, savepoint: str) -> None:
        """Undo the failed (sub)transaction. SQLite may have rolled the whole
        transaction back itself (a full disk, a damaged page), so only what is
        still open is undone."""
        if not conn.in_transaction:
            return
        if depth == 0:
            conn.execute("ROLLBACK")
        else:
            conn.execute(f"ROLLBACK TO {savepoint}")
            conn.execute(f"RELEASE {savepoint}")

    # -- statements --------------------------------------------------------------------

    @contextmanager
    def capture(self, execute: bool = True) -> Iterator[list[Statement]]:
        """Record every statement run through this object in this thread.

        With ``execute=False`` statements are recorded but not run (queries return
        no rows): ``collector db explain`` uses that to read the plan of each
        repository query without running it.
        """
        captures = self._local.__dict__.setdefault("captures", [])
        record: list[Statement] = []
        captures.append((record, execute))
        try:
            yield record
        finally:
            captures.remove((record, execute))

    def _record(self, sql: str, params: Params) -> bool:
        """Record a statement with any active capture; False means do not run it."""
        run = True
        for record, execute in getattr(self._local, "captures", ()):
            record.append(Statement(sql, tuple(params)))
            run = run and execute
        return run

    def execute_query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run a read and return all rows."""
        if not self._record(sql, params):
            return []
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from exc

    def execute_rows(self, sql: str, params: Params = ()) -> tuple[list[str], list[tuple]]:
        """Run a read; return the column names and the rows as plain tuples.

        The fast path for lists: no per-row sqlite3.Row object.
        """
        if not self._record(sql, params):
            return [], []
        cursor = self.connection().cursor()
        cursor.row_factory = None
        try:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from exc
        return [d[0] for d in cursor.description or ()], rows

    def execute_update(self, sql: str, params: Params = ()) -> int:
        """Run one write in a transaction; return the number of rows changed."""
        if not self._record(sql, params):
            return 0
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def execute_returning(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one write with a RETURNING clause in a transaction; return its rows."""
        if not self._record(sql, params):
            return []
        with self.transaction() as conn:
            return conn.execute(sql, params).fetchall()

    def execute_updates(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        """Run several writes in one transaction; return each one's row count."""
        run = [self._record(sql, params) for sql, params in statements]
        if not all(run):
            return [0] * len(statements)
        with self.transaction() as conn:
            return [conn.execute(sql, params).rowcount for sql, params in statements]

    def execute_many(self, sql: str, seq_of_params: Iterable[Params]) -> int:
        """Run one statement for many parameter sets in a single transaction."""
        rows = [tuple(p) for p in seq_of_params]
        if not self._record(sql, rows[0] if rows else ()):
            return 0
        with self.transaction() as conn:
            return conn.executemany(sql, rows).rowcount

    def integrity_check(self, quick: bool = False, max_problems: int = 100) -> list[str]:
        """SQLite's ``PRAGMA integrity_check`` (or ``quick_check``): the problems, [] if ok.

        Both read the whole file (quick_check skips matching index entries to rows).
        A page so damaged that the check itself cannot go on is one problem.
        """
        pragma = "quick_check" if quick else "integrity_check"
        rows: list[Any] = []
        # Walking further into a damaged file can meet a page the check itself cannot
        # get past; asking for fewer problems then still lists the first ones.
        for limit in (int(max_problems), 10, 1):
            try:
                # PRAGMA arguments cannot be bound; this one is an int.
                rows = self.connection().execute(f"PRAGMA {pragma}({limit})").fetchall()
                break
            except sqlite3.DatabaseError as exc:
                translated = self.translate(exc)
                if not isinstance(translated, DatabaseDamagedError):
                    raise translated from exc
                rows = [(str(exc),)]
        lines = [line for row in rows for line in str(row[0]).splitlines()]
        if lines == ["ok"]:
            return []
        problems = [line for line in lines if not line.startswith("*** in database")]
        conditions.report(self.db_path, conditions.DAMAGED, problems[0])
        return problems

    # -- schema ---------------------------------------------------------------------------

    def create_indexes(self, model_classes: Iterable[type[BaseModel]]) -> list[str]:
        """Create the declared indexes that are missing; return their names."""
        return create_missing_indexes(self, list(model_classes))

    def ensure_indexes(self, model_classes: Iterable[type[BaseModel]]) -> ReconcileReport:
        """Create missing indexes and rebuild managed ones whose definition changed."""
        return reconcile(self, list(model_classes), tables=False)

    def initialize_schema(
        self, model_classes: Iterable[type[BaseModel]] | None = None
    ) -> ReconcileReport:
        """Reconcile the database with the models: tables, columns, then indexes."""
        models = list(ALL_MODELS if model_classes is None else model_classes)
        return reconcile(self, models)

    def get_index_info(self, table_name: str) -> list[dict[str, Any]]:
        """Name and SQL of every index on a table, ``idx_`` ones and others alike."""
        rows = self.execute_query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "ORDER BY name",
            (table_name,),
        )
        return [{"name": row["name"], "sql": row["sql"]} for row in rows]


# -- the process-wide and per-app accessors (flaskr's get_db / close_db) ------------------

_default_configs: dict[Path, DatabaseConfig] = {}
_default_lock = threading.Lock()
APP_EXTENSION = "collector.db"


def get_db_config() -> DatabaseConfig:
    """The DatabaseConfig of the current Flask app, or of COLLECTOR_DB_PATH outside one."""
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.extensions[APP_EXTENSION]
    path = Config.DB_PATH.resolve()
    with _default_lock:
        if path not in _default_configs:
            _default_configs[path] = DatabaseConfig(path)
        return _default_configs[path]


def get_db() -> sqlite3.Connection:
    """The connection for this thread (in a request, closed again at its end)."""
    return get_db_config().connection()


def close_db(exc: BaseException | None = None) -> None:
    """Close this thread's connection; registered as a Flask teardown."""
    get_db_config().close()
