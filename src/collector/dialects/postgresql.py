"""The PostgreSQL dialect: the one module that speaks to ``psycopg`` and ``psycopg_pool``.

A database is named by a ``postgresql://`` URL (libpq's conninfo), not by a file.
Connections are opened in autocommit mode, as SQLite's are: transactions are explicit
(``BEGIN``/``COMMIT`` by the caller), and a set-up hook gives each session a
``lock_timeout`` (the busy timeout's counterpart: a statement waiting for a lock gives
up with SQLSTATE 55P03 instead of queueing behind a long transaction), an optional
``statement_timeout``, UTC as its time zone and ``application_name=collector`` (so an
operator sees collector's sessions in ``pg_stat_activity``) unless the URL names one.

The schema is read back from ``pg_catalog`` into the same named tuples as on SQLite,
field by field (never by parsing DDL text); plans come from ``EXPLAIN (FORMAT JSON)``
read node by node; statistics from ``pg_class.reltuples``.

The store's statements bind values with ``?``; :class:`PgConnection` rewrites them
to psycopg's ``%s`` (see :func:`format_placeholders`), so repositories keep one text
per statement for both engines.

Not offered (they raise NotImplementedError saying so): ``backup`` (a PostgreSQL
collection is copied with ``db copy`` or ``pg_dump``), ``data_version`` (PostgreSQL
wakes idle workers with LISTEN/NOTIFY instead).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from collector.models.quoting import quote_identifier

from . import postgresql_ddl
from .base import (
    BUSY,
    DAMAGED,
    FULL,
    INVALID_VALUE,
    NOT_A_DATABASE,
    ColumnInfo,
    Connection,
    Derived,
    Dialect,
    Features,
    IndexInfo,
    PlanStep,
    Trigger,
)

if TYPE_CHECKING:
    from collector.models.base import BaseModel
    from collector.models.fields import Column, IndexSpec

logger = logging.getLogger(__name__)

APPLICATION_NAME = "collector"
# The upgrade lock (pg_try_advisory_lock's two-key form): collector's key ("coll"), and
# the current schema's hash, so that databases kept in different schemas of one server
# database upgrade independently.
UPGRADE_LOCK_KEY = 0x636F_6C6C
_UPGRADE_LOCK_ARGS = "%s, pg_catalog.hashtext(coalesce(pg_catalog.current_schema(), ''))"
# How often a process waiting for another's upgrade asks for the lock again: from
# 0.1 s, doubling up to 1 s; and how often it says in the log that it still waits.
UPGRADE_POLL_S = (0.1, 1.0)
UPGRADE_LOG_EVERY_S = 30.0
# A declared column type as pg_catalog.format_type reports the type PostgreSQL gives it
# (postgresql_ddl.PG_TYPES).
REPORTED_TYPES = {
    "TEXT": "text",
    "INTEGER": "bigint",
    "REAL": "double precision",
    "BLOB": "bytea",
    "TIMESTAMP": "timestamp with time zone",
}
# maintenance_work_mem while db copy builds the indexes of the rows it loaded.
BULK_BUILD_MEMORY = "512MB"
# The most values one statement may bind: the protocol counts them in a 16-bit field.
MAX_BIND_PARAMETERS = 65_535

# SQLSTATEs (PostgreSQL manual, Appendix A) and what each means to collector.
SQLSTATE_KINDS = {
    # Busy: another session holds what this one needs; the same work succeeds later.
    "55P03": BUSY,  # lock_not_available: lock_timeout expired, or NOWAIT met a lock
    "40001": BUSY,  # serialization_failure: a concurrent transaction won; retry it
    "40P01": BUSY,  # deadlock_detected: the server cancelled one side; retry it
    "53300": BUSY,  # too_many_connections: every slot is taken for now
    "57P03": BUSY,  # cannot_connect_now: the server is starting up or shutting down
    # 57014 query_canceled is left out: lock waits end in 55P03 under lock_timeout, so
    # 57014 means statement_timeout or an operator's pg_cancel_backend; retrying the
    # same statement would run as long again, which is not "busy".
    #
    # Full: the disk holding the data directory or WAL has no room; nothing was saved.
    "53100": FULL,  # disk_full
    # 53200 out_of_memory is left out: the server's memory, not the database, and
    # "free disk space" would be the wrong advice.
    #
    # Damaged: the server found corrupt pages; the operator must check and restore.
    "XX001": DAMAGED,  # data_corrupted
    "XX002": DAMAGED,  # index_corrupted
    #
    # Not a database: the URL names a database the server does not have.
    "3D000": NOT_A_DATABASE,  # invalid_catalog_name
    #
    # Invalid value: text the database's encoding cannot hold.
    "22021": INVALID_VALUE,  # character_not_in_repertoire
    "22P05": INVALID_VALUE,  # untranslatable_character
}
# libpq gives no SQLSTATE for a connection the server refuses at start-up (there is no
# result to read it from), so for that one case the server's message is all there is.
_MISSING_DATABASE = re.compile(r'FATAL:\s+database "[^"]*" does not exist')

# The plan nodes that read a table's rows, and which of them do it through an index.
_SCANS = frozenset({"Seq Scan", "Sample Scan", "Index Scan", "Index Only Scan", "Tid Scan"})
_INDEX_SCANS = frozenset({"Index Scan", "Index Only Scan"})
_SORTS = frozenset({"Sort", "Incremental Sort"})

# The current schema's oid, for every catalogue query below.
_SCHEMA = "(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = pg_catalog.current_schema())"


class Row(tuple):
    """A result row readable by position and by column name, like ``sqlite3.Row``."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}
    _names: ClassVar[tuple[str, ...]] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    index = {name: i for i, name in enumerate(names)}
    return type("Row", (Row,), {"__slots__": (), "_index": index, "_names": names})


