"""DatabaseConfig: connections, transactions and schema set-up for the store.

Each thread gets its own connection (never shared), opened lazily and configured
once by the engine's dialect (:mod:`collector.dialects`: on SQLite a WAL journal, a
busy timeout so a locked database waits instead of failing, foreign keys on), in
autocommit mode so that transactions are explicit and short (the dialect's write
transaction, ``BEGIN IMMEDIATE`` on SQLite; SAVEPOINTs when nested). An engine's
error about the database itself (busy, damaged, full, not a database) becomes one
of this module's errors, with the file and what to do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from collector import dialects
from collector.dialects import Connection, Dialect
from collector.models import ALL_MODELS
from collector.models.base import BaseModel
from collector.schema.reconcile import ReconcileReport, create_missing_indexes, reconcile

from . import conditions
from .settings import Config

logger = logging.getLogger(__name__)

Params = Sequence[Any]
# Connections one DatabaseConfig may hold at once on a pooled engine (PostgreSQL): the
# web server's threads, or a worker's slots (at most 64, each keeping its connection)
# with its watcher; opened only as threads ask. A thread past it waits busy_timeout_ms.
POOL_SIZE = 72


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


class InvalidValueError(DatabaseError, ValueError):
    """A value the engine cannot store (a NUL character in PostgreSQL's text): bad input."""


class DatabaseFullError(DatabaseError):
    """A write was refused for lack of space; nothing of it was kept."""


class Statement(NamedTuple):
    """One statement as the application ran it: SQL text and bound values."""

    sql: str
    params: tuple[Any, ...]


class DatabaseConfig:
    """Database configuration and connection management."""

    def __init__(
        self,
        db_path: str | Path | None = None,
        busy_timeout_ms: int | None = None,
        dialect: Dialect | None = None,
    ):
        """``db_path``: an SQLite file, or a database URL (``sqlite:///path``,
        ``postgresql://...``); default the configured one (Config.database())."""
        found, where = dialects.locate(Config.database() if db_path is None else db_path)
        self.dialect = dialect if dialect is not None else found
        # What connects: an SQLite file's path, or a server database's URL.
        self.location: str | Path = where
        # The file, for a file-based engine; a server database has none (and names
        # itself by its URL, password hidden).
        self.db_path = Path(where)
        self.name = str(where) if isinstance(where, Path) else dialects.url.redact(where)
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
        self._pool: Any = None  # a pooled engine's pool, opened on first use
        self._pool_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DatabaseConfig({self.name!r})"

    @property
    def key(self) -> str:
        """What identifies this database within the process (its file, resolved)."""
        if isinstance(self.location, Path):
            return str(self.location.resolve())
        return self.location

    # -- connections ---------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str, busy_timeout_ms: int | None = None) -> DatabaseConfig:
        """The database a URL names (``sqlite:///path``, ``postgresql://...``); ValueError
        for a bad URL."""
        dialects.parse_database_url(url)
        return cls(url, busy_timeout_ms)

    def check_path(self) -> None:
        """Raise NotADatabaseError if the path holds something other than a database."""
        if not self.dialect.features.file_based:
            return
        problem = self.dialect.check_path(self.db_path)
        if problem is not None:
            raise NotADatabaseError(problem)

    def connect(self) -> Connection:
        """Open and configure a new connection (callers own it; prefer connection())."""
        self.check_path()
        try:
            conn = self.dialect.open(self.location)
        except (OSError, self.dialect.Error) as exc:
            translated = self.translate(exc)
            if translated is not exc:
                raise translated from exc
            reason = " ".join(str(exc).split())  # libpq's message spans lines
            raise DatabaseError(f"cannot open the database {self.name}: {reason}") from exc
        try:
            self.dialect.configure(conn, self.location, self.busy_timeout_ms)
        except self.dialect.DatabaseError as exc:
            raise self.translate(exc) from exc
        return conn

    def connection(self) -> Connection:
        """This thread's connection, opened on first use (on a pooled engine, borrowed
        from this object's pool until close())."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._borrow() if self.dialect.features.pooled else self.connect()
            self._local.conn = conn
        return conn

    def _borrow(self) -> Connection:
        with self._pool_lock:
            if self._pool is None:
                self._pool = self.dialect.pool(self.location, self.busy_timeout_ms, POOL_SIZE)
        try:
            return self._pool.getconn(timeout=max(self.busy_timeout_ms / 1000, 1.0))
        except self.dialect.Error as exc:
            translated = self.translate(exc)
            if translated is not exc:
                raise translated from exc
            reason = " ".join(str(exc).split())
            raise DatabaseError(f"cannot open the database {self.name}: {reason}") from exc

    @contextmanager
    def get_connection(self) -> Iterator[Connection]:
        """The plan's accessor: this thread's connection, rows readable by name."""
        yield self.connection()

    def close(self) -> None:
        """Close this thread's connection, if open (on a pooled engine, give it back)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            if self._pool is not None and self.dialect.features.pooled:
                self._pool.putconn(conn)
            else:
                conn.close()

    def dispose(self) -> None:
        """Close this thread's connection and, on a pooled engine, every pooled one."""
        self.close()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def translate(self, exc: BaseException, doing: str | None = None) -> BaseException:
        """``exc`` as one of this module's errors when it is about the file, else itself.

        ``doing`` says what waited when the database was busy (which statement, which
        table, who held the lock), for the message. A damaged file or a full disk is
        also noted in ``conditions`` (one log line per condition, however many
        operations meet it).
        """
        kind = self.dialect.classify(exc)
        if kind is None:
            return exc
        message = str(exc)
        path = self.name
        if kind == dialects.BUSY and doing:
            return DatabaseBusyError(
                f"{path}: {doing}; gave up after {self.busy_timeout_ms} ms "
                f"(COLLECTOR_BUSY_TIMEOUT_MS): {' '.join(message.split())}",
                "the database is busy",
            )
        if kind == dialects.BUSY:
            return DatabaseBusyError(
                f"{path} is locked by another writer (waited {self.busy_timeout_ms} ms): {message}",
                "the database is busy",
            )
        if kind == dialects.DAMAGED:
            conditions.report(self.key, conditions.DAMAGED, message)
            return DatabaseDamagedError(
                f"the database {path} is damaged ({message}); stop collector, run "
                f"`collector --db {path} db check` and restore the latest backup "
                "(README: Backups)",
                f"the database is damaged ({message})",
            )
        if kind == dialects.FULL:
            conditions.report(self.key, conditions.FULL, message)
            return DatabaseFullError(
                f"no space left for the database {path} ({message}); nothing of this change "
                "was saved: free disk space and try again",
                f"no space left for the database ({message}); nothing of this change was saved",
            )
        if kind == dialects.INVALID_VALUE:
            reason = f"a value cannot be stored: {message}"
            return InvalidValueError(reason, reason)
        return NotADatabaseError(
            f"{path} is not a usable {self.dialect.display_name} database: {message}"
        )

    # -- transactions ----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: BEGIN IMMEDIATE, or a SAVEPOINT when already in one.

        Commits on success, rolls back on any exception. Short by design: never hold
        one across network or disk I/O of a download.
        """
        conn = self.connection()
        depth = getattr(self._local, "depth", 0)
        savepoint = f"sp_{depth}"  # a name made of an int: nothing from outside reaches SQL
        try:
            if depth == 0:
                self.dialect.begin_write(conn)
            else:
                conn.execute(f"SAVEPOINT {savepoint}")
        except self.dialect.DatabaseError as exc:
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
        except self.dialect.DatabaseError as exc:
            if depth == 0 and self.dialect.in_transaction(conn):
                conn.execute("ROLLBACK")
            raise self.translate(exc) from exc
        if depth == 0:
            conditions.write_succeeded(self.key)

    def _roll_back(self, conn: Connection, depth: int, savepoint: str) -> None:
        """Undo the failed (sub)transaction. The engine may have rolled the whole
        transaction back itself (a full disk, a damaged page), so only what is
        still open is undone."""
        if not self.dialect.in_transaction(conn):
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

    def execute_query(self, sql: str, params: Params = ()) -> list[Any]:
        """Run a read and return all rows."""
        if not self._record(sql, params):
            return []
        try:
            return self.connection().execute(sql, params).fetchall()
        except self.dialect.DatabaseError as exc:
            raise self.translate(exc) from exc

    def execute_rows(self, sql: str, params: Params = ()) -> tuple[list[str], list[tuple]]:
        """Run a read; return the column names and the rows as plain tuples.

        The fast path for lists: no per-row Row object.
        """
        if not self._record(sql, params):
            return [], []
        cursor = self.dialect.tuple_cursor(self.connection())
        try:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        except self.dialect.DatabaseError as exc:
            raise self.translate(exc) from exc
        return [d[0] for d in cursor.description or ()], rows

    @contextmanager
    def lone_write(self) -> Iterator[Connection]:
        """The connection for one write statement, committed on its own: run alone where
        the engine commits a lone statement by itself and this thread holds no
        transaction (``features.lone_write_commits``), else in ``transaction()``.
        Errors are translated as ``transaction()`` translates them."""
        if not self.dialect.features.lone_write_commits or getattr(self._local, "depth", 0):
            with self.transaction() as conn:
                yield conn
            return
        try:
            yield self.connection()
        except BaseException as exc:
            translated = self.translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        conditions.write_succeeded(self.key)

    def execute_update(self, sql: str, params: Params = ()) -> int:
        """Run one write in a transaction; return the number of rows changed."""
        if not self._record(sql, params):
            return 0
        with self.lone_write() as conn:
            return conn.execute(sql, params).rowcount

    def execute_returning(self, sql: str, params: Params = ()) -> list[Any]:
        """Run one write with a RETURNING clause in a transaction; return its rows."""
        if not self._record(sql, params):
            return []
        with self.lone_write() as conn:
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
        """The engine's integrity check (or its quicker form): the problems, [] if ok.

        On SQLite ``PRAGMA integrity_check`` or ``quick_check``; both read the whole
        file (quick_check skips matching index entries to rows). A page so damaged
        that the check itself cannot go on is one problem.
        """
        lines: list[str] = []
        # Walking further into a damaged file can meet a page the check itself cannot
        # get past; asking for fewer problems then still lists the first ones.
        for limit in (int(max_problems), 10, 1):
            try:
                lines = self.dialect.integrity_check(self.connection(), quick, limit)
                break
            except self.dialect.DatabaseError as exc:
                translated = self.translate(exc)
                if not isinstance(translated, DatabaseDamagedError):
                    raise translated from exc
                lines = [str(exc)]
        if lines == ["ok"]:
            return []
        problems = [line for line in lines if not line.startswith("*** in database")]
        conditions.report(self.key, conditions.DAMAGED, problems[0])
        return problems

    # -- schema ---------------------------------------------------------------------------

    def create_indexes(self, model_classes: Iterable[type[BaseModel]]) -> list[str]:
        """Create the declared indexes that are missing; return their names."""
        return create_missing_indexes(self, list(model_classes))

    def ensure_indexes(self, model_classes: Iterable[type[BaseModel]]) -> ReconcileReport:
        """Create missing indexes and rebuild managed ones whose definition changed."""
        return reconcile(self, list(model_classes), tables=False)

    def initialize_schema(
        self, model_classes: Iterable[type[BaseModel]] | None = None, online: bool = True
    ) -> ReconcileReport:
        """Reconcile the database with the models: tables, columns, then indexes.

        ``online=False``: build indexes in a transaction even where the engine could
        build them while the table takes writes (a bulk load's target; see reconcile)."""
        models = list(ALL_MODELS if model_classes is None else model_classes)
        return reconcile(self, models, online=online)

    def get_index_info(self, table_name: str) -> list[dict[str, Any]]:
        """Name and SQL of every index on a table, ``idx_`` ones and others alike."""
        try:
            found = self.dialect.index_definitions(self.connection(), table_name)
        except self.dialect.DatabaseError as exc:
            raise self.translate(exc) from exc
        return [{"name": name, "sql": sql} for name, sql in found]


# -- the process-wide and per-app accessors (flaskr's get_db / close_db) ------------------

_default_configs: dict[str, DatabaseConfig] = {}
_default_lock = threading.Lock()
APP_EXTENSION = "collector.db"


def get_db_config() -> DatabaseConfig:
    """The DatabaseConfig of the current Flask app, or of the configured database outside one
    (COLLECTOR_DATABASE_URL, else COLLECTOR_DB_PATH)."""
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.extensions[APP_EXTENSION]
    database = Config.database()
    key = str(database.resolve()) if isinstance(database, Path) else database
    with _default_lock:
        if key not in _default_configs:
            _default_configs[key] = DatabaseConfig(database)
        return _default_configs[key]


def get_db() -> Connection:
    """The connection for this thread (in a request, closed again at its end)."""
    return get_db_config().connection()


def close_db(exc: BaseException | None = None) -> None:
    """Close this thread's connection; registered as a Flask teardown."""
    get_db_config().close()
