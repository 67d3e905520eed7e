"""Bring a database in line with the models, in place, without touching data.

One step, run at every start (app, worker, CLI) and safe to repeat:

1. create missing tables; add missing columns (``ALTER TABLE ADD COLUMN``);
2. create missing declared indexes; rebuild a managed index whose definition in
   the database differs from its declaration (compared through the dialect's
   introspection, not by name alone as the plan did);
3. report indexes nobody declared (never drop them) and columns whose declared
   type differs (never alter them);
4. ``ANALYZE`` the tables whose indexes were built, and those whose size moved 2x
   since their statistics were taken (schema/statistics.py says why).

Tables and columns change in one IMMEDIATE transaction (quick: no data is
rewritten). Each index build, each derived table and each ANALYZE then runs in a
short IMMEDIATE transaction of its own, re-checked under the lock, with a pause
after it: on a large database one build takes seconds, and the other processes'
writes (a worker's progress, a new job) wait for one step, not for the whole
upgrade, which would outlast their busy timeout. Each step is all or nothing and
the whole is idempotent, so an interrupted upgrade is finished by the next start.
Every change is logged, one line each.

On an engine that builds indexes online (PostgreSQL: ``features.online_index_builds``)
an index missing, drifted or invalid on a table that holds rows is built with
``CREATE INDEX CONCURRENTLY`` under a temporary name (:func:`build_name`), outside any
transaction, while the table keeps taking writes; it is checked valid and equal to its
declaration, then swapped in (the old one dropped concurrently, the new one renamed).
An interrupted build leaves an invalid index, under the temporary name or the real one:
the next start reports it ``invalid``, drops it and builds it again. On an empty table
a plain CREATE INDEX in a short transaction is as good and quicker.

Processes started at once take turns (Dialect.upgrade_lock): one reconciles, the others
wait for it, then find nothing left to do. A statement that waits longer than the busy
timeout for a lock (a long transaction holding the table) fails with an error naming
what it waited for and who held it, instead of queueing behind it.

Where the engine stores each row's searched words in a column of the table
(PostgreSQL: a tsvector kept by a row trigger), the column is added, the trigger
installed and the rows already there filled in batches of their own transactions,
before the full-text index over the column is checked (_reconcile_search_column).

Declared table storage settings (``Model.storage``: PostgreSQL's fillfactor and
autovacuum parameters; SQLite has none) are compared with the table's and set when
they differ.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol

from collector.dialects import BUSY, Connection, Dialect, dialect_for
from collector.dialects.base import search_index
from collector.models.fields import INDEX_PREFIX, ModelDefinitionError

from . import derived, introspect, statistics
from .sql import quote_identifier

if TYPE_CHECKING:
    from collector.models.base import BaseModel

logger = logging.getLogger(__name__)

INDEX_STATES = ("ok", "missing", "drifted", "invalid", "unmanaged")
# The temporary name of an index being built online: the declared name with this
# suffix (cut to fit PostgreSQL's 63-byte names). An index found under such a name is
# the leftover of an interrupted build, and is dropped.
BUILD_SUFFIX = "__building"
MAX_NAME = 63
# After each step the write lock is left free this long at most (never longer than
# the step held it): SQLite's busy handler polls a waiting writer every 100 ms at
# most, so writers queued behind a long build get in before the next one starts.
YIELD_SECONDS = 0.2


class Database(Protocol):
    """What reconcile needs of a database: this thread's connection and a write transaction.

    :class:`collector.config.database.DatabaseConfig` is one; the schema layer sits below
    it (DatabaseConfig.initialize_schema runs this module) and does not name it.
    """

    dialect: Dialect

    def connection(self) -> Connection: ...

    def connect(self) -> Connection:
        """A new connection of the caller's own (the upgrade lock's)."""
        ...

    def transaction(self) -> AbstractContextManager[Connection]: ...

    def translate(self, exc: BaseException, doing: str | None = None) -> BaseException:
        """The engine's error as the store's (``doing``: what waited, when busy)."""
        ...


class SchemaError(Exception):
    """The database cannot be reconciled with the models without losing data."""


class Change(NamedTuple):
    # "create table", "add column", "set storage", "create index", "rebuild index",
    # "drop index" (a leftover of an interrupted build), "build derived", "rebuild
    # derived", "fill column" (the stored search document, recomputed with its trigger
    # installed anew: _reconcile_search_column), "analyze"
    action: str
    table: str
    name: str
    detail: str = ""


class IndexState(NamedTuple):
    table: str
    name: str
    state: str  # one of INDEX_STATES
    detail: str = ""


@dataclass
class ReconcileReport:
    changes: list[Change] = field(default_factory=list)
    indexes: list[IndexState] = field(default_factory=list)
    derived: list[IndexState] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Each table's declared storage settings: ok, or what was set ("drifted" before).
    storage: list[IndexState] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def names(self, action: str) -> list[str]:
        return [c.name for c in self.changes if c.action == action]


def check_models(models: Sequence[type[BaseModel]]) -> None:
    """Index names are global in SQLite: two models may not declare the same one."""
    owners: dict[str, str] = {}
    for model in models:
        for spec in model.index_specs():
            key = spec.name.lower()  # SQLite's names ignore case
            if key in owners:
                raise ModelDefinitionError(
                    f"index name {spec.name!r} is declared by both {owners[key]} "
                    f"and {model.__name__}"
                )
            owners[key] = model.__name__


def build_name(name: str) -> str:
    """The temporary name an online build gives the index ``name``."""
    return name[: MAX_NAME - len(BUILD_SUFFIX)] + BUILD_SUFFIX


def inspect(conn: Connection, models: Sequence[type[BaseModel]]) -> list[IndexState]:
    """The state of every declared index and every other index on the models' tables.

    A declared index the engine marks unusable (an interrupted concurrent build) is
    ``invalid``, and so is any index under a declared one's temporary build name.
    """
    dialect = dialect_for(conn)
    states = []
    declared = {spec.name.lower() for model in models for spec in model.index_specs()}
    declared |= {search_index(m.get_table_name()).lower() for m in models if m.search}
    temporary = {
        build_name(spec.name).lower(): spec.name for model in models for spec in model.index_specs()
    }
    for model in models:
        if model.search:
            name = search_index(model.get_table_name())
            temporary[build_name(name).lower()] = name
    for model in models:
        table = model.get_table_name()
        for spec in model.index_specs():
            info = introspect.index_info(conn, spec.name)
            if info is None:
                states.append(IndexState(table, spec.name, "missing"))
                continue
            if not info.valid:
                why = "unusable: left by an interrupted or failed concurrent build"
                states.append(IndexState(table, spec.name, "invalid", why))
                continue
            diffs = dialect.index_differences(conn, model, spec, info)
            state = "drifted" if diffs else "ok"
            states.append(IndexState(table, spec.name, state, "; ".join(diffs)))
        for info in introspect.table_indexes(conn, table):
            if info.origin != "c" or info.name.lower() in declared:
                continue
            if info.name.lower() in temporary:
                why = f"left by an interrupted build of {temporary[info.name.lower()]}"
                states.append(IndexState(table, info.name, "invalid", why))
                continue
            why = (
                "stale idx_ index, no longer declared"
                if info.name.startswith(INDEX_PREFIX)
                else "not declared by any model"
            )
            states.append(IndexState(table, info.name, "unmanaged", why))
    return states


def storage_states(conn: Connection, models: Sequence[type[BaseModel]]) -> list[IndexState]:
    """Each existing table with declared storage settings: ok, or drifted and how."""
    dialect = dialect_for(conn)
    present = dialect.table_names(conn)
    states = []
    for model in models:
        table = model.get_table_name()
        if table in present and dialect.set_storage_sql(model) is not None:
            diffs = dialect.storage_differences(conn, model)
            state = "drifted" if diffs else "ok"
            states.append(IndexState(table, "storage", state, "; ".join(diffs)))
    return states


def reconcile(
    db: Database,
    models: Sequence[type[BaseModel]],
    *,
    tables: bool = True,
    indexes: bool = True,
    rebuild: bool = True,
    online: bool = True,
) -> ReconcileReport:
    """Reconcile ``db`` with ``models``; see the module docstring.

    ``tables=False`` leaves tables and columns alone, ``indexes=False`` indexes and
    derived tables (a bulk load creates the tables, loads, then builds the rest once).
    The stored search document (a column no model declares, with its trigger) goes
    with the full-text index: it is added and filled when indexes are reconciled.
    ``online=False`` builds indexes in a transaction even where the engine could build
    them while the table takes writes: for a database nobody else writes yet (a bulk
    load's target), where a plain build is about twice as quick and does not wait for
    the loader's own long reads.
    """
    check_models(models)
    with db.dialect.upgrade_lock(db.connect):
        return _reconcile(
            db, models, tables=tables, indexes=indexes, rebuild=rebuild, online=online
        )


def _reconcile(
    db: Database,
    models: Sequence[type[BaseModel]],
    *,
    tables: bool,
    indexes: bool,
    rebuild: bool,
    online: bool,
) -> ReconcileReport:
    report = ReconcileReport()
    every_table = [model.get_table_name() for model in models]
    if tables:
        with _waiting(db, every_table, "creating and altering tables"), db.transaction() as conn:
            for model in models:
                _reconcile_table(conn, model, report)
    built_tables: set[str] = set()
    # What to do is read in a transaction too: its errors (a damaged page) are the
    # database's, translated like every other; each step checks again under its lock.
    with _waiting(db, every_table, "reading the schema"), db.transaction() as conn:
        states = inspect(conn, models) if indexes else []
    if indexes:
        # Leftovers of interrupted online builds go first: a build reuses their names.
        leftovers = [s for s in states if s.state == "invalid" and s.name.endswith(BUILD_SUFFIX)]
        for state in leftovers:
            with _waiting(db, [state.table], f"dropping the leftover index {state.name}"):
                _drop_leftover(db, state, report, online)
        for state in states:
            if state in leftovers:
                continue
            if state.state == "unmanaged":
                logger.debug("leaving unmanaged index %s on %s", state.name, state.table)
            elif state.state in ("missing", "invalid") or (state.state == "drifted" and rebuild):
                model = next(m for m in models if m.get_table_name() == state.table)
                if not tables and _lacks_columns(db, model, state, report):
                    report.indexes.append(state)
                    continue
                doing = f"building index {state.name} on table {state.table}"
                with _waiting(db, [state.table], doing):
                    if online and _builds_online(db, state.table):
                        state, built = _build_online(db, model, state.name, rebuild, report)
                    else:
                        with _step(db) as conn:
                            state, built = _build_index(conn, model, state.name, rebuild, report)
                if built:
                    built_tables.add(state.table)
            report.indexes.append(state)
        unsearchable = _unsearchable(db, models, report)
        for model in models:
            if model in unsearchable:
                continue
            filled = _reconcile_search_column(db, model, report)
            if _reconcile_search_index(db, model, report, online) or filled:
                built_tables.add(model.get_table_name())
        skipped = {m.get_table_name() for m in unsearchable}
        for item in derived.declared(models, db.dialect):
            if item.kind == "search" and item.source in skipped:
                continue
            doing = f"checking {item.table}"
            with _waiting(db, [item.source, item.table], doing), _step(db) as conn:
                _reconcile_derived(conn, item, report)
    for table in sorted(built_tables):
        db.dialect.flush_statistics(db.connection())  # the rows this reconcile rewrote
        with _waiting(db, [table], f"analyzing table {table}"), _step(db) as conn:
            db.dialect.analyze(conn, table)
        logger.info("analyzed %s", table)
        report.changes.append(Change("analyze", table, table))
    with _waiting(db, every_table, "reading table statistics"), db.transaction() as conn:
        stale = statistics.stale_tables(conn, models)
    for stats in stale:
        if stats.table not in built_tables:
            db.dialect.flush_statistics(db.connection())
            with _waiting(db, [stats.table], f"analyzing table {stats.table}"), _step(db) as conn:
                statistics.analyze(conn, stats)
            report.changes.append(Change("analyze", stats.table, stats.table, "stale"))
    with _waiting(db, every_table, "optimizing"):
        db.dialect.optimize(db.connection())
    return report


@contextmanager
def _waiting(db: Database, tables: Sequence[str], doing: str) -> Iterator[None]:
    """Turn a lock wait that ran out (the busy timeout: PostgreSQL's lock_timeout) into
    the store's busy error saying what waited, on which tables, and who held them."""
    try:
        yield
    except Exception as exc:
        cause = exc if db.dialect.classify(exc) == BUSY else exc.__cause__
        if cause is None or db.dialect.classify(cause) != BUSY:
            raise
        try:
            holders = db.dialect.lock_holders(db.connection(), tables)
        except Exception:  # the description is a courtesy: the busy error is the news
            holders = []
        held = "; ".join(holders) if holders else "another session's transaction holds it"
        message = (
            f"the schema upgrade ({doing}) waited for a lock on table {', '.join(tables)}: {held}"
        )
        raise db.translate(cause, doing=message) from cause


def _builds_online(db: Database, table: str) -> bool:
    """True if an index of ``table`` is to be built online: the engine can, no caller's
    transaction is open (an online build runs outside any), and the table has rows (on
    an empty one a plain build in a transaction takes no time)."""
    conn = db.connection()
    if not db.dialect.features.online_index_builds or db.dialect.in_transaction(conn):
        return False
    return conn.execute(f"SELECT 1 FROM {quote_identifier(table)} LIMIT 1").fetchone() is not None


def _drop_leftover(db: Database, state: IndexState, report: ReconcileReport, online: bool) -> None:
    online = (
        online
        and db.dialect.features.online_index_builds
        and not db.dialect.in_transaction(db.connection())
    )
    if online:
        _run(db, db.dialect.drop_index_sql(state.name, online=True))
    else:
        with _step(db) as conn:
            conn.execute(db.dialect.drop_index_sql(state.name))
    logger.info("dropped index %s on %s: %s", state.name, state.table, state.detail)
    report.changes.append(Change("drop index", state.table, state.name, state.detail))


def _lacks_columns(
    db: Database, model: type[BaseModel], state: IndexState, report: ReconcileReport
) -> bool:
    """Whether the index needs columns its table does not have yet (an index-only
    reconcile adds none): then it is left alone, with a warning. Built anyway, SQLite
    would take each missing column's quoted name for a string constant."""
    spec = next(s for s in model.index_specs() if s.name == state.name)
    with db.transaction() as conn:
        present = {c.name.lower() for c in introspect.table_columns(conn, state.table)}
    needed = [*spec.column_names, *(column for column, _ in spec.where)]
    missing = [c for c in dict.fromkeys(needed) if c.lower() not in present]
    if not missing:
        return False
    message = (
        f"index {state.name} not built: table {state.table} lacks column(s) "
        f"{', '.join(missing)} (a full reconcile adds them)"
    )
    logger.warning("%s", message)
    report.warnings.append(message)
    return True


def _run(db: Database, sql: str) -> None:
    """One statement outside any transaction (an online build's), errors translated."""
    try:
        db.connection().execute(sql)
    except db.dialect.DatabaseError as exc:
        translated = db.translate(exc)
        if translated is exc:
            raise
        raise translated from exc


def _build_online(
    db: Database, model: type[BaseModel], name: str, rebuild: bool, report: ReconcileReport
) -> tuple[IndexState, bool]:
    """Build one index while its table takes writes, then swap it in (see the module
    docstring); its state now, and whether it was built."""
    dialect, conn = db.dialect, db.connection()
    spec = model.index(name)
    ok = IndexState(spec.table, spec.name, "ok")
    info = introspect.index_info(conn, spec.name)
    differences = ""
    if info is not None:
        if info.valid:
            differences = "; ".join(dialect.index_differences(conn, model, spec, info))
            if not differences:
                return ok, False
            if not rebuild:
                return IndexState(spec.table, spec.name, "drifted", differences), False
        else:
            differences = "invalid: left by an interrupted or failed concurrent build"
    temporary = build_name(spec.name)
    _run(db, dialect.drop_index_sql(temporary, online=True))
    started = time.monotonic()
    try:
        _run(db, dialect.create_index_online_sql(model, spec, temporary))
    except BaseException:
        # A failed concurrent build leaves its invalid index behind: take it away now
        # (the next start would otherwise).
        try:
            _run(db, dialect.drop_index_sql(temporary, online=True))
        except Exception:
            logger.warning("could not drop the failed build %s; the next start will", temporary)
        raise
    built = introspect.index_info(conn, temporary)
    problems = ["not built"] if built is None else []
    if built is not None and not built.valid:
        problems.append("invalid")
    if built is not None:
        problems += dialect.index_differences(conn, model, spec, built)
    if problems:
        _run(db, dialect.drop_index_sql(temporary, online=True))
        raise SchemaError(
            f"index {spec.name} built as {temporary} does not match its declaration "
            f"({'; '.join(problems)}); dropped it"
        )
    if info is not None:
        _run(db, dialect.drop_index_sql(spec.name, online=True))
    _run(db, dialect.rename_index_sql(temporary, spec.name))
    seconds = time.monotonic() - started
    if info is None:
        logger.info("created index %s on %s concurrently (%.1f s)", spec.name, spec.table, seconds)
        report.changes.append(Change("create index", spec.table, spec.name, "concurrently"))
    else:
        logger.info(
            "rebuilt index %s on %s concurrently (%.1f s): %s",
            spec.name,
            spec.table,
            seconds,
            differences,
        )
        report.changes.append(
            Change("rebuild index", spec.table, spec.name, f"concurrently; {differences}")
        )
    return ok, True


@contextmanager
def _step(db: Database) -> Iterator[Connection]:
    """One step of a reconcile: its own IMMEDIATE transaction, then a pause for writers."""
    started = time.monotonic()
    with db.transaction() as conn:
        yield conn
    if not db.dialect.in_transaction(db.connection()):  # not inside a caller's transaction
        time.sleep(min(YIELD_SECONDS, time.monotonic() - started))


def _unsearchable(
    db: Database, models: Sequence[type[BaseModel]], report: ReconcileReport
) -> list[type[BaseModel]]:
    """The models whose table lacks a searched column (only when tables were left alone:
    ensure_indexes adds no column): their full-text structure waits, with a warning."""
    found = []
    with db.transaction() as conn:
        for model in models:
            if not model.search:
                continue
            table = model.get_table_name()
            present = {c.name for c in introspect.table_columns(conn, table)}
            absent = [c for c in model.search if c not in present]
            if absent:
                why = (
                    f"full-text search over {table} not built: column(s) "
                    f"{', '.join(absent)} missing (a reconcile of the tables adds them)"
                )
                logger.warning("%s", why)
                report.warnings.append(why)
                found.append(model)
    return found


def _reconcile_search_column(db: Database, model: type[BaseModel], report: ReconcileReport) -> bool:
    """Where the engine stores each row's words in a column kept by a trigger
    (PostgreSQL: Dialect.search_column), add the column if missing, (re)create the
    trigger if missing or different, and fill the rows already there. True if it
    rewrote rows (the table's statistics are then refreshed).

    The fill goes by keyset over the primary key, ``batch_size`` rows a batch, each
    batch its own short transaction: a large table is upgraded while it takes writes,
    each row locked for one batch at most. The trigger is installed first (rows
    written during the fill get their document from it) and marked complete (its
    comment, which trigger_sql compares) only after the last batch. A fill that was
    interrupted (a kill, a lost connection) therefore leaves the trigger unmarked:
    the next start reads it as differing from its declaration and fills again, and
    since the fill writes only rows whose document differs, it rewrites only the rows
    it had not reached."""
    if not model.search:
        return False
    table = model.get_table_name()
    search = db.dialect.search_column(table, model.search, model.primary_key)
    if search is None:
        return False
    trigger = search.trigger
    doing = f"adding the search column {search.column} to {table}"
    with _waiting(db, [table], doing), db.transaction() as conn:
        present = {c.name for c in introspect.table_columns(conn, table)}
        added = search.column not in present
        if added:
            conn.execute(search.add_sql)
            logger.info("added column %s.%s (the search document)", table, search.column)
            report.changes.append(
                Change("add column", table, search.column, "search document, by trigger")
            )
        stored = db.dialect.stored_trigger_sql(conn, trigger.name)
        declared = db.dialect.trigger_sql(trigger)
        if stored == declared and not added:
            return False
        mark, _, function = (stored or "").partition("\n")
        if added:
            why = f"column {search.column} missing"
        elif stored is None:
            why = f"trigger {trigger.name} missing"
        elif not mark and function == declared.partition("\n")[2]:
            why = f"trigger {trigger.name} not marked complete: an interrupted fill"
        else:
            why = f"trigger {trigger.name} differs"
        for statement in search.install_sql:
            conn.execute(statement)
    started = time.monotonic()
    rows = batches = 0
    last = None
    while True:
        with _waiting(db, [table], f"filling {table}.{search.column}"), db.transaction() as conn:
            if last is None:
                end = conn.execute(search.first_batch_sql, (search.batch_size,)).fetchone()[0]
            else:
                end = conn.execute(search.next_batch_sql, (last, search.batch_size)).fetchone()[0]
            if end is None:
                break
            if last is None:
                cursor = conn.execute(search.fill_first_sql, (end,))
            else:
                cursor = conn.execute(search.fill_next_sql, (last, end))
            rows += max(cursor.rowcount, 0)
            batches += 1
            last = end
    with _waiting(db, [table], f"marking the trigger {trigger.name}"), db.transaction() as conn:
        conn.execute(search.mark_sql)
    seconds = time.monotonic() - started
    detail = f"{why}; {rows} row(s) rewritten in {batches} batch(es)"
    logger.info("filled %s.%s (%.1f s): %s", table, search.column, seconds, detail)
    report.changes.append(Change("fill column", table, search.column, detail))
    return rows > 0


def _reconcile_search_index(
    db: Database, model: type[BaseModel], report: ReconcileReport, online: bool
) -> bool:
    """Create the full-text index over ``model.search`` where the engine keeps one (the
    dialect's search_index_sql; SQLite's derived FTS table is reconciled with the other
    derived tables): missing or left unusable, it is built, online where it can be.
    True if it was built."""
    table = model.get_table_name()
    name = search_index(table)
    if not model.search or db.dialect.search_index_sql(table, model.search, name) is None:
        return False
    conn = db.connection()
    info = introspect.index_info(conn, name)
    differences = (
        db.dialect.search_index_differences(conn, table, model.search, name)
        if info is not None and info.valid and info.method == "gin"
        else ["missing" if info is None else "unusable or not a GIN index"]
    )
    if not differences:
        report.indexes.append(IndexState(table, name, "ok"))
        return False
    with _waiting(db, [table], f"building index {name} on table {table}"):
        if online and _builds_online(db, table):
            # Built under the temporary name, then swapped in (as _build_online does):
            # the searches keep the old index until the new one is there. An
            # interrupted build is dropped by the next start (inspect finds it).
            temporary = build_name(name)
            _run(db, db.dialect.drop_index_sql(temporary, online=True))
            _run(db, db.dialect.search_index_sql(table, model.search, temporary, online=True) or "")
            if info is not None:
                _run(db, db.dialect.drop_index_sql(name, online=True))
            _run(db, db.dialect.rename_index_sql(temporary, name))
        else:
            with _step(db) as conn:
                conn.execute(db.dialect.drop_index_sql(name))
                conn.execute(db.dialect.search_index_sql(table, model.search, name) or "")
    if info is None:
        logger.info("created the full-text index %s on %s", name, table)
        report.changes.append(Change("create index", table, name, "full text"))
    else:
        detail = "; ".join(differences)
        logger.info("rebuilt the full-text index %s on %s: %s", name, table, detail)
        report.changes.append(Change("rebuild index", table, name, f"full text; {detail}"))
    report.indexes.append(IndexState(table, name, "ok"))
    return True


def _build_index(
    conn: Connection, model: type[BaseModel], name: str, rebuild: bool, report: ReconcileReport
) -> tuple[IndexState, bool]:
    """Create (or rebuild) one index if it still needs it (another process may have
    built it since it was inspected); its state now, and whether it was built."""
    dialect = dialect_for(conn)
    spec = model.index(name)
    ok = IndexState(spec.table, spec.name, "ok")
    info = introspect.index_info(conn, spec.name)
    if info is None:
        conn.execute(dialect.create_index_sql(model, spec))
        logger.info("created index %s on %s", spec.name, spec.table)
        report.changes.append(Change("create index", spec.table, spec.name))
        return ok, True
    differences = "; ".join(dialect.index_differences(conn, model, spec, info))
    if not differences:
        return ok, False
    if not rebuild and info.valid:  # an invalid index is no index: built again anyway
        return IndexState(spec.table, spec.name, "drifted", differences), False
    conn.execute(f"DROP INDEX {quote_identifier(spec.name)}")
    conn.execute(dialect.create_index_sql(model, spec))
    logger.info("rebuilt index %s on %s: %s", spec.name, spec.table, differences)
    report.changes.append(Change("rebuild index", spec.table, spec.name, differences))
    return ok, True


def refresh_statistics(db: Database, models: Sequence[type[BaseModel]]) -> list[str]:
    """ANALYZE the tables whose size moved by 2x since their statistics; their names.

    For long-running processes (the worker): the check reads two B-tree edges per
    table, and the write lock is taken only when something is stale.
    """
    if not statistics.stale_tables(db.connection(), models):
        return []
    with db.transaction() as conn:
        stale = statistics.stale_tables(conn, models)
        for stats in stale:
            statistics.analyze(conn, stats)
    return [stats.table for stats in stale]


def compact_counts(db: Database, models: Sequence[type[BaseModel]]) -> int:
    """Fold the models' counts tables into one row per value; the rows removed.

    On an engine whose counts take insert-only delta rows (PostgreSQL: every status
    change adds rows instead of updating one hot counter row) the tables grow with
    every write until folded. Each table is folded in a short transaction of its own,
    under a try-lock: a second process folding at the same moment skips instead of
    waiting, and writers are never blocked (they only insert). Readers sum per value,
    so the statistics are the same before and after. Nothing to do on SQLite.
    """
    if not db.dialect.features.delta_counts:
        return 0
    removed = 0
    for item in derived.declared(models, db.dialect):
        if item.kind == "counts":
            with db.transaction() as conn:
                removed += derived.compact(conn, item)
    return removed


def create_missing_indexes(db: Database, models: Sequence[type[BaseModel]]) -> list[str]:
    """The plan's create_indexes(): only what is missing, nothing rebuilt."""
    return reconcile(db, models, tables=False, rebuild=False).names("create index")


def _reconcile_table(conn: Connection, model: type[BaseModel], report: ReconcileReport):
    dialect = dialect_for(conn)
    table = model.get_table_name()
    existing = {c.name: c for c in introspect.table_columns(conn, table)}
    if not existing:
        conn.execute(dialect.create_table_sql(model))
        logger.info("created table %s", table)
        report.changes.append(Change("create table", table, table))
        if dialect.set_storage_sql(model) is not None:
            report.storage.append(IndexState(table, "storage", "ok"))
        return
    storage = dialect.storage_differences(conn, model)
    statement = dialect.set_storage_sql(model) if storage else None
    if statement is not None:
        conn.execute(statement)
        detail = "; ".join(storage)
        logger.info("set the storage settings of %s: %s", table, detail)
        report.changes.append(Change("set storage", table, table, detail))
    if dialect.set_storage_sql(model) is not None:
        report.storage.append(IndexState(table, "storage", "ok"))
    for name in model.field_names():
        column = model.field(name)
        if name not in existing:
            if column.primary_key or (not column.nullable and column.default is None):
                raise SchemaError(
                    f"table {table} lacks column {name!r}, which cannot be added in place "
                    "(primary key, or NOT NULL without a default)"
                )
            conn.execute(dialect.add_column_sql(model, name))
            logger.info("added column %s.%s", table, name)
            report.changes.append(Change("add column", table, name, column.ddl(name)))
        elif existing[name].type.upper() != dialect.column_type(column).upper():
            report.warnings.append(
                f"{table}.{name} is {existing[name].type or 'untyped'}, declared "
                f"{dialect.column_type(column)}"
            )


def derived_states(conn: Connection, models: Sequence[type[BaseModel]]) -> list[IndexState]:
    """The state of every derived table (counts, orphans) the models declare."""
    present = introspect.table_names(conn)
    states = []
    for item in derived.declared(models, dialect_for(conn)):
        if item.source not in present:
            states.append(IndexState(item.source, item.table, "missing", "source table missing"))
            continue
        state, detail = derived.state(conn, item)
        states.append(IndexState(item.source, item.table, state, detail))
    return states


def _reconcile_derived(conn: Connection, item: derived.Derived, report: ReconcileReport) -> None:
    state, detail = derived.state(conn, item)
    if state != "ok":
        derived.repair(conn, item, state)
        action = "build derived" if state == "missing" else "rebuild derived"
        report.changes.append(Change(action, item.source, item.table, detail))
    report.derived.append(IndexState(item.source, item.table, "ok"))
