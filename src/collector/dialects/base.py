"""The store's engine seam: what every caller may ask of a database engine.

A :class:`Dialect` owns everything that differs between engines (in the spirit of
Django's database backends): opening a configured connection, transaction
statements, placeholders, classifying an engine's errors, reading the schema back,
EXPLAIN and how a plan is read, the DDL of derived tables, planner statistics,
integrity checks, online backup and the bound-variable limit. Callers ask the
dialect (``db.dialect`` or :func:`collector.dialects.dialect_for`) and read its
:class:`Features` flags; they never compare engine names.

The engine's driver (``sqlite3`` today) is imported by its dialect module alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from collector.models.quoting import quote_identifier

if TYPE_CHECKING:
    from collector.models.base import BaseModel
    from collector.models.fields import Column, IndexSpec

# Error kinds a dialect recognises in its engine's exceptions (see Dialect.classify).
BUSY, DAMAGED, FULL, NOT_A_DATABASE = "busy", "damaged", "full", "not a database"
# A value the engine cannot store (PostgreSQL's text takes no NUL character): the
# caller's input, not the database, is at fault.
INVALID_VALUE = "invalid value"
ERROR_KINDS = (BUSY, DAMAGED, FULL, NOT_A_DATABASE, INVALID_VALUE)


class Cursor(Protocol):
    """The part of a DB-API cursor the application uses."""

    rowcount: int
    description: Any

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the application uses."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...

    def cursor(self) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Features:
    """What an engine can do; callers branch on these, never on the engine's name."""

    # One file on this machine: paths, headers, file locks and online page copies.
    file_based: bool
    # Partial indexes (CREATE INDEX ... WHERE).
    partial_indexes: bool
    # A cheap counter that moves when another connection commits (a wake-up check).
    data_version: bool
    # Per-table on-disk sizes can be read (SQLite's dbstat).
    table_sizes: bool
    # integrity_check works with the engine alone (PostgreSQL needs the amcheck extension).
    integrity_check: bool = True
    # Connections are costly to open (a server's): threads borrow them from a pool.
    pooled: bool = False
    # Sessions can wait for a notice another session sends (LISTEN/NOTIFY): see listen().
    notifications: bool = False
    # WITH may hold INSERT/UPDATE/DELETE (several writes in one statement).
    writable_cte: bool = False
    # A statement run outside a transaction is one by itself and commits (PostgreSQL's
    # autocommit sessions), so a lone write needs no BEGIN and COMMIT: two round trips
    # fewer. SQLite's writes open BEGIN IMMEDIATE instead, to wait for the write lock
    # up front rather than fail to upgrade a read lock.
    lone_write_commits: bool = False
    # Statements can be sent together and their results read afterwards (psycopg's
    # pipeline mode, ``Dialect.pipeline``): a transaction of several statements whose
    # parameters do not depend on each other's results costs one round trip.
    pipelined: bool = False
    # An index can be built while the table takes writes (CREATE INDEX CONCURRENTLY,
    # outside any transaction), then swapped in under its name (see
    # Dialect.create_index_sql's ``online``).
    online_index_builds: bool = False
    # The planner weighs plans by the share of rows a filter matches (PostgreSQL): where
    # a filter matches many rows it walks an index in the list's order and filters, or
    # reads a table whole for an unbounded list of a large share of it. SQLite's planner
    # takes the filter's index. Plan contracts say what each query may do under either.
    cost_based_planner: bool = False
    # Every connection enforces foreign keys: no row can name a missing parent, so no
    # orphan can be made behind the application's back (SQLite enforces them per
    # connection, only where PRAGMA foreign_keys is on).
    foreign_keys_always: bool = False
    # Counts tables take insert-only delta rows, folded from time to time (compact).
    delta_counts: bool = False


class ColumnInfo(NamedTuple):
    name: str
    type: str
    notnull: bool
    default: str | None
    pk: bool


