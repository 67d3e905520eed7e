"""The SQLite dialect: the one module that speaks to ``sqlite3``.

Connections are opened in autocommit mode (transactions are explicit and short:
``BEGIN IMMEDIATE`` for writes, SAVEPOINTs when nested) and configured once: WAL
journal, a busy timeout so a locked database waits instead of failing, foreign keys
on. The schema is read back through PRAGMAs and ``sqlite_master``, plans through
EXPLAIN QUERY PLAN, statistics through ``sqlite_stat1``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collector.models.quoting import quote_identifier

from . import sqlite_ddl
from .base import (
    BUSY,
    DAMAGED,
    FULL,
    NOT_A_DATABASE,
    ColumnInfo,
    Connection,
    Derived,
    Dialect,
    Features,
    IndexInfo,
    PlanStep,
    Trigger,
    search_table,
)

if TYPE_CHECKING:
    from collector.models.base import BaseModel
    from collector.models.fields import Column, IndexSpec

# The tables an FTS5 table keeps its index in, named after it.
FTS5_SHADOWS = ("data", "idx", "docsize", "config", "content")
# Rows to one INSERT statement of copy_in: past ~50 the per-statement cost is gone.
COPY_ROWS_PER_INSERT = 100
SQLITE_HEADER = b"SQLite format 3\x00"
# SQLite's primary result codes (the low byte of an extended code).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 5, 6, 11, 13, 26

# SQLite spells plan steps differently across versions (``SCAN TABLE jobs`` before
# 3.36, ``SCAN jobs`` after; ``AS alias`` before, the bare alias after), so each
# step's text is parsed into fields once, here, and checks work on the fields.
_STEP = re.compile(
    r"^(?P<op>SCAN|SEARCH)\s+(?:TABLE\s+)?(?P<table>\S+)(?:\s+AS\s+(?P<alias>\S+))?"
    r"(?:\s+USING\s+(?P<covering>COVERING\s+)?INDEX\s+(?P<index>\S+)"
    r"|\s+USING\s+(?P<rowid>(?:INTEGER\s+)?PRIMARY\s+KEY)"
    r"|\s+VIRTUAL\s+TABLE\s+INDEX\s+(?P<virtual>\S+))?"
)
# A step that produces a subquery's rows for the steps that scan it by this name.
_SUBQUERY = re.compile(r"^(?:CO-ROUTINE|MATERIALIZE)\s+(?P<name>\S+)")
# An FTS5 table's plan index ("0:M2"): an M is a MATCH the FTS index answers.
_FTS_MATCH = re.compile(r"^\d+:.*M")


class SQLiteDialect(Dialect):
    name = "sqlite"
    display_name = "SQLite"
    placeholder = "?"
    features = Features(file_based=True, partial_indexes=True, data_version=True, table_sizes=True)
    Error = sqlite3.Error
    DatabaseError = sqlite3.DatabaseError
    catalog_tables = frozenset({"sqlite_master", "sqlite_schema"})
    version = sqlite3.sqlite_version

    def __init__(self) -> None:
        # Databases this process has opened a connection to. Their header is not read
        # again: closing any descriptor of a file drops every POSIX lock the process
        # holds on it, so reading the header while a connection is open (a new
        # connection per web request, the worker's kept one) would take the open
        # connections' shared lock away. Another process closing its connection would
        # then checkpoint and delete the -wal and -shm files still in use here, and
        # this process would stop seeing the other's writes.
        self._connected: set[Path] = set()

    # -- connections and transactions ------------------------------------------------

    def owns(self, conn: object) -> bool:
        return isinstance(conn, sqlite3.Connection)

    def check_path(self, path: Path) -> str | None:
        if path.is_dir():
            return f"{path} is a directory, not an SQLite database"
        if path.resolve() in self._connected:
            return None
        if path.exists() and path.stat().st_size > 0:
            with path.open("rb") as fh:
                if fh.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                    return f"{path} is not an SQLite database"
        return None

    def open(self, path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def configure(self, conn: Connection, path: Path, busy_timeout_ms: int) -> None:
        try:
            # PRAGMA values cannot be bound; this one is a validated int.
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Statement journals (one per write that fires triggers) stay in memory.
            conn.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.Error:
            conn.close()
            raise
        self._connected.add(path.resolve())

    def connect_raw(self, path: Path) -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None)

    def tuple_cursor(self, conn: Connection) -> sqlite3.Cursor:
        cursor = conn.cursor()
        cursor.row_factory = None  # no per-row sqlite3.Row object
        return cursor

    def begin_write(self, conn: Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def in_transaction(self, conn: Connection) -> bool:
        return bool(conn.in_transaction)  # type: ignore[attr-defined]  # sqlite3.Connection's

    def classify(self, exc: BaseException) -> str | None:
        if not isinstance(exc, sqlite3.DatabaseError):
            return None
        message = str(exc)
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code in (SQLITE_BUSY, SQLITE_LOCKED) or (
            not code and ("locked" in message or "busy" in message)
        ):
            return BUSY
        if code == SQLITE_CORRUPT or (not code and "malformed" in message):
            return DAMAGED
        if code == SQLITE_FULL or (not code and "is full" in message):
            return FULL
        if code == SQLITE_NOTADB or (not code and "not a database" in message):
            return NOT_A_DATABASE
        return None

    # -- introspection ---------------------------------------------------------------

    def table_names(self, conn: Connection) -> set[str]:
        rows = conn.execute(
            "SELECT name, sql LIKE 'CREATE VIRTUAL TABLE%' FROM sqlite_master "
            "WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        names = {row[0] for row in rows}
        # A virtual table's shadow tables (FTS5's _data, _idx, ...) are its engine's own.
        shadows = {f"{row[0]}_{suffix}" for row in rows if row[1] for suffix in FTS5_SHADOWS}
        return names - shadows

    def table_columns(self, conn: Connection, table: str) -> list[ColumnInfo]:
        rows = conn.execute(
            'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)', (table,)
        )
        return [ColumnInfo(r[0], r[1], bool(r[2]), r[3], bool(r[4])) for r in rows]

    def index_info(self, conn: Connection, name: str) -> IndexInfo | None:
        """SQLite's index names ignore case."""
        row = conn.execute(
            "SELECT tbl_name, name FROM sqlite_master "
            "WHERE type = 'index' AND name = ? COLLATE NOCASE",
            (name,),
        ).fetchone()
        if row is None:
            return None
        for info in self.table_indexes(conn, row[0]):
            if info.name == row[1]:
                return info
        return None

    def table_indexes(self, conn: Connection, table: str) -> list[IndexInfo]:
        result = []
        listing = conn.execute(
            'SELECT name, "unique", origin, partial FROM pragma_index_list(?) ORDER BY name',
            (table,),
        ).fetchall()
        for name, unique, origin, partial in listing:
            keys = conn.execute(
                'SELECT name, "desc", coll FROM pragma_index_xinfo(?) '
                'WHERE "key" = 1 ORDER BY seqno',
                (name,),
            ).fetchall()
            sql_row = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
            ).fetchone()
            result.append(
                IndexInfo(
                    name=name,
                    table=table,
                    unique=bool(unique),
                    origin=origin,
                    partial=bool(partial),
                    columns=tuple((k[0], bool(k[1])) for k in keys),
                    collations=tuple(k[2] for k in keys),
                    sql=sql_row[0] if sql_row else None,
                )
            )
        return result

    def index_definitions(self, conn: Connection, table: str) -> list[tuple[str, str | None]]:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "ORDER BY name",
            (table,),
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

    # -- plans -------------------------------------------------------------------------

    def explain(self, conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[PlanStep]:
        """EXPLAIN QUERY PLAN, with the schema version in a comment.

        Python's sqlite3 caches prepared statements by their text, and SQLite does not
        re-prepare a cached EXPLAIN after the schema changes (an EXPLAIN program never
        checks the schema cookie). The schema version in a comment makes the text, and
        so the cache entry, new whenever the schema is.
        """
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        statement = f"EXPLAIN QUERY PLAN /* schema {int(version)} */ {sql}"
        steps = [self.parse_plan_row(row) for row in conn.execute(statement, params)]
        # A scan of a subquery's rows (its co-routine or its materialized copy) reads
        # what that subquery's own steps read, not a table: it is no table scan.
        results = {m["name"] for s in steps if (m := _SUBQUERY.match(s.detail))}
        return [s._replace(table=None) if s.table in results else s for s in steps]

    def parse_plan_row(self, row: Sequence[Any]) -> PlanStep:
        """One EXPLAIN QUERY PLAN row (id, parent, notused, detail) as a PlanStep."""
        step_id, parent, detail = int(row[0]), int(row[1]), str(row[-1])
        temp_sort = detail.startswith("USE TEMP B-TREE FOR") and (
            "ORDER BY" in detail or "GROUP BY" in detail
        )
        match = _STEP.match(detail)
        if not match:
            return PlanStep(step_id, parent, detail, None, None, None, False, temp_sort)
        table = match["alias"] or match["table"]
        index = match["index"] or (match["rowid"] and "PRIMARY KEY")
        if match["virtual"] and _FTS_MATCH.match(match["virtual"]):
            # A full-text table answering MATCH through its own index: named by the
            # table, as PostgreSQL's plans name its GIN index.
            index = match["table"]
        return PlanStep(
            step_id, parent, detail, match["op"], table, index, bool(match["covering"]), temp_sort
        )

    # -- DDL from the models' declarations ------------------------------------------------

    def create_table_sql(self, model: type[BaseModel]) -> str:
        return model.get_create_table_sql()

    def add_column_sql(self, model: type[BaseModel], name: str) -> str:
        column = model.field(name).ddl(name)
        return f"ALTER TABLE {quote_identifier(model.get_table_name())} ADD COLUMN {column}"

    def column_type(self, column: Column) -> str:
        return column.type

    def create_index_sql(self, model: type[BaseModel], spec: IndexSpec) -> str:
        return spec.create_sql(if_not_exists=False)

    def index_differences(
        self, conn: Connection, model: type[BaseModel], spec: IndexSpec, info: IndexInfo
    ) -> list[str]:
        return sqlite_ddl.index_differences(spec, info)

    # -- derived tables (trigger DDL) ---------------------------------------------------

    def counter(self, table: str, column: str) -> Derived:
        return sqlite_ddl.counter(table, column)

    def search_derived(self, table: str, columns: Sequence[str]) -> Derived | None:
        return sqlite_ddl.search(table, columns)

    def search_condition(self, table: str, columns: Sequence[str]) -> str:
        fts = quote_identifier(search_table(table))
        return f"rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)"

    def search_walk_sql(self, table: str, columns: Sequence[str], where: str, order: str) -> str:
        # The list's rowids come from its own index alone (a covering walk), each probed
        # against the matching rowids of the FTS table, read once; only the rows kept
        # are read from the table. The FTS table gives only matches from the lowest
        # rowid the walk can reach up: rowids follow insertion, so for a word in most
        # rows that is about as many as the walk reads, not every one in the table
        # (any lower bound of the walked rowids is right; this one is just tight).
        # The middle query keeps the first rows the walk yields, in the walk's order:
        # SQLite runs the listing as a co-routine (a test holds the plan to that), and
        # a sort there would read all of it.
        t, fts = quote_identifier(table), quote_identifier(search_table(table))
        listing = f"SELECT rowid AS r FROM {t}{' WHERE ' + where if where else ''}{order} LIMIT ?"
        matching = (
            f"SELECT rowid FROM {fts} WHERE {fts} MATCH ? AND rowid >= (SELECT min(r) FROM listed)"
        )
        return (
            f"WITH listed AS NOT MATERIALIZED ({listing}) "
            f"SELECT * FROM {t} WHERE rowid IN (SELECT listed.r FROM listed "
            f"WHERE listed.r IN ({matching}) LIMIT ?){order}"
        )

    def search_value(self, words: Sequence[str]) -> str:
        # Each word an FTS5 string: every word must appear, no operator is read.
        return " ".join('"' + word.replace('"', '""') + '"' for word in words)

    def orphans(self, child: str, column: str, parent: str, key: str) -> Derived:
        return sqlite_ddl.orphans(child, column, parent, key)

    def trigger_sql(self, trigger: Trigger) -> str:
        return f"CREATE TRIGGER {quote_identifier(trigger.name)} {trigger.body}"

    def stored_trigger_sql(self, conn: Connection, name: str) -> str | None:
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (name,)
        ).fetchone()
        return None if row is None else row[0]

    def replace_trigger(self, conn: Connection, trigger: Trigger) -> None:
        conn.execute(f"DROP TRIGGER IF EXISTS {quote_identifier(trigger.name)}")
        conn.execute(self.trigger_sql(trigger))

    def stored_table_sql(self, conn: Connection, name: str) -> str | None:
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return None if row is None else row[0]

    # -- statistics, checks, backup, limits -------------------------------------------------

    def table_size(self, conn: Connection, table: str) -> int:
        """MAX(rowid): one B-tree descent; the rows a table holds, give or take deletions."""
        rows = conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {quote_identifier(table)}")
        return int(rows.fetchone()[0])

    def analyzed_rows(self, conn: Connection, table: str) -> int | None:
        """Row count in the sqlite_stat1 row of the table's primary-key (or first) index."""
        try:
            rows = conn.execute(
                "SELECT s.stat FROM sqlite_stat1 AS s "
                "JOIN sqlite_master AS m ON m.type = 'index' AND m.name = s.idx "
                "WHERE s.tbl = ? ORDER BY m.name LIKE 'sqlite_autoindex_%' DESC, m.name LIMIT 1",
                (table,),
            ).fetchall()
        except sqlite3.OperationalError:  # no sqlite_stat1 yet: never analyzed
            return None
        return int(rows[0][0].split()[0]) if rows else None

    def analyze(self, conn: Connection, table: str) -> None:
        conn.execute(f"ANALYZE {quote_identifier(table)}")

    def optimize(self, conn: Connection) -> None:
        conn.execute("PRAGMA optimize")

    def integrity_check(self, conn: Connection, quick: bool, limit: int) -> list[str]:
        pragma = "quick_check" if quick else "integrity_check"
        # PRAGMA arguments cannot be bound; this one is an int.
        rows = conn.execute(f"PRAGMA {pragma}({int(limit)})").fetchall()
        return [line for row in rows for line in str(row[0]).splitlines()]

    def backup(self, source: Connection, target: Path) -> tuple[int, list[str]]:
        """SQLite's backup API in one step (pages=-1: all of them, from one snapshot);
        the copy is left one self-contained file (no -wal beside it), quick-checked."""
        with closing(sqlite3.connect(target, isolation_level=None)) as dest:
            source.backup(dest)  # type: ignore[attr-defined]  # sqlite3.Connection's
            dest.execute("PRAGMA journal_mode = DELETE")
            pages = int(dest.execute("PRAGMA page_count").fetchone()[0])
            try:
                lines = self.integrity_check(dest, quick=True, limit=10)
            except sqlite3.DatabaseError as exc:  # damage the check itself cannot get past
                return pages, [str(exc)]
        if lines == ["ok"]:
            return pages, []
        return pages, [line for line in lines if not line.startswith("*** in database")]

    def copy_in(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        key: str,
    ) -> int:
        """Multi-row ``INSERT ... ON CONFLICT (key) DO NOTHING``, up to 100 rows to a
        statement (the repositories' bulk path: docs/indexes.md, "Bulk insert")."""
        if not rows:
            return 0
        width = len(columns)
        per = max(1, min(COPY_ROWS_PER_INSERT, self.max_variables(conn) // width))
        names = ", ".join(quote_identifier(c) for c in columns)
        row = "(" + ", ".join("?" * width) + ")"

        def statement(count: int) -> str:
            return (
                f"INSERT INTO {quote_identifier(table)} ({names}) "
                f"VALUES {', '.join([row] * count)} "
                f"ON CONFLICT ({quote_identifier(key)}) DO NOTHING"
            )

        full = statement(per)
        inserted = 0
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            sql = full if len(chunk) == per else statement(len(chunk))
            inserted += conn.execute(sql, [value for r in chunk for value in r]).rowcount
        return inserted

    def database_identity(self, conn: Connection) -> str:
        for row in conn.execute("PRAGMA database_list").fetchall():
            if row[1] == "main":
                return f"sqlite:{Path(row[2]).resolve() if row[2] else ':memory:'}"
        return "sqlite:?"

    def max_variables(self, conn: Connection) -> int:
        return int(conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))  # type: ignore[attr-defined]  # sqlite3.Connection's

    def data_version(self, conn: Connection) -> int:
        # fetchall: a statement left unfinished would hold a read transaction open,
        # and data_version would then never change.
        rows = conn.execute("PRAGMA data_version").fetchall()
        return int(rows[0][0])

    def table_sizes(self, conn: Connection) -> dict[str, int] | None:
        """From the dbstat virtual table (None where SQLite was built without it)."""
        try:
            rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        except sqlite3.OperationalError:
            return None
        return {name: size for name, size in sorted(rows, key=lambda row: -row[1])}