def row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    """psycopg row factory: rows as :class:`Row` (one class per column list, cached)."""
    names = tuple(column.name for column in cursor.description or ())
    return _row_class(names)


# A statement's text split into what is outside string literals and quoted names
# (where ? and % mean something) and what is inside them (left alone).
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$\$.*?\$\$", re.DOTALL)


@lru_cache(maxsize=4096)
def format_placeholders(query: str) -> str:
    """The store's statements bind values with ``?`` (qmark, as sqlite3 does); psycopg
    takes ``%s``. A statement with a ``?`` outside its string literals has each such
    ``?`` made ``%s`` and each ``%`` made ``%%`` (psycopg's escape); any other statement
    is left as it is (the dialect's own catalogue queries are written with ``%s``).
    Cached per statement text: the store runs the same few statements all day."""
    pieces: list[str] = []
    found = False
    end = 0
    for match in _QUOTED.finditer(query):
        outside = query[end : match.start()]
        found = found or "?" in outside
        pieces.append(outside.replace("%", "%%").replace("?", "%s"))
        pieces.append(match.group().replace("%", "%%"))
        end = match.end()
    tail = query[end:]
    found = found or "?" in tail
    pieces.append(tail.replace("%", "%%").replace("?", "%s"))
    return "".join(pieces) if found else query


class PgCursor(psycopg.Cursor[Any]):
    """A psycopg cursor that takes the store's qmark statements (format_placeholders)."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> PgCursor:
        if isinstance(query, str):
            query = format_placeholders(query)
        super().execute(query, params, **kwargs)
        return self

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        if isinstance(query, str):
            query = format_placeholders(query)
        super().executemany(query, params_seq, **kwargs)


class PgConnection(psycopg.Connection[Any]):
    """A psycopg connection whose cursors are :class:`PgCursor`, with the DB-API
    ``executemany`` the store's callers use."""

    def executemany(self, query: Any, params_seq: Any, /) -> psycopg.Cursor[Any]:
        cursor = self.cursor()
        cursor.executemany(query, params_seq)
        return cursor


# A row holds every word of the search value: its stored document (a tsvector column
# kept by a trigger, postgresql_ddl.SEARCH_COLUMN) against the words, no operator read.
_SEARCH_MATCH = f"{quote_identifier(postgresql_ddl.SEARCH_COLUMN)} @@ plainto_tsquery('simple', ?)"