class IndexInfo(NamedTuple):
    name: str
    table: str
    unique: bool
    origin: str  # "c" CREATE INDEX, "u" UNIQUE constraint, "pk" primary key
    partial: bool
    columns: tuple[tuple[str | None, bool], ...]  # (column or None for an expression, desc)
    collations: tuple[str, ...]
    sql: str | None
    # Engines that say more (PostgreSQL) fill these; SQLite keeps the defaults.
    predicate: str | None = None  # the partial index's WHERE, as the engine deparses it
    include: tuple[str, ...] = ()  # non-key columns carried by the index (INCLUDE)
    valid: bool = True  # False: an interrupted CREATE INDEX CONCURRENTLY left it unusable
    method: str = "btree"  # the access method (btree, gin, ...)


class PlanStep(NamedTuple):
    """One step of a query plan, read into fields by the engine's dialect."""

    id: int
    parent: int
    detail: str
    op: str | None  # "SCAN", "SEARCH", or None for other steps
    table: str | None  # the table, or its alias where the engine prints only that
    index: str | None
    covering: bool
    temp_sort: bool = False  # a temporary structure sorts (ORDER BY / GROUP BY) the rows
    node_type: str | None = None  # the engine's own name for the step ("Seq Scan"), if any

    @property
    def full_scan(self) -> bool:
        """A scan of a table's rows with no index at all."""
        return self.op == "SCAN" and self.index is None and self.table not in (None, "CONSTANT")


@dataclass(frozen=True)
class Trigger:
    """One trigger of a derived table, in its engine's form.

    ``body`` follows ``CREATE TRIGGER "name"`` (timing, event, ``ON`` table, and on
    SQLite the statements); ``function`` is the trigger function's body where the
    engine's triggers call one (PostgreSQL), else empty.
    """

    name: str
    table: str
    body: str
    function: str = ""


@dataclass(frozen=True)
class Derived:
    """A table kept exact by triggers (counts per value, orphaned keys), in one engine's
    form: its DDL, its triggers and the statements that recompute and read it."""

    table: str
    source: str
    kind: str  # "counts" or "orphans"
    create_sql: str
    triggers: tuple[Trigger, ...]
    columns: str  # the derived table's column list, quoted
    truth_sql: str  # SELECT computing the rows from the source table
    content_sql: str  # SELECT of the rows the derived table stands for
    # Statements recomputing the table where DELETE and INSERT ... SELECT do not (an
    # FTS5 index over another table's rows rebuilds itself with its 'rebuild' command).
    rebuild: tuple[str, ...] = ()
    # True where the table's own definition carries the declaration (an FTS5 table's
    # column list): a stored CREATE other than create_sql means the table is dropped
    # and created anew. Only for tables that hold nothing the rebuild cannot recompute.
    compare_table: bool = False

    def rebuild_sql(self) -> tuple[str, ...]:
        if self.rebuild:
            return self.rebuild
        return (
            f"DELETE FROM {quote_identifier(self.table)}",
            f"INSERT INTO {quote_identifier(self.table)} ({self.columns}) {self.truth_sql}",
        )


@dataclass(frozen=True)
class SearchColumn:
    """A column of a searched table holding each row's words, kept by a row trigger
    (PostgreSQL's tsvector: see postgresql_ddl.search_column), in its engine's form.

    Reconcile adds the column (``add_sql``), installs the trigger unmarked
    (``install_sql``), fills the rows by keyset over the primary key, one batch a
    transaction (``*_batch_sql`` give a batch's last key, ``fill_*_sql`` rewrite the
    rows up to it), and only then marks the trigger (``mark_sql``): the trigger reads
    back as :meth:`Dialect.trigger_sql` gives it once marked, so a fill that was
    interrupted leaves it unmarked, and the next reconcile fills again.
    """

    table: str
    column: str
    add_sql: str  # ALTER TABLE ... ADD COLUMN
    trigger: Trigger
    install_sql: tuple[str, ...]  # (re)create the trigger and its function, unmarked
    mark_sql: str  # mark the trigger complete
    first_batch_sql: str  # the last key of the first batch (placeholder: batch size)
    next_batch_sql: str  # the last key of the batch after a key (after, batch size)
    fill_first_sql: str  # rewrite the rows up to a key (up to)
    fill_next_sql: str  # rewrite the rows after a key up to another (after, up to)
    batch_size: int


def counts_table(table: str, column: str) -> str:
    return f"{table}_{column}_counts"


