"""The models' declarations as PostgreSQL DDL, and an index compared with its declaration.

The same declarations as on SQLite (:mod:`collector.models`), rendered for PostgreSQL:

- Column types: TEXT is ``text``; INTEGER is ``bigint`` (SQLite's integers are 64-bit,
  and byte counts pass 2**31); REAL is ``double precision``; BLOB is ``bytea``;
  TIMESTAMP is ``timestamptz``. NOT NULL, constant defaults, the primary key and
  foreign keys with their ON DELETE are rendered as declared.
- Partial indexes keep their declared predicate (``status IN (...)``); PostgreSQL
  stores it in its own form (``status = ANY (ARRAY[...])``), which is why predicates
  are compared by asking the server to deparse the declared one (below), not as text.
- A covering index (one that declares every column of its table, as
  ``idx_jobs_active_created`` does so that SQLite never reads the table) keeps only its
  key: the leading columns up to and including the primary key (the keyset order).
  The other columns are not carried, neither as keys nor as ``INCLUDE``: PostgreSQL
  updates a row in place (a HOT update, no index touched) only when no index holds a
  column the update changes, and a worker's progress write changes ``progress``,
  ``bytes_downloaded``, ``current_operation`` and ``updated_at`` once a second per
  running job. INCLUDE of the other columns alone would buy nothing either: the active
  list reads every column, so it could never be an index-only scan and would still
  visit the table. The index stays partial, so it holds the active jobs only.

Comparison is structural: key columns with their order and direction, uniqueness,
access method, included columns, the predicate, and validity (``indisvalid``),
never the index's name or its stored text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..models.base import BaseModel
from ..models.fields import Column, IndexSpec
from ..models.quoting import quote_identifier, quote_literal
from .base import Derived, IndexInfo, SearchColumn, Trigger, counts_table, orphans_table

# A PostgreSQL connection from PostgreSQLDialect (psycopg's, whose transaction() this
# module uses): named by duck type, since only postgresql.py imports the driver.
PgConnection = Any

PG_TYPES = {
    "TEXT": "text",
    "INTEGER": "bigint",
    "REAL": "double precision",
    "BLOB": "bytea",
    "TIMESTAMP": "timestamptz",
}


class PgIndex(NamedTuple):
    """An index declaration in the form PostgreSQL builds it."""

    name: str
    table: str
    keys: tuple[tuple[str, bool], ...]  # (column, descending)
    include: tuple[str, ...]
    unique: bool
    where: str | None  # the declared predicate, as written (not as the server stores it)
    method: str = "btree"


# -- rendering ---------------------------------------------------------------------------


def column_ddl(name: str, column: Column) -> str:
    """One column definition inside CREATE TABLE, for PostgreSQL: the declared one with
    PostgreSQL's type."""
    return column.ddl(name, PG_TYPES[column.type])


def create_table_sql(model: type[BaseModel]) -> str:
    """CREATE TABLE IF NOT EXISTS for ``model``, its columns in declaration order, with
    its declared storage settings (``WITH (fillfactor=85, ...)``)."""
    body = ",\n    ".join(column_ddl(name, model.field(name)) for name in model.field_names())
    sql = f"CREATE TABLE IF NOT EXISTS {quote_identifier(model.get_table_name())} (\n    {body}\n)"
    options = storage_options(model)
    if options:
        sql += f" WITH ({options})"
    return sql


# -- table storage settings (pg_class.reloptions) --------------------------------------------
#
# A model may declare storage settings (``storage = {"fillfactor": 85, ...}``): which
# PostgreSQL takes as the table's storage parameters. fillfactor below 100 leaves room
# on each page, so that an update of a row (a worker's progress, once a second per
# running job) finds space for the new version on the same page: with no indexed column
# changed, that is a HOT update, which touches no index. The autovacuum settings make
# vacuum and analyze visit the table after a fraction of its rows changed, instead of
# the server's default 20% and 10% (200,000 dead versions on a million-row table).