class PostgreSQLDialect(Dialect):
    name = "postgresql"
    display_name = "PostgreSQL"
    placeholder = "%s"
    features = Features(
        file_based=False,
        partial_indexes=True,
        data_version=False,
        table_sizes=True,
        integrity_check=False,  # only with the amcheck extension (see integrity_check)
        pooled=True,
        notifications=True,
        writable_cte=True,
        lone_write_commits=True,
        pipelined=True,
        online_index_builds=True,
        cost_based_planner=True,
        foreign_keys_always=True,
        delta_counts=True,
    )
    Error = psycopg.Error
    DatabaseError = psycopg.DatabaseError
    catalog_tables = frozenset(
        {"pg_class", "pg_index", "pg_attribute", "pg_namespace", "pg_am", "pg_constraint"}
    )
    version = f"psycopg {psycopg.__version__}, libpq {psycopg.pq.version()}"

    def __init__(self, statement_timeout_ms: int = 0, connect_timeout_s: int = 10) -> None:
        # 0: statements may run as long as they need (the server's default).
        self.statement_timeout_ms = int(statement_timeout_ms)
        self.connect_timeout_s = int(connect_timeout_s)

    # -- connections and transactions ------------------------------------------------

    def conninfo(self, url: str | Path) -> str:
        """``url`` with collector's defaults (application_name, connect_timeout) where
        the URL sets none; the URL's own settings win."""
        given = conninfo_to_dict(str(url))
        defaults = {
            "application_name": APPLICATION_NAME,
            "connect_timeout": str(self.connect_timeout_s),
        }
        return make_conninfo(str(url), **{k: v for k, v in defaults.items() if k not in given})

    def session_settings(self, busy_timeout_ms: int) -> dict[str, str]:
        """What :meth:`configure` sets in each session (run-time parameters, by name)."""
        return {
            "lock_timeout": f"{int(busy_timeout_ms)}ms",
            "statement_timeout": f"{self.statement_timeout_ms}ms",
            "TimeZone": "UTC",
        }

    def owns(self, conn: object) -> bool:
        return isinstance(conn, psycopg.Connection)

    def check_path(self, path: Path) -> str | None:
        return f"{path}: a PostgreSQL database is named by a postgresql:// URL, not a file"

    def open(self, path: str | Path) -> PgConnection:
        """``path`` is the database's URL (or libpq conninfo)."""
        return PgConnection.connect(
            self.conninfo(path), autocommit=True, row_factory=row_factory, cursor_factory=PgCursor
        )

    def configure(self, conn: Connection, path: str | Path, busy_timeout_ms: int) -> None:
        """The session set-up hook (also the pool's ``configure``)."""
        settings = self.session_settings(busy_timeout_ms)
        try:
            for name, value in settings.items():
                conn.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, value))
        except psycopg.Error:
            conn.close()
            raise

    def connect_raw(self, path: str | Path) -> PgConnection:
        return PgConnection.connect(self.conninfo(path), autocommit=True, cursor_factory=PgCursor)

    def pool(
        self, location: Any, busy_timeout_ms: int, max_size: int = 4, min_size: int = 0
    ) -> ConnectionPool:
        """An open pool of connections set up as :meth:`connect` sets one up. It opens
        connections as threads ask for them (none up front) and closes those left idle
        for a minute, so a quiet process holds none for long."""
        url = str(location)
        return ConnectionPool(
            self.conninfo(url),
            connection_class=PgConnection,
            kwargs={"autocommit": True, "row_factory": row_factory, "cursor_factory": PgCursor},
            configure=lambda conn: self.configure(conn, url, busy_timeout_ms),
            min_size=min_size,
            max_size=max_size,
            max_idle=60.0,
            num_workers=1,
            name=APPLICATION_NAME,
            open=True,
        )

    def tuple_cursor(self, conn: Connection) -> psycopg.Cursor[Any]:
        return conn.cursor(row_factory=tuple_row)  # type: ignore[call-arg]  # psycopg's cursor()

    def begin_write(self, conn: Connection) -> None:
        """``BEGIN`` (READ COMMITTED). PostgreSQL has no database-wide write lock to take
        up front: writers lock the rows they change, and wait at most lock_timeout."""
        conn.execute("BEGIN")

    def in_transaction(self, conn: Connection) -> bool:
        status = conn.info.transaction_status  # type: ignore[attr-defined]  # psycopg's
        return bool(status != TransactionStatus.IDLE)

    def classify(self, exc: BaseException) -> str | None:
        if not isinstance(exc, psycopg.Error):
            return None
        if exc.sqlstate is not None:
            return SQLSTATE_KINDS.get(exc.sqlstate)
        if isinstance(exc, psycopg.OperationalError) and _MISSING_DATABASE.search(str(exc)):
            return NOT_A_DATABASE
        if isinstance(exc, psycopg.DataError) and "NUL (0x00)" in str(exc):
            return INVALID_VALUE  # psycopg refuses to send it: text cannot hold NUL
        return None

    # -- introspection ---------------------------------------------------------------

    def table_names(self, conn: Connection) -> set[str]:
        """Ordinary and partitioned tables of the current schema (search_path's first)."""
        rows = self.tuple_cursor(conn).execute(
            f"SELECT relname FROM pg_catalog.pg_class "
            f"WHERE relnamespace = {_SCHEMA} AND relkind IN ('r', 'p')"
        )
        return {row[0] for row in rows}

    def _table_oid(self, conn: Connection, table: str) -> int | None:
        row = (
            self.tuple_cursor(conn)
            .execute(
                f"SELECT oid FROM pg_catalog.pg_class "
                f"WHERE relnamespace = {_SCHEMA} AND relkind IN ('r', 'p') AND relname = %s",
                (table,),
            )
            .fetchone()
        )
        return None if row is None else int(row[0])

    def table_columns(self, conn: Connection, table: str) -> list[ColumnInfo]:
        oid = self._table_oid(conn, table)
        if oid is None:
            return []
        rows = self.tuple_cursor(conn).execute(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_catalog.pg_get_expr(d.adbin, d.adrelid), "
            "EXISTS (SELECT 1 FROM pg_catalog.pg_index AS i WHERE i.indrelid = a.attrelid "
            "AND i.indisprimary AND a.attnum = ANY (i.indkey)) "
            "FROM pg_catalog.pg_attribute AS a LEFT JOIN pg_catalog.pg_attrdef AS d "
            "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (oid,),
        )
        return [ColumnInfo(r[0], r[1], bool(r[2]), r[3], bool(r[4])) for r in rows]

    def index_info(self, conn: Connection, name: str) -> IndexInfo | None:
        """PostgreSQL's names are case-sensitive (unquoted ones are folded to lower case
        when a statement is parsed): ``name`` is matched exactly."""
        row = (
            self.tuple_cursor(conn)
            .execute(
                f"SELECT t.relname FROM pg_catalog.pg_index AS i "
                f"JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid "
                f"JOIN pg_catalog.pg_class AS t ON t.oid = i.indrelid "
                f"WHERE ic.relnamespace = {_SCHEMA} AND ic.relname = %s",
                (name,),
            )
            .fetchone()
        )
        if row is None:
            return None
        for info in self.table_indexes(conn, row[0]):
            if info.name == name:
                return info
        return None

    def table_indexes(self, conn: Connection, table: str) -> list[IndexInfo]:
        """Every index of ``table``, from pg_index field by field: key columns in order
        with their direction (indoption bit 0), INCLUDE columns (past indnkeyatts), the
        predicate, uniqueness, validity, access method and the constraint it backs."""
        oid = self._table_oid(conn, table)
        if oid is None:
            return []
        cursor = self.tuple_cursor(conn)
        listing = cursor.execute(
            "SELECT i.indexrelid, ic.relname, i.indisunique, i.indisvalid, i.indnkeyatts, "
            "i.indoption::int2[], pg_catalog.pg_get_expr(i.indpred, i.indrelid, true), "
            "pg_catalog.pg_get_indexdef(i.indexrelid), am.amname, con.contype "
            "FROM pg_catalog.pg_index AS i "
            "JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid "
            "JOIN pg_catalog.pg_am AS am ON am.oid = ic.relam "
            "LEFT JOIN pg_catalog.pg_constraint AS con ON con.conindid = i.indexrelid "
            "AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u') "
            "WHERE i.indrelid = %s ORDER BY ic.relname",
            (oid,),
        ).fetchall()
        result = []
        for index_oid, name, unique, valid, nkeys, options, predicate, ddl, method, con in listing:
            # One row per indexed column (keys first, then INCLUDE), in index order; an
            # expression key has attnum 0 and so no attribute (its name is None).
            columns = cursor.execute(
                "SELECT a.attname, coll.collname "
                "FROM pg_catalog.pg_index AS i CROSS JOIN LATERAL "
                "unnest(i.indkey::int2[], i.indcollation::oid[]) "
                "WITH ORDINALITY AS k(attnum, collid, position) "
                "LEFT JOIN pg_catalog.pg_attribute AS a "
                "ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0 "
                "LEFT JOIN pg_catalog.pg_collation AS coll ON coll.oid = k.collid "
                "WHERE i.indexrelid = %s ORDER BY k.position",
                (index_oid,),
            ).fetchall()
            keys, included = columns[:nkeys], columns[nkeys:]
            directions = [bool(option & 1) for option in options]  # bit 0: DESC
            result.append(
                IndexInfo(
                    name=name,
                    table=table,
                    unique=bool(unique),
                    origin={"p": "pk", "u": "u"}.get(con, "c"),
                    partial=predicate is not None,
                    columns=tuple(
                        (key[0], desc) for key, desc in zip(keys, directions, strict=True)
                    ),
                    collations=tuple(key[1] or "" for key in keys),
                    sql=ddl,
                    predicate=predicate,
                    include=tuple(column[0] for column in included),
                    valid=bool(valid),
                    method=method,
                )
            )
        return result

    def index_definitions(self, conn: Connection, table: str) -> list[tuple[str, str | None]]:
        return [(info.name, info.sql) for info in self.table_indexes(conn, table)]

    # -- plans -------------------------------------------------------------------------

    def explain(self, conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[PlanStep]:
        """``EXPLAIN (FORMAT JSON)`` with the values bound (so the planner sees them, as a
        custom plan), read node by node, depth first: a node's parent is its caller."""
        rows = self.tuple_cursor(conn).execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchall()
        document = rows[0][0]
        if isinstance(document, str | bytes):
            document = json.loads(document)
        steps: list[PlanStep] = []
        self._walk(document[0]["Plan"], 0, steps)
        return steps

    def _walk(self, node: dict[str, Any], parent: int, steps: list[PlanStep]) -> None:
        step_id = len(steps) + 1
        steps.append(self.parse_plan_row((step_id, parent, node)))
        for child in node.get("Plans", ()):
            self._walk(child, step_id, steps)

    def parse_plan_row(self, row: Sequence[Any]) -> PlanStep:
        """One plan node, as ``(id, parent id, node)`` with the node's JSON object.

        ``op`` reads as on SQLite: "SEARCH" when an index condition narrows the rows,
        "SCAN" when every row (of the table, or of an index in its order) is read; a
        Bitmap Heap Scan searches through the index its Bitmap Index Scans name."""
        step_id, parent, node = int(row[0]), int(row[1]), row[2]
        node_type = str(node["Node Type"])
        table = node.get("Relation Name")
        index = node.get("Index Name")
        op: str | None = None
        if node_type in _INDEX_SCANS:
            op = "SEARCH" if "Index Cond" in node else "SCAN"
        elif node_type in _SCANS:
            op = "SEARCH" if node_type == "Tid Scan" else "SCAN"
        elif node_type == "Bitmap Heap Scan":
            op, index = "SEARCH", _first_index(node)
        elif node_type == "Bitmap Index Scan":
            op = "SEARCH"
        detail = node_type + (f" using {index}" if index else "")
        if table:
            alias = node.get("Alias")
            detail += f" on {table}" + (f" {alias}" if alias and alias != table else "")
        return PlanStep(
            id=step_id,
            parent=parent,
            detail=detail,
            op=op,
            table=table,
            index=index,
            covering=node_type == "Index Only Scan",
            temp_sort=node_type in _SORTS,
            node_type=node_type,
        )

    # -- DDL from the models' declarations ------------------------------------------------

    def create_table_sql(self, model: type[BaseModel]) -> str:
        return postgresql_ddl.create_table_sql(model)

    def add_column_sql(self, model: type[BaseModel], name: str) -> str:
        column = postgresql_ddl.column_ddl(name, model.field(name))
        return f"ALTER TABLE {quote_identifier(model.get_table_name())} ADD COLUMN {column}"

    def column_type(self, column: Column) -> str:
        return REPORTED_TYPES[column.type]

    def create_index_sql(self, model: type[BaseModel], spec: IndexSpec) -> str:
        return postgresql_ddl.create_index_sql(postgresql_ddl.pg_index(model, spec))

    def create_index_online_sql(self, model: type[BaseModel], spec: IndexSpec, name: str) -> str:
        """CREATE INDEX CONCURRENTLY under ``name``: the table takes reads and writes
        while it builds (it waits, within lock_timeout, for the transactions older than
        it); interrupted or failed, it leaves an invalid index of that name behind."""
        index = postgresql_ddl.pg_index(model, spec)
        return postgresql_ddl.create_index_sql(index, concurrently=True, name=name)

    def drop_index_sql(self, name: str, online: bool = False) -> str:
        how = "DROP INDEX CONCURRENTLY IF EXISTS" if online else "DROP INDEX IF EXISTS"
        return f"{how} {quote_identifier(name)}"

    def rename_index_sql(self, old: str, new: str) -> str:
        return f"ALTER INDEX {quote_identifier(old)} RENAME TO {quote_identifier(new)}"

    def storage_differences(self, conn: Connection, model: type[BaseModel]) -> list[str]:
        oid = self._table_oid(conn, model.get_table_name())
        if oid is None:
            return []
        row = (
            self.tuple_cursor(conn)
            .execute("SELECT reloptions FROM pg_catalog.pg_class WHERE oid = %s", (oid,))
            .fetchone()
        )
        return postgresql_ddl.storage_differences(model, row[0])

    def set_storage_sql(self, model: type[BaseModel]) -> str | None:
        return postgresql_ddl.set_storage_sql(model)

    # -- upgrades among several processes ---------------------------------------------------

    @contextmanager
    def upgrade_lock(self, connect: Callable[[], Connection]) -> Iterator[None]:
        """A session advisory lock on a connection of its own, asked for with
        ``pg_try_advisory_lock`` every 0.1 to 1 s until it is free, never waited for in
        ``pg_advisory_lock``: a session blocked there holds a snapshot, which the
        holder's CREATE INDEX CONCURRENTLY waits for, and the two would deadlock. Between
        two polls the waiting session is idle (no snapshot, no transaction). Released
        at the end; a process that dies loses it with its session."""
        conn = connect()
        try:
            cursor = self.tuple_cursor(conn)
            started = time.monotonic()
            next_log = started
            delay = UPGRADE_POLL_S[0]
            waited = False
            while True:
                taken = cursor.execute(
                    f"SELECT pg_catalog.pg_try_advisory_lock({_UPGRADE_LOCK_ARGS})",
                    (UPGRADE_LOCK_KEY,),
                ).fetchone()[0]
                if taken:
                    break
                now = time.monotonic()
                if now >= next_log:
                    holder = self._upgrade_lock_holder(conn)
                    logger.info(
                        "waiting for another process's schema upgrade to finish%s (waited %.0f s)",
                        f" ({holder})" if holder else "",
                        now - started,
                    )
                    next_log = now + UPGRADE_LOG_EVERY_S
                waited = True
                time.sleep(delay)
                delay = min(delay * 2, UPGRADE_POLL_S[1])
            if waited:
                logger.info(
                    "the other schema upgrade finished after %.1f s; checking the schema",
                    time.monotonic() - started,
                )
            yield
        finally:
            try:
                if not getattr(conn, "closed", False):
                    conn.execute(
                        f"SELECT pg_catalog.pg_advisory_unlock({_UPGRADE_LOCK_ARGS})",
                        (UPGRADE_LOCK_KEY,),
                    )
            finally:
                conn.close()

    def _upgrade_lock_holder(self, conn: Connection) -> str:
        """``pid N (application, host)`` of the session holding the upgrade lock, or ""."""
        row = (
            self.tuple_cursor(conn)
            .execute(
                "SELECT l.pid, a.application_name, a.client_addr::text "
                "FROM pg_catalog.pg_locks AS l "
                "LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                "AND l.database = (SELECT oid FROM pg_catalog.pg_database "
                "WHERE datname = pg_catalog.current_database()) "
                "AND l.classid = %s::bigint::oid "
                "AND l.objid = (pg_catalog.hashtext(coalesce(pg_catalog.current_schema(), ''))"
                "::bigint & 4294967295)::oid",
                (UPGRADE_LOCK_KEY,),
            )
            .fetchone()
        )
        if row is None:
            return ""
        return f"server pid {row[0]}, {row[1] or 'no application name'}, from {row[2] or 'local'}"

    def lock_holders(self, conn: Connection, tables: Sequence[str]) -> list[str]:
        """Other sessions' granted locks on ``tables`` (of the current schema), as
        ``pid N (application, state for S s) holds MODE on TABLE``, oldest first."""
        rows = self.tuple_cursor(conn).execute(
            "SELECT l.pid, a.application_name, a.state, "
            "extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::int, "
            "l.mode, c.relname "
            "FROM pg_catalog.pg_locks AS l "
            "JOIN pg_catalog.pg_class AS c ON c.oid = l.relation "
            "LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid "
            f"WHERE l.granted AND l.pid <> pg_catalog.pg_backend_pid() "
            f"AND c.relnamespace = {_SCHEMA} AND c.relname = ANY (%s) "
            "ORDER BY a.xact_start NULLS LAST, l.pid, c.relname",
            (list(tables),),
        )
        return [
            f"pid {pid} ({app or 'no application name'}, {state or 'unknown state'} "
            f"for {age if age is not None else '?'} s) holds {mode} on {table}"
            for pid, app, state, age, mode, table in rows.fetchall()
        ]

    def index_differences(
        self, conn: Connection, model: type[BaseModel], spec: IndexSpec, info: IndexInfo
    ) -> list[str]:
        found = [] if info.valid else ["invalid (an interrupted concurrent build)"]
        return found + postgresql_ddl.index_differences(
            conn, postgresql_ddl.pg_index(model, spec), info
        )

    # -- derived tables (trigger DDL) ---------------------------------------------------

    def search_column(
        self, table: str, columns: Sequence[str], key: str
    ) -> postgresql_ddl.SearchColumn:
        return postgresql_ddl.search_column(table, columns, key)

    def search_index_sql(
        self, table: str, columns: Sequence[str], name: str, online: bool = False
    ) -> str | None:
        """A GIN index over the stored document column (search_column), not over an
        expression: the search reads the column, whose value the trigger computed."""
        how = "CREATE INDEX CONCURRENTLY" if online else "CREATE INDEX"
        column = quote_identifier(postgresql_ddl.SEARCH_COLUMN)
        return f"{how} {quote_identifier(name)} ON {quote_identifier(table)} USING gin ({column})"

    def search_index_differences(
        self, conn: Connection, table: str, columns: Sequence[str], name: str
    ) -> list[str]:
        """An index over anything but the plain document column (the previous releases'
        expression index over the searched columns, say) differs."""
        info = self.index_info(conn, name)
        if info is None:
            return ["missing"]
        found = []
        if info.table != table:
            found.append(f"on table {info.table}, declared on {table}")
        keys = tuple(column for column, _ in info.columns)
        if keys != (postgresql_ddl.SEARCH_COLUMN,):
            expression = postgresql_ddl.index_expression(conn, name)
            actual = f"expression {expression}" if expression else f"columns {keys}"
            found.append(f"{actual}, declared column {postgresql_ddl.SEARCH_COLUMN}")
        if info.predicate is not None:
            found.append(f"predicate {info.predicate}, declared none")
        if info.include:
            found.append(f"included columns {info.include}, declared none")
        return found

    def search_condition(self, table: str, columns: Sequence[str]) -> str:
        # plainto_tsquery reads no operator: every word must appear, whatever the text.
        # The matching ids are gathered first, through the GIN index (an InitPlan run
        # once): a bare ``@@`` term lets the planner walk the created_at index checking
        # every row's document when it overestimates a rare word (6 s at 1M jobs for a
        # word in one title when each row's tsvector was computed, 0.3 ms this way:
        # docs/indexes.md).
        t = quote_identifier(table)
        match = f"{quote_identifier(postgresql_ddl.SEARCH_COLUMN)} @@ plainto_tsquery('simple', ?)"
        return f"id = ANY(ARRAY(SELECT id FROM {t} WHERE {match}))"

    def search_value(self, words: Sequence[str]) -> str:
        return " ".join(words)

    def search_walk_sql(self, table: str, columns: Sequence[str], where: str, order: str) -> str:
        # The list's own index walk, each row's stored words checked as it comes (the
        # column makes that a lookup, not a parse: docs/indexes.md); the subquery's
        # LIMIT bounds the walk, the outer one stops it at the page.
        listing = f"SELECT * FROM {quote_identifier(table)}{' WHERE ' + where if where else ''}"
        listing += f"{order} LIMIT ?"
        return f"SELECT * FROM ({listing}) AS listed WHERE {_SEARCH_MATCH}{order} LIMIT ?"

    def search_gather_sql(self, table: str, columns: Sequence[str], where: str, order: str) -> str:
        # Materialized, so the planner cannot answer the ORDER BY by walking the list's
        # index and checking every row (unbounded when it takes a rare word for a
        # common one): the matches come from the GIN index, then are sorted.
        terms = " AND ".join(t for t in (_SEARCH_MATCH, where) if t)
        return (
            f"WITH matching AS MATERIALIZED (SELECT * FROM {quote_identifier(table)} "
            f"WHERE {terms}) SELECT * FROM matching{order} LIMIT ?"
        )

    def counter(self, table: str, column: str) -> Derived:
        return postgresql_ddl.counter(table, column)

    def orphans(self, child: str, column: str, parent: str, key: str) -> Derived:
        return postgresql_ddl.orphans(child, column, parent, key)

    def trigger_sql(self, trigger: Trigger) -> str:
        return postgresql_ddl.trigger_signature(trigger)

    def stored_trigger_sql(self, conn: Connection, name: str) -> str | None:
        row = (
            self.tuple_cursor(conn)
            .execute(
                "SELECT pg_catalog.obj_description(t.oid, 'pg_trigger'), p.prosrc "
                "FROM pg_catalog.pg_trigger AS t "
                "JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid "
                "JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid "
                f"WHERE c.relnamespace = {_SCHEMA} AND t.tgname = %s AND NOT t.tgisinternal",
                (name,),
            )
            .fetchone()
        )
        return None if row is None else f"{row[0] or ''}\n{row[1]}"

    def replace_trigger(self, conn: Connection, trigger: Trigger) -> None:
        for statement in postgresql_ddl.replace_trigger_sql(trigger):
            conn.execute(statement)

    def compact(self, conn: Connection, item: Derived) -> int:
        """Fold a counts table's delta rows, if no other session is folding it now."""
        if item.kind != "counts":
            return 0
        cursor = self.tuple_cursor(conn)
        taken = cursor.execute(
            "SELECT pg_catalog.pg_try_advisory_xact_lock(%s)",
            (postgresql_ddl.COMPACT_LOCK_KEY,),
        ).fetchone()
        if not taken[0]:
            return 0
        return int(cursor.execute(postgresql_ddl.compact_sql(item)).fetchone()[0])

    # -- the queue -------------------------------------------------------------------------

    claim_lock = " FOR UPDATE SKIP LOCKED"

    @contextmanager
    def pipeline(self, conn: Connection) -> Iterator[None]:
        """psycopg's pipeline mode (libpq 14 or later). An error inside it may surface
        only at the block's end, after the caller's transaction block issued COMMIT
        (which the aborted pipeline never ran): a transaction still open then is rolled
        back here, so the connection goes back to its pool or thread usable."""
        try:
            with conn.pipeline():  # type: ignore[attr-defined]  # psycopg's
                yield
        except BaseException:
            if self.in_transaction(conn):
                conn.execute("ROLLBACK")
            raise

    def notify(self, conn: Connection, channel: str) -> None:
        """``pg_notify(channel, current_schema())``: the payload names the schema, so that
        listeners on another schema of the same database (NOTIFY is per database) know
        the notice is not theirs. PostgreSQL folds identical notices of one transaction
        into one, so a transaction that asks twice still sends one."""
        self.tuple_cursor(conn).execute(
            "SELECT pg_catalog.pg_notify(%s, pg_catalog.current_schema())", (channel,)
        )

    def listen(self, location: Any, channel: str) -> PgListener:
        return PgListener(self.conninfo(location), channel)

    def serialize(self, conn: Connection, key: int) -> None:
        self.tuple_cursor(conn).execute("SELECT pg_catalog.pg_advisory_xact_lock(%s)", (key,))

    # -- statistics, checks, backup, limits -------------------------------------------------

    def _require_table(self, conn: Connection, table: str) -> int:
        oid = self._table_oid(conn, table)
        if oid is None:
            raise ValueError(f"no table {table!r} in the current schema")
        return oid

    def table_size(self, conn: Connection, table: str) -> int:
        """The planner's row count (pg_class.reltuples) or the statistics collector's live
        rows, whichever is larger: both are kept without reading the table."""
        oid = self._require_table(conn, table)
        row = (
            self.tuple_cursor(conn)
            .execute(
                "SELECT c.reltuples, s.n_live_tup FROM pg_catalog.pg_class AS c "
                "LEFT JOIN pg_catalog.pg_stat_user_tables AS s ON s.relid = c.oid "
                "WHERE c.oid = %s",
                (oid,),
            )
            .fetchone()
        )
        return max(int(row[0]), int(row[1] or 0), 0)

    def analyzed_rows(self, conn: Connection, table: str) -> int | None:
        """pg_class.reltuples; -1 (None here) until the first ANALYZE, VACUUM or index build."""
        oid = self._require_table(conn, table)
        row = (
            self.tuple_cursor(conn)
            .execute("SELECT reltuples FROM pg_catalog.pg_class WHERE oid = %s", (oid,))
            .fetchone()
        )
        return None if row[0] < 0 else int(row[0])

    def flush_statistics(self, conn: Connection) -> None:
        """Flush this session's pending statistics (PostgreSQL 15+; only outside a
        transaction: call it before the one that analyzes), else rows it wrote just
        before would be added to the table's live-row estimate again after ANALYZE has
        counted them, and the next start would find the statistics stale (twice the
        rows) and analyze once more."""
        if not self.in_transaction(conn) and conn.info.server_version >= 150000:  # type: ignore[attr-defined]  # psycopg's connection info
            conn.execute("SELECT pg_catalog.pg_stat_force_next_flush()")

    def analyze(self, conn: Connection, table: str) -> None:
        """ANALYZE, this session's pending statistics flushed first where it can be."""
        self.flush_statistics(conn)
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))

    def optimize(self, conn: Connection) -> None:
        """ANALYZE the tables the planner knows nothing of yet (as SQLite's PRAGMA optimize
        analyzes the tables that need it); autovacuum keeps the others' statistics."""
        rows = self.tuple_cursor(conn).execute(
            f"SELECT relname FROM pg_catalog.pg_class "
            f"WHERE relnamespace = {_SCHEMA} AND relkind = 'r' AND reltuples < 0"
        )
        for (table,) in rows.fetchall():
            self.analyze(conn, table)

    def integrity_check(self, conn: Connection, quick: bool, limit: int) -> list[str]:
        """amcheck's checks of every valid B-tree index of the current schema (quick) and,
        in full, of each index against its table and of every table's pages.

        PostgreSQL has no built-in check: the contrib extension amcheck must be
        installed in the database (``CREATE EXTENSION amcheck``, by a superuser);
        without it this raises NotImplementedError saying so."""
        cursor = self.tuple_cursor(conn)
        installed = cursor.execute(
            "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'amcheck'"
        ).fetchone()
        if installed is None:
            raise NotImplementedError(
                "checking a PostgreSQL database needs the amcheck extension: run "
                "CREATE EXTENSION amcheck in this database as a superuser"
            )
        problems: list[str] = []
        indexes = cursor.execute(
            "SELECT ic.oid, ic.relname FROM pg_catalog.pg_index AS i "
            "JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid "
            "JOIN pg_catalog.pg_am AS am ON am.oid = ic.relam "
            f"WHERE ic.relnamespace = {_SCHEMA} AND am.amname = 'btree' AND i.indisvalid "
            "ORDER BY ic.relname"
        ).fetchall()
        for oid, name in indexes:
            try:
                with conn.transaction():  # type: ignore[attr-defined]  # psycopg's
                    cursor.execute("SELECT bt_index_check(%s::oid::regclass, %s)", (oid, not quick))
            except psycopg.Error as exc:
                problems.append(f"index {name}: {exc.diag.message_primary or exc}")
        if not quick:
            tables = cursor.execute(
                f"SELECT oid, relname FROM pg_catalog.pg_class "
                f"WHERE relnamespace = {_SCHEMA} AND relkind = 'r' ORDER BY relname"
            ).fetchall()
            for oid, name in tables:
                found = cursor.execute(
                    "SELECT blkno, offnum, msg FROM verify_heapam(%s::oid::regclass)", (oid,)
                ).fetchall()
                problems.extend(f"table {name} page {b} item {o}: {m}" for b, o, m in found)
        return problems[: max(int(limit), 1)] or ["ok"]

    def backup(self, source: Connection, target: Path) -> tuple[int, list[str]]:
        raise NotImplementedError(
            "a PostgreSQL database is not backed up to a file by collector; use pg_dump"
        )

    def copy_in(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        key: str,
    ) -> int:
        """``COPY ... FROM STDIN`` (text format: the server parses each value as its
        column's type). COPY has no ON CONFLICT: if a row's key is already there (a
        resumed copy whose last batch was committed after all), the COPY is undone to a
        savepoint and the rows go in again by ``INSERT ... ON CONFLICT DO NOTHING``."""
        if not rows:
            return 0
        target = sql.Identifier(table)
        names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        conn.execute("SAVEPOINT copy_in")
        try:
            with conn.cursor() as cursor:  # type: ignore[attr-defined]  # psycopg's
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, names)
                with cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
        except psycopg.errors.UniqueViolation:
            conn.execute("ROLLBACK TO SAVEPOINT copy_in")
        else:
            conn.execute("RELEASE SAVEPOINT copy_in")
            return len(rows)
        conn.execute("RELEASE SAVEPOINT copy_in")
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING").format(
            target,
            names,
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            sql.Identifier(key),
        )
        with conn.cursor() as cursor:  # type: ignore[attr-defined]  # psycopg's
            cursor.executemany(insert, rows)  # rowcount: the rows of every execution
            return int(cursor.rowcount)

    def array_insert_sql(
        self, table: str, columns: Sequence[tuple[str, str]], where: str | None = None
    ) -> str | None:
        """``INSERT ... SELECT * FROM unnest(?::text[], ?::timestamptz[], ...)``: a
        VALUES list of 10 rows of 28 columns is 280 parameters, past what psycopg caches
        (50), so every batch was parsed again on both sides; this is 28 at any size."""
        names = ", ".join(quote_identifier(name) for name, _ in columns)
        arrays = ", ".join(f"?::{postgresql_ddl.PG_TYPES[kind]}[]" for _, kind in columns)
        source = f"unnest({arrays})"
        if where is not None:
            source += f" AS new ({names}) WHERE {where}"
        return f"INSERT INTO {quote_identifier(table)} ({names}) SELECT * FROM {source}"

    def bulk_load(
        self, conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> int | None:
        """``COPY ... FROM STDIN`` (text format: the server parses each value as its
        column's type; timestamps are naive UTC text and sessions run in UTC)."""
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        with conn.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]  # psycopg's
            for row in rows:
                copy.write_row(row)
        return len(rows)

    def engine_version(self, conn: Connection) -> str:
        """The server's version ("PostgreSQL 15.8"), and the driver's."""
        row = self.tuple_cursor(conn).execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0].split()[0]} ({self.version})"

    def bulk_build(self, conn: Connection, on: bool) -> None:
        """``maintenance_work_mem`` (the default 64MB sorts a million-row index on disk)."""
        if on:
            conn.execute(
                "SELECT pg_catalog.set_config('maintenance_work_mem', %s, false)",
                (BULK_BUILD_MEMORY,),
            )
        else:
            conn.execute("RESET maintenance_work_mem")

    def timestamp_text(self, expression: str) -> str:
        """timestamptz as the stored text of SQLite (naive UTC, microseconds)."""
        return f"pg_catalog.to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"

    def database_identity(self, conn: Connection) -> str:
        """The server (its port and when it started: the same for every address it
        answers on, and no two servers share both), the database and the schema."""
        row = (
            self.tuple_cursor(conn)
            .execute(
                "SELECT pg_catalog.current_setting('port'), pg_catalog.pg_postmaster_start_time(), "
                "pg_catalog.current_database(), pg_catalog.current_schema()"
            )
            .fetchone()
        )
        port, started, database, schema = row
        return f"postgresql://:{port}@{started.isoformat()}/{database}/{schema}"

    def max_variables(self, conn: Connection) -> int:
        return MAX_BIND_PARAMETERS

    def data_version(self, conn: Connection) -> int:
        raise NotImplementedError(
            "PostgreSQL has no data_version counter (features.data_version is False); "
            "idle workers are to be woken with LISTEN/NOTIFY"
        )

    def table_sizes(self, conn: Connection) -> dict[str, int] | None:
        """Bytes per table (with its TOAST, free space and visibility maps) and per index
        of the current schema, largest first."""
        rows = (
            self.tuple_cursor(conn)
            .execute(
                "SELECT relname, CASE relkind WHEN 'i' THEN pg_catalog.pg_relation_size(oid) "
                "ELSE pg_catalog.pg_table_size(oid) END AS size "
                "FROM pg_catalog.pg_class "
                f"WHERE relnamespace = {_SCHEMA} AND relkind IN ('r', 'i') "
                "ORDER BY size DESC, relname"
            )
            .fetchall()
        )
        return {name: int(size) for name, size in rows}