def orphans_table(table: str, column: str) -> str:
    return f"{table}_orphan_{column}"


def search_table(table: str) -> str:
    """The full-text table over ``table``'s searched columns (SQLite's FTS5)."""
    return f"{table}_search"


def search_index(table: str) -> str:
    """The full-text index over ``table``'s searched columns (PostgreSQL's GIN)."""
    return f"idx_{table}_search"


class Listener(Protocol):
    """A session of its own that waits for notices on one channel (Dialect.listen)."""

    # The server's id of the listening session (for an operator, and tests), if any.
    backend_pid: int | None

    def wait(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for notices meant for this database's schema; how many
        came (0: none). Raises the engine's Error if the session was lost."""
        ...

    def close(self) -> None: ...


class Dialect(ABC):
    """One database engine, as the store uses it."""

    name: str  # the URL scheme: "sqlite"
    display_name: str  # for messages: "SQLite"
    placeholder: str  # the bound-parameter marker: "?"
    version: str  # the engine library's version, for reports
    features: Features
    # The engine's DB-API exception classes (for ``except`` clauses and error handlers).
    Error: type[Exception]
    DatabaseError: type[Exception]
    # Catalogue tables a plan may read whole (they are small by nature).
    catalog_tables: frozenset[str]

    # -- connections and transactions ------------------------------------------------

    @abstractmethod
    def owns(self, conn: object) -> bool:
        """True if ``conn`` is one of this engine's connections."""

    @abstractmethod
    def check_path(self, path: Path) -> str | None:
        """Why ``path`` cannot hold a database of this engine, or None if it may."""

    @abstractmethod
    def open(self, path: Path) -> Connection:
        """A new connection in autocommit mode, rows readable by name (not yet set up)."""

    @abstractmethod
    def configure(self, conn: Connection, path: Path, busy_timeout_ms: int) -> None:
        """Set the session up (on SQLite: busy timeout, foreign keys, WAL, synchronous);
        on failure ``conn`` is closed and the engine's error raised."""

    def connect(self, path: Path, busy_timeout_ms: int) -> Connection:
        """A new connection, opened and set up."""
        conn = self.open(path)
        self.configure(conn, path, busy_timeout_ms)
        return conn

    @abstractmethod
    def connect_raw(self, path: Path) -> Connection:
        """A bare connection (no session set-up, plain tuples): for measuring the engine."""

    def pool(self, location: Any, busy_timeout_ms: int, max_size: int) -> Any:
        """A pool of set-up connections (features.pooled): ``getconn(timeout=)``,
        ``putconn(conn)``, ``close()``."""
        raise NotImplementedError(f"{self.display_name} connections are not pooled")

    @abstractmethod
    def tuple_cursor(self, conn: Connection) -> Any:
        """A cursor whose rows are plain tuples (the fast path for long lists)."""

    @abstractmethod
    def begin_write(self, conn: Connection) -> None:
        """Open a write transaction that holds the write lock from its first statement."""

    @abstractmethod
    def in_transaction(self, conn: Connection) -> bool:
        """True while ``conn`` has a transaction open."""

    @abstractmethod
    def classify(self, exc: BaseException) -> str | None:
        """One of ERROR_KINDS for an engine error about the database itself, else None."""

    # -- introspection ---------------------------------------------------------------

    @abstractmethod
    def table_names(self, conn: Connection) -> set[str]:
        """The application's tables (the engine's own catalogue left out)."""

    @abstractmethod
    def table_columns(self, conn: Connection, table: str) -> list[ColumnInfo]: ...

    @abstractmethod
    def index_info(self, conn: Connection, name: str) -> IndexInfo | None:
        """One index by name, on whatever table it is; None if there is none."""

    @abstractmethod
    def table_indexes(self, conn: Connection, table: str) -> list[IndexInfo]:
        """Every index on ``table``, with its key columns in order, by name."""

    @abstractmethod
    def index_definitions(self, conn: Connection, table: str) -> list[tuple[str, str | None]]:
        """(name, stored SQL or None) of every index on ``table``, by name."""

    def primary_key_index(self, conn: Connection, table: str) -> str | None:
        """The name of the index behind ``table``'s primary key, read from the catalogue
        (``sqlite_autoindex_jobs_1`` on SQLite, ``jobs_pkey`` on PostgreSQL); None if
        the table has none."""
        for info in self.table_indexes(conn, table):
            if info.origin == "pk":
                return info.name
        return None

    # -- plans -------------------------------------------------------------------------

    @abstractmethod
    def explain(self, conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[PlanStep]:
        """The plan the engine would use for ``sql`` with these values, on today's schema."""

    @abstractmethod
    def parse_plan_row(self, row: Sequence[Any]) -> PlanStep:
        """One row of the engine's EXPLAIN output as a PlanStep."""

    # -- DDL from the models' declarations ------------------------------------------------

    @abstractmethod
    def create_table_sql(self, model: type[BaseModel]) -> str:
        """CREATE TABLE IF NOT EXISTS for ``model``, in this engine's types."""

    @abstractmethod
    def add_column_sql(self, model: type[BaseModel], name: str) -> str:
        """ALTER TABLE ... ADD COLUMN for one of ``model``'s columns."""

    @abstractmethod
    def column_type(self, column: Column) -> str:
        """The declared column's type as this engine's introspection reports it."""

    @abstractmethod
    def create_index_sql(self, model: type[BaseModel], spec: IndexSpec) -> str:
        """CREATE INDEX for one declaration (no IF NOT EXISTS), in this engine's best form."""

    def create_index_online_sql(self, model: type[BaseModel], spec: IndexSpec, name: str) -> str:
        """CREATE INDEX for one declaration under the name ``name``, built while the
        table takes writes (features.online_index_builds), run outside any transaction."""
        raise NotImplementedError(f"{self.display_name} cannot build an index online")

    def drop_index_sql(self, name: str, online: bool = False) -> str:
        """DROP INDEX IF EXISTS ``name``; ``online``: without blocking the table's writers,
        outside any transaction (features.online_index_builds)."""
        if online:
            raise NotImplementedError(f"{self.display_name} cannot drop an index online")
        return f"DROP INDEX IF EXISTS {quote_identifier(name)}"

    def rename_index_sql(self, old: str, new: str) -> str:
        """Give the index ``old`` the name ``new`` (features.online_index_builds)."""
        raise NotImplementedError(f"{self.display_name} cannot rename an index")

    def storage_differences(self, conn: Connection, model: type[BaseModel]) -> list[str]:
        """How the table's storage settings differ from ``model.storage`` ([] if the same,
        or where the engine has no such settings: SQLite ignores the declaration)."""
        return []

    def set_storage_sql(self, model: type[BaseModel]) -> str | None:
        """The statement giving an existing table the declared storage settings (None:
        the engine has none)."""
        return None

    # -- upgrades among several processes ---------------------------------------------------

    def upgrade_lock(self, connect: Callable[[], Connection]) -> AbstractContextManager[None]:
        """Held while one process reconciles the schema, so that of processes started at
        once one upgrades and the others wait for it. ``connect`` opens a connection of
        the lock's own. A no-op where a write transaction already excludes every other
        writer of the schema (SQLite)."""
        return nullcontext()

    def lock_holders(self, conn: Connection, tables: Sequence[str]) -> list[str]:
        """Who holds locks on ``tables`` now (other sessions), one phrase each, for an
        error saying what a statement waited for; [] where the engine cannot tell."""
        return []

    @abstractmethod
    def index_differences(
        self, conn: Connection, model: type[BaseModel], spec: IndexSpec, info: IndexInfo
    ) -> list[str]:
        """What differs between a declaration and the index read back ([] if the same)."""

    # -- derived tables (trigger DDL) ---------------------------------------------------

    @abstractmethod
    def counter(self, table: str, column: str) -> Derived:
        """The derived table counting ``table``'s rows per value of ``column``."""

    @abstractmethod
    def orphans(self, child: str, column: str, parent: str, key: str) -> Derived:
        """The derived table of ``child.column`` values naming no ``parent.key`` row."""

    @abstractmethod
    def trigger_sql(self, trigger: Trigger) -> str:
        """What :meth:`stored_trigger_sql` reads back once ``trigger`` is created."""

    @abstractmethod
    def stored_trigger_sql(self, conn: Connection, name: str) -> str | None:
        """The trigger as stored (see trigger_sql), None if there is no such trigger."""

    @abstractmethod
    def replace_trigger(self, conn: Connection, trigger: Trigger) -> None:
        """Drop the trigger if it exists and create it (and its function) anew."""

    def stored_table_sql(self, conn: Connection, name: str) -> str | None:
        """A derived table's CREATE as stored (see Derived.compare_table), None if the
        engine does not keep it (or there is no such table)."""
        return None

    # -- full-text search (a model's ``search`` columns) --------------------------------------

    def search_derived(self, table: str, columns: Sequence[str]) -> Derived | None:
        """The derived table holding ``table``'s words (SQLite's FTS5 table kept by
        triggers), or None where the engine indexes them otherwise (search_index_sql)."""
        return None

    def search_column(self, table: str, columns: Sequence[str], key: str) -> SearchColumn | None:
        """The column of ``table`` that stores its rows' words for search_index_sql's
        index, kept by a trigger (PostgreSQL), or None where the engine keeps no such
        column (SQLite: search_derived's table holds the words)."""
        return None

    def search_index_sql(
        self, table: str, columns: Sequence[str], name: str, online: bool = False
    ) -> str | None:
        """CREATE INDEX ``name`` over ``table``'s words (PostgreSQL's GIN over a tsvector;
        ``online``: CONCURRENTLY), or None where a derived table holds them."""
        return None

    def search_index_differences(
        self, conn: Connection, table: str, columns: Sequence[str], name: str
    ) -> list[str]:
        """What differs between the index ``name`` as it is and search_index_sql's
        ([] if the same, or where the engine keeps no such index)."""
        return []

    @abstractmethod
    def search_condition(self, table: str, columns: Sequence[str]) -> str:
        """A WHERE term with one placeholder, true for the rows of ``table`` whose
        ``columns`` hold every word of :meth:`search_value`'s value."""

    @abstractmethod
    def search_value(self, words: Sequence[str]) -> str:
        """The value bound to search_condition's placeholder for ``words`` (letters and
        digits only: no word carries the engine's query syntax)."""

    # The two statements of a search (repositories/job_repository.py: the walk, then the
    # gather if the walk stopped short of a page).
    # ``where`` is the list's own condition ("" for none: its filters and the cursor's
    # range) and ``order`` its ORDER BY clause; the search value binds where noted.

    @abstractmethod
    def search_walk_sql(self, table: str, columns: Sequence[str], where: str, order: str) -> str:
        """The matching rows among the first rows of the list, in its order. Binds the
        list's values, how many of its rows to read, the search value, then the LIMIT."""

    def search_gather_sql(self, table: str, columns: Sequence[str], where: str, order: str) -> str:
        """Every matching row of the list, read through the full-text structure, then
        sorted. Binds the search value, the list's values, then the LIMIT."""
        terms = " AND ".join(t for t in (self.search_condition(table, columns), where) if t)
        return f"SELECT * FROM {quote_identifier(table)} WHERE {terms}{order} LIMIT ?"

    def compact(self, conn: Connection, item: Derived) -> int:
        """Fold a derived table's rows into as few as it needs; rows removed (0 by default:
        an engine whose counters are updated in place has nothing to fold)."""
        return 0

    # -- the queue -------------------------------------------------------------------------

    # Appended to the claim's inner SELECT: on an engine with row locks, take the rows
    # and skip those another claimer holds (FOR UPDATE SKIP LOCKED); "" where a write
    # transaction already excludes every other writer.
    claim_lock: str = ""

    def pipeline(self, conn: Connection) -> AbstractContextManager[Any]:
        """A block whose statements go to the server together, up to the first whose
        rows are read (and the rest at its end): fewer round trips for a transaction of
        short statements. An error may surface at a later statement or at the block's
        end. Nothing on an engine in the same process (SQLite)."""
        return nullcontext()

    def notify(self, conn: Connection, channel: str) -> None:
        """Tell the sessions listening on ``channel`` that something changed in the current
        schema; inside a transaction it is sent at COMMIT (and not at all on ROLLBACK),
        once however often the transaction asks. A no-op on an engine without
        notifications (features.notifications), whose watchers look for changes."""
        return None

    def listen(self, location: Any, channel: str) -> Listener:
        """A new session of its own listening on ``channel`` (features.notifications)."""
        raise NotImplementedError(f"{self.display_name} has no LISTEN/NOTIFY")

    def serialize(self, conn: Connection, key: int) -> None:
        """Inside a write transaction: wait until no other transaction holds ``key``
        (a check-then-insert that must not race). A no-op where write transactions
        already exclude each other (SQLite's BEGIN IMMEDIATE)."""
        return None

    # -- moving a collection between engines (``collector db copy``) -----------------------

    @abstractmethod
    def copy_in(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        key: str,
    ) -> int:
        """Load ``rows`` (values in ``columns`` order) into ``table`` the engine's fastest
        way, inside the caller's transaction; a row whose ``key`` the table already holds
        is skipped, not compared (``db copy`` compares checksums afterwards). Returns the
        rows inserted."""

    def array_insert_sql(
        self, table: str, columns: Sequence[tuple[str, str]], where: str | None = None
    ) -> str | None:
        """An INSERT of any number of rows into ``table`` that binds one array per column
        (``columns``: name and declared type, in order), so a batch of any size is one
        short statement the driver and the server keep prepared; None where the engine
        has no arrays (the repositories then send multi-row VALUES). ``where`` keeps
        only the rows it holds for, naming a row's values ``new.<column>``."""
        return None

    def bulk_load(
        self, conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> int | None:
        """Load new ``rows`` (values in ``columns`` order) into ``table`` the engine's
        fastest way, inside the caller's transaction (no conflict handling: the keys must
        be new); the rows loaded, or None where the engine has nothing faster than the
        repositories' multi-row INSERT (``Repository.insert_rows``), which the caller uses."""
        return None

    def engine_version(self, conn: Connection) -> str:
        """The engine and its version, as a report names them ("SQLite 3.45.1")."""
        return f"{self.display_name} {self.version}"

    def bulk_build(self, conn: Connection, on: bool) -> None:
        """Give this session more memory for building indexes over a bulk load (``on``),
        or the server's defaults back. A no-op where the engine has no such setting."""
        return None

    def timestamp_text(self, expression: str) -> str:
        """SQL reading the timestamp ``expression`` as stored text: naive UTC with
        microseconds (``2025-02-17 10:00:00.123456``). SQLite stores that text already."""
        return expression

    @abstractmethod
    def database_identity(self, conn: Connection) -> str:
        """What names the database ``conn`` works in, however it was reached: two
        connections with the same identity see the same rows."""

    # -- statistics, checks, backup, limits -------------------------------------------------

    @abstractmethod
    def table_size(self, conn: Connection, table: str) -> int:
        """A cheap estimate of the rows ``table`` holds."""

    @abstractmethod
    def analyzed_rows(self, conn: Connection, table: str) -> int | None:
        """The row count the planner's statistics know, None if never analyzed."""

    def flush_statistics(self, conn: Connection) -> None:
        """Make this session's writes count in the table statistics an ANALYZE in the
        next transaction reads (nothing where the engine keeps no such counts)."""
        return None

    @abstractmethod
    def analyze(self, conn: Connection, table: str) -> None:
        """Refresh the planner's statistics of ``table``."""

    @abstractmethod
    def optimize(self, conn: Connection) -> None:
        """The engine's cheap end-of-upgrade maintenance."""

    @abstractmethod
    def integrity_check(self, conn: Connection, quick: bool, limit: int) -> list[str]:
        """The check's output lines, ``["ok"]`` when nothing is wrong."""

    @abstractmethod
    def backup(self, source: Connection, target: Path) -> tuple[int, list[str]]:
        """Copy the database to the new file ``target`` from one snapshot and check the copy:
        (pages copied, problems found)."""

    @abstractmethod
    def max_variables(self, conn: Connection) -> int:
        """How many values one statement may bind on this connection."""

    @abstractmethod
    def data_version(self, conn: Connection) -> int:
        """A number that changes when another connection commits (features.data_version)."""

    @abstractmethod
    def table_sizes(self, conn: Connection) -> dict[str, int] | None:
        """Bytes on disk per table and index, largest first; None where unavailable."""