# The storage parameters a model may declare (numbers, all of them).
STORAGE_OPTIONS = (
    "fillfactor",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_threshold",
    "autovacuum_analyze_scale_factor",
    "autovacuum_analyze_threshold",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_vacuum_insert_threshold",
    "autovacuum_vacuum_cost_delay",
    "autovacuum_vacuum_cost_limit",
)


def declared_storage(model: type[BaseModel]) -> dict[str, float]:
    """``model.storage``, checked: known parameter names and numbers only."""
    declared = dict(getattr(model, "storage", {}) or {})
    for name, value in declared.items():
        if name not in STORAGE_OPTIONS:
            raise ValueError(
                f"{model.__name__}.storage: unknown setting {name!r}; valid settings: "
                + ", ".join(STORAGE_OPTIONS)
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{model.__name__}.storage[{name!r}] must be a number, not {value!r}")
    return {name: float(value) for name, value in declared.items()}


def storage_options(model: type[BaseModel]) -> str:
    """The declared settings as ``name=value, ...`` (names checked, values numbers)."""
    declared = dict(getattr(model, "storage", {}) or {})
    declared_storage(model)  # checks
    return ", ".join(f"{name}={declared[name]!r}" for name in declared)


def set_storage_sql(model: type[BaseModel]) -> str | None:
    """ALTER TABLE ... SET (...) with every declared setting; None if none is declared.
    It takes a SHARE UPDATE EXCLUSIVE lock (reads and writes go on) and rewrites
    nothing: a new fillfactor applies to pages filled from then on."""
    options = storage_options(model)
    if not options:
        return None
    return f"ALTER TABLE {quote_identifier(model.get_table_name())} SET ({options})"


def storage_differences(model: type[BaseModel], reloptions: Sequence[str] | None) -> list[str]:
    """How a table's ``pg_class.reloptions`` differ from the model's declaration. Settings
    the model does not declare are left to the operator and not compared."""
    actual: dict[str, str] = {}
    for option in reloptions or ():
        name, _, value = option.partition("=")
        actual[name] = value
    found = []
    for name, value in declared_storage(model).items():
        have = actual.get(name)
        try:
            same = have is not None and float(have) == value
        except ValueError:
            same = False
        if not same:
            found.append(f"{name} {have if have is not None else 'default'}, declared {value:g}")
    return found


def pg_index(model: type[BaseModel], spec: IndexSpec) -> PgIndex:
    """The PostgreSQL form of one of ``model``'s declared indexes (see the module doc)."""
    keys = tuple((column, direction == "DESC") for column, direction in spec.columns)
    if set(spec.column_names) >= set(model.field_names()):
        # Covering: keep the keyset order up to the primary key; carry nothing else.
        names = spec.column_names
        end = names.index(model.primary_key) + 1
        keys = keys[:end]
    return PgIndex(
        name=spec.name,
        table=spec.table,
        keys=keys,
        include=(),
        unique=spec.unique,
        where=spec.where_sql(),
    )


def create_index_sql(index: PgIndex, *, concurrently: bool = False, name: str | None = None) -> str:
    """CREATE [UNIQUE] INDEX [CONCURRENTLY] "name" ON "table" (...) [INCLUDE (...)] [WHERE ...].

    No ``IF NOT EXISTS``: an index of that name may be an invalid leftover of an
    interrupted build, which IF NOT EXISTS would silently keep.
    """
    keys = ", ".join(quote_identifier(col) + (" DESC" if desc else "") for col, desc in index.keys)
    sql = "CREATE UNIQUE INDEX" if index.unique else "CREATE INDEX"
    if concurrently:
        sql += " CONCURRENTLY"
    sql += f" {quote_identifier(name or index.name)} ON {quote_identifier(index.table)}"
    if index.method != "btree":
        sql += f" USING {index.method}"
    sql += f" ({keys})"
    if index.include:
        sql += f" INCLUDE ({', '.join(quote_identifier(col) for col in index.include)})"
    if index.where:
        sql += f" WHERE {index.where}"
    return sql


def indexes_sql(model: type[BaseModel]) -> list[str]:
    """CREATE INDEX for every index ``model`` declares, in declaration order."""
    return [create_index_sql(pg_index(model, spec)) for spec in model.index_specs()]


# -- comparison ----------------------------------------------------------------------------


def normalised_predicate(conn: PgConnection, table: str, column: str, predicate: str) -> str:
    """``predicate`` as the server stores a partial index's WHERE on ``table``.

    The server deparses a predicate into its own form (``IN`` becomes ``= ANY (ARRAY
    [...])``, literals gain casts, terms gain parentheses), and that form depends on
    the column types. So the declared predicate is put through the same deparser: an
    index with it is built on an empty temporary copy of the table's columns (no rows,
    so it costs nothing), read back with ``pg_get_expr`` exactly as introspection reads
    a real index, and rolled back. Both sides are then the server's own text, compared
    for equality.
    """
    body = f"({quote_identifier(column)}) WHERE {predicate}"
    return _deparsed(conn, table, body, "indpred")


def _deparsed(conn: PgConnection, table: str, index_body: str, part: str) -> str:
    """``part`` of pg_index (``indpred``: the WHERE; ``indexprs``: the expressions) of an
    index ``CREATE INDEX ON <copy> <index_body>`` built on an empty temporary copy of
    ``table``, as ``pg_get_expr`` deparses it; all rolled back. ``index_body`` is made of
    declared names, quoted, and the declarations' own constants."""
    if part not in ("indpred", "indexprs"):
        raise ValueError(f"part must be indpred or indexprs, not {part!r}")
    scratch = quote_identifier("collector_deparse_probe")
    with conn.transaction(force_rollback=True):
        conn.execute(
            f"CREATE TEMPORARY TABLE {scratch} (LIKE {quote_identifier(table)}) ON COMMIT DROP"
        )
        conn.execute(f"CREATE INDEX ON pg_temp.{scratch} {index_body}")
        row = conn.execute(
            f"SELECT pg_catalog.pg_get_expr(i.{part}, i.indrelid, true) "
            "FROM pg_catalog.pg_index AS i WHERE i.indrelid = %s::regclass",
            (f"pg_temp.{scratch}",),
        ).fetchone()
    return str(row[0])


def index_expression(conn: PgConnection, name: str) -> str | None:
    """The expressions of the index ``name`` in the current schema, as the server
    deparses them (None: no such index, or one over plain columns)."""
    row = conn.execute(
        "SELECT pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) "
        "FROM pg_catalog.pg_index AS i "
        "JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid "
        "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE c.relname = %s AND n.nspname = pg_catalog.current_schema()",
        (name,),
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def index_differences(conn: PgConnection, index: PgIndex, info: IndexInfo) -> list[str]:
    """What differs between a declaration and the index read from pg_catalog ([] if same)."""
    found = []
    if info.table != index.table:
        found.append(f"on table {info.table}, declared on {index.table}")
    actual_keys = tuple((col, desc) for col, desc in info.columns)
    if actual_keys != index.keys:
        actual_names = tuple(str(col) for col, _ in actual_keys)
        declared_names = tuple(col for col, _ in index.keys)
        if actual_names == declared_names:
            what = "directions"
        elif sorted(actual_names) == sorted(declared_names):
            what = "column order"
        else:
            what = "columns"
        found.append(f"{what} {_keys(actual_keys)}, declared {_keys(index.keys)}")
    if info.include != index.include:
        found.append(
            f"included columns ({', '.join(map(str, info.include))}), "
            f"declared ({', '.join(index.include)})"
        )
    if info.unique != index.unique:
        found.append(f"unique={info.unique}, declared unique={index.unique}")
    if info.method != index.method:
        found.append(f"method {info.method}, declared {index.method}")
    if any(collation not in ("", "default") for collation in info.collations):
        found.append(f"collations {info.collations}, declared the default")
    declared = (
        None
        if index.where is None
        else normalised_predicate(conn, index.table, index.keys[0][0], index.where)
    )
    if info.predicate != declared:
        found.append(f"predicate {info.predicate or 'none'}, declared {declared or 'none'}")
    return found


def _keys(keys: Sequence[tuple[str | None, bool]]) -> str:
    return "(" + ", ".join(f"{c or '<expr>'}{' DESC' if d else ''}" for c, d in keys) + ")"


# -- derived tables ------------------------------------------------------------------------
#
# A counter row per value updated in place (SQLite's design) deadlocks on PostgreSQL:
# rows are locked one by one, so a transition pending -> running (locks "running",
# then "pending") and one running -> completed in another transaction (locks
# "completed", then "running"), or any two transitions a bulk statement makes in
# different orders, can each wait for the other. Here every change only *inserts* a
# delta row ("running", +1), ("pending", -1): an insert into a table without unique
# keys waits for nobody, so transitions never wait on each other at all. A count is
# the SUM of its rows; :func:`compact_sql` folds the rows of each value into one from
# time to time (one folder at a time, under an advisory lock; the rows it folds are
# committed ones, which no transition touches again), so the table stays a few rows.
# Inserts and deletes, which a bulk statement makes by the thousand, are counted once
# per statement from its transition table; a status change, once per row.

# pg_try_advisory_xact_lock keys (one 64-bit space per database, shared with every
# application in it: collector's keys start with the bytes "coll").
COMPACT_LOCK_KEY = 0x636F_6C6C_0000_0001


def _function_body(statement: str) -> str:
    return f"BEGIN {statement} RETURN NULL; END"


def counter(table: str, column: str) -> Derived:
    name = counts_table(table, column)
    t, c, k = quote_identifier(table), quote_identifier(column), quote_identifier(name)
    insert = f'INSERT INTO {k} ({c}, "count")'
    return Derived(
        table=name,
        source=table,
        kind="counts",
        create_sql=f'CREATE TABLE {k} ({c} text NOT NULL, "count" bigint NOT NULL)',
        triggers=(
            Trigger(
                f"trg_{name}_insert",
                table,
                f"AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
                _function_body(f"{insert} SELECT {c}, COUNT(*) FROM new_rows GROUP BY {c};"),
            ),
            Trigger(
                f"trg_{name}_delete",
                table,
                f"AFTER DELETE ON {t} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
                _function_body(f"{insert} SELECT {c}, -COUNT(*) FROM old_rows GROUP BY {c};"),
            ),
            Trigger(
                f"trg_{name}_update",
                table,
                f"AFTER UPDATE OF {c} ON {t} FOR EACH ROW WHEN (OLD.{c} IS DISTINCT FROM NEW.{c})",
                _function_body(f"{insert} VALUES (OLD.{c}, -1), (NEW.{c}, 1);"),
            ),
        ),
        columns=f'{c}, "count"',
        truth_sql=f"SELECT {c}, COUNT(*) FROM {t} GROUP BY {c}",
        content_sql=f'SELECT {c}, SUM("count") FROM {k} GROUP BY {c} HAVING SUM("count") != 0',
    )


def compact_sql(item: Derived) -> str:
    """One statement folding a counts table's committed rows into one per value; it
    returns how many rows fewer the table holds."""
    k = quote_identifier(item.table)
    columns = item.columns
    value = columns.split(",")[0]
    return (
        f"WITH gone AS (DELETE FROM {k} RETURNING {columns}), "
        f'kept AS (INSERT INTO {k} ({columns}) SELECT {value}, SUM("count") FROM gone '
        f'GROUP BY {value} HAVING SUM("count") != 0 RETURNING 1) '
        "SELECT (SELECT COUNT(*) FROM gone) - (SELECT COUNT(*) FROM kept)"
    )


def orphans(child: str, column: str, parent: str, key: str) -> Derived:
    """On PostgreSQL the foreign key is always enforced (SQLite enforces it only on
    connections that turn it on, so old files may name deleted jobs): no file can name
    a missing job, and the table needs no trigger. It exists so that the same queries
    run on both engines, and reconcile still checks that it matches the truth."""
    name = orphans_table(child, column)
    f, c, p = quote_identifier(child), quote_identifier(column), quote_identifier(parent)
    pk, o = quote_identifier(key), quote_identifier(name)
    return Derived(
        table=name,
        source=child,
        kind="orphans",
        create_sql=f"CREATE TABLE {o} ({c} text PRIMARY KEY)",
        triggers=(),
        columns=c,
        truth_sql=f"SELECT {c} FROM {f} AS child GROUP BY {c} "
        f"HAVING NOT EXISTS (SELECT 1 FROM {p} WHERE {p}.{pk} = child.{c})",
        content_sql=f"SELECT {c} FROM {o}",
    )


def trigger_signature(trigger: Trigger) -> str:
    """What identifies a trigger as generated: a digest of its definition (kept as the
    trigger's comment, since the server re-spells the definition it stores), then its
    function's body (which the server keeps verbatim)."""
    digest = hashlib.sha256(f"{trigger.table}\n{trigger.body}".encode()).hexdigest()
    return f"collector:{digest}\n{trigger.function}"


def install_trigger_sql(trigger: Trigger) -> list[str]:
    """The statements that (re)create a trigger and its function, not yet marked as
    generated (no comment): :func:`trigger_signature` does not match it until
    :func:`mark_trigger_sql` runs."""
    name, table = quote_identifier(trigger.name), quote_identifier(trigger.table)
    return [
        f"DROP TRIGGER IF EXISTS {name} ON {table}",
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
        f"AS $collector${trigger.function}$collector$",
        f"CREATE TRIGGER {name} {trigger.body} EXECUTE FUNCTION {name}()",
    ]


def mark_trigger_sql(trigger: Trigger) -> str:
    """COMMENT ON TRIGGER with the digest of :func:`trigger_signature`."""
    name, table = quote_identifier(trigger.name), quote_identifier(trigger.table)
    digest = trigger_signature(trigger).split("\n", 1)[0]
    return f"COMMENT ON TRIGGER {name} ON {table} IS {quote_literal(digest)}"


def replace_trigger_sql(trigger: Trigger) -> list[str]:
    """The statements that (re)create a trigger and its function, marked as generated."""
    return [*install_trigger_sql(trigger), mark_trigger_sql(trigger)]


# Punctuation read as a space before the words are taken: PostgreSQL's parser keeps a
# URL, a host name or a path as one token ("www.youtube.com/watch"), where a search
# wants its words, as SQLite's FTS5 tokenizer gives them. (No "?": the parser splits
# there already, and a statement's only question marks are its placeholders.)
SEARCH_SEPARATORS = "/.:=&-_#%+~@!,;()[]{}<>|*^$'\"\\`"


def search_document(columns: Sequence[str], row: str = "") -> str:
    """The tsvector of a row's searched columns (``row``: the record they are read
    from, as a trigger's ``NEW``; else the row in scope): what the trigger stores in
    :data:`SEARCH_COLUMN` and the reconcile's fill computes."""
    prefix = f"{row}." if row else ""
    text = " || ' ' || ".join(f"coalesce({prefix}{quote_identifier(c)}, '')" for c in columns)
    spaces = " " * len(SEARCH_SEPARATORS)
    translated = f"translate({text}, {quote_literal(SEARCH_SEPARATORS)}, {quote_literal(spaces)})"
    return f"to_tsvector('simple'::regconfig, {translated})"


# -- the stored search document ----------------------------------------------------------
#
# Each row's words are kept in a tsvector column of the searched table, not computed
# by the search: a search whose word is in many rows walks the (created_at, id) index
# newest first and checks each row's words, and computing to_tsvector per row costs
# ~17 µs where reading a stored tsvector costs ~0.75 µs (1M jobs, a word in 1% of
# titles: 90 ms against 4 ms for the 5,100 rows the first page checks). The GIN index
# is over the plain column. The column is not a model field: SQLite's FTS5 table holds
# its words instead, and ``db copy`` moves model fields only (the target computes it).
#
# A row trigger (BEFORE INSERT OR UPDATE OF the searched columns) sets the column from
# NEW: an update of other columns does not fire it, one that sets a searched column to
# the value it had (a worker's progress, once a second) returns at once, and either
# stays a HOT update (no indexed value changes). Reconcile adds the column, installs
# the trigger, then fills the rows already there in batches (schema/reconcile.py).

SEARCH_COLUMN = "search_document"
# Rows a batch of the fill rewrites, each batch its own short transaction.
FILL_BATCH = 5_000


def search_trigger(table: str, columns: Sequence[str]) -> Trigger:
    """The row trigger keeping :data:`SEARCH_COLUMN` of ``table`` equal to its words."""
    t, c = quote_identifier(table), quote_identifier(SEARCH_COLUMN)
    watched = ", ".join(quote_identifier(column) for column in columns)
    new = ", ".join(f"NEW.{quote_identifier(column)}" for column in columns)
    old = ", ".join(f"OLD.{quote_identifier(column)}" for column in columns)
    # An UPDATE that names a searched column without changing it (the worker's progress
    # write keeps the title with ``title = COALESCE(?, title)``, once a second per
    # running job) leaves the document as it is, uncomputed. (OLD is NULL on INSERT.)
    unchanged = f"TG_OP = 'UPDATE' AND ROW({new}) IS NOT DISTINCT FROM ROW({old})"
    return Trigger(
        f"trg_{table}_{SEARCH_COLUMN}",
        table,
        f"BEFORE INSERT OR UPDATE OF {watched} ON {t} FOR EACH ROW",
        f"BEGIN IF {unchanged} THEN RETURN NEW; END IF; "
        f"NEW.{c} := {search_document(columns, 'NEW')}; RETURN NEW; END",
    )


def search_column(table: str, columns: Sequence[str], key: str) -> SearchColumn:
    """The stored search document of ``table`` over ``columns``, filled by keyset over
    the primary key ``key``."""
    t, c, k = quote_identifier(table), quote_identifier(SEARCH_COLUMN), quote_identifier(key)
    document = search_document(columns)
    trigger = search_trigger(table, columns)
    batch = f"SELECT max(batch.key) FROM (SELECT {k} AS key FROM {t}"
    # Only rows whose document differs are written: a fill resumed after an
    # interruption rewrites only the rows not done yet, and an up-to-date row is left
    # alone (no dead version, no index entry). Both the filter and the new value read
    # the row being updated: a row another session changes meanwhile is re-read by the
    # UPDATE (READ COMMITTED re-checks the newest version), never written from an old one.
    fill = f"UPDATE {t} SET {c} = {document} WHERE {c} IS DISTINCT FROM {document} AND "
    return SearchColumn(
        table=table,
        column=SEARCH_COLUMN,
        add_sql=f"ALTER TABLE {t} ADD COLUMN {c} tsvector",
        trigger=trigger,
        install_sql=tuple(install_trigger_sql(trigger)),
        mark_sql=mark_trigger_sql(trigger),
        first_batch_sql=f"{batch} ORDER BY {k} LIMIT ?) AS batch",
        next_batch_sql=f"{batch} WHERE {k} > ? ORDER BY {k} LIMIT ?) AS batch",
        fill_first_sql=f"{fill}{k} <= ?",
        fill_next_sql=f"{fill}{k} > ? AND {k} <= ?",
        batch_size=FILL_BATCH,
    )