class PgListener:
    """One connection of its own (not the pool's: a pooled session must not keep a LISTEN
    when it is handed to another thread) that LISTENs on one channel."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self.channel = channel
        self.conn = psycopg.Connection.connect(conninfo, autocommit=True)
        try:
            row = self.conn.execute("SELECT pg_catalog.current_schema()").fetchone()
            self.schema = row[0] if row else None
            self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except psycopg.Error:
            self.conn.close()
            raise
        self.backend_pid: int | None = self.conn.info.backend_pid

    def wait(self, timeout: float) -> int:
        """Up to ``timeout`` s for the first notice of this schema, then the ones already
        arrived with it, without waiting again (a burst is read in one call)."""
        deadline = time.monotonic() + max(0.0, timeout)
        count = 0
        while True:
            left = 0.0 if count else max(0.0, deadline - time.monotonic())
            came = False
            for notice in self.conn.notifies(timeout=left, stop_after=1):
                came = True
                count += notice.payload == self.schema
            if not came or (not count and time.monotonic() >= deadline):
                return count

    def close(self) -> None:
        self.conn.close()


def _first_index(node: dict[str, Any]) -> str | None:
    """The first index named under ``node`` (a bitmap scan's Bitmap Index Scans)."""
    for child in node.get("Plans", ()):
        found = child.get("Index Name") or _first_index(child)
        if found:
            return str(found)
    return None
