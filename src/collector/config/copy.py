"""Moving a collection to another database, on either engine (``collector db copy``).

The target is reconciled first, tables only (``reconcile(indexes=False)``): rows load
fastest into tables without secondary indexes and without the derived tables'
triggers, and the indexes, derived tables (jobs per status, files per type) and
planner statistics are then built once by the ordinary reconcile, as a bulk-loaded
benchmark database is. Derived tables are never copied: reconcile computes them
from the copied rows.

Each table is read from the source in batches by keyset on its primary key (``WHERE
key > last ORDER BY key LIMIT n``: every batch is an index range, however deep) and
written with the target engine's bulk path (:meth:`Dialect.copy_in`: ``COPY FROM
STDIN`` on PostgreSQL, multi-row ``INSERT`` on SQLite), one transaction per batch.

Resuming: batches go in key order and each commits on its own, so a copy that was
killed left every table holding a prefix of the source's rows. The next run starts
each table after the target's highest key. That is exact when both engines order
keys the same way (bytewise: SQLite's default, and PostgreSQL's ``C`` collations); if
they do not, or the target held other rows, a table whose count still falls short
after the pass is filled by a second pass over the whole source. Either way no row is
written twice: ``copy_in`` skips a key the target already holds, so the batch that
was committed just before a kill is not duplicated when it is read again.

A skipped row is not compared on the spot. At the end every table's rows are counted
and checksummed on both sides, and any difference is reported with the first keys
that differ: a target holding a row with the same key but other content is found
there, never silently kept.

The checksum is engine-neutral and independent of row order: each row is normalised
(timestamps as naive UTC text with microseconds, integers as integers, NULL as None),
hashed (BLAKE2b, 128 bits), and the hashes are summed modulo 2**128. Summing rather
than hashing one stream in key order means the two engines need not agree on how
text keys sort (collations differ) for their checksums to agree on the same rows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from queue import Full, Queue
from typing import Any

from collector.models import ALL_MODELS
from collector.models.base import BaseModel
from collector.models.values import from_db_timestamp, to_db_timestamp
from collector.schema import introspect
from collector.schema.reconcile import reconcile
from collector.schema.sql import quote_identifier

from .database import DatabaseConfig

logger = logging.getLogger(__name__)

# Rows a batch reads and commits: large enough that the per-statement and per-commit
# costs vanish, small enough that a kill loses seconds of work at most.
BATCH_ROWS = 20_000
# Keys looked up at once when finding the rows that differ (within every engine's
# bound-variable limit).
LOOKUP_KEYS = 500
# Differing keys shown per table.
SHOW_DIFFERENCES = 5
CHECKSUM_BITS = 128

# (table, rows in the target so far, rows in the source)
Progress = Callable[[str, int, int], None]


class CopyInterrupted(Exception):
    """The copy stopped early on purpose (the test hook ``stop_after_batches``)."""


@dataclass
class TableResult:
    table: str
    copied: int  # rows this run inserted
    source_rows: int = 0
    target_rows: int = 0
    source_checksum: str = ""
    target_checksum: str = ""
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.source_rows == self.target_rows
            and self.source_checksum == self.target_checksum
            and not self.differences
        )


@dataclass
class CopyReport:
    source: str
    target: str
    tables: list[TableResult] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per phase

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def copied(self) -> int:
        return sum(t.copied for t in self.tables)


def copy_database(
    source: DatabaseConfig,
    target: DatabaseConfig,
    *,
    models: Sequence[type[BaseModel]] = ALL_MODELS,
    batch: int = BATCH_ROWS,
    progress: Progress | None = None,
    stop_after_batches: int | None = None,
) -> CopyReport:
    """Copy every model's table from ``source`` into ``target``; see the module docstring.

    ValueError (nothing written) if the target is the source, the source holds no
    collection, or ``batch`` is not positive; the store's DatabaseError if either
    cannot be opened. :class:`CopyInterrupted` after ``stop_after_batches`` committed
    batches (a test's stand-in for a kill).
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive number of rows, not {batch!r}")
    check_databases(source, target, models)
    report = CopyReport(source.name, target.name)
    started = time.perf_counter()
    reconcile(target, models, indexes=False)
    budget = [stop_after_batches]
    for model in models:
        report.tables.append(_copy_table(source, target, model, batch, progress, budget))
    report.seconds["copy"] = time.perf_counter() - started
    # The target's rows are final now: they are checksummed (in a thread, on a
    # connection of its own: reads wait for no index build) while the indexes and
    # derived tables are built, the server's work and this process's overlapping.
    started = time.perf_counter()
    sums: dict[str, tuple[int, str]] = {}
    failure: list[BaseException] = []

    def target_sums() -> None:
        try:
            for model in models:
                sums[model.get_table_name()] = checksum(target, model, batch)
        except BaseException as exc:  # handed to the main thread
            failure.append(exc)
        finally:
            target.close()

    thread = threading.Thread(target=target_sums, name="copy-verify", daemon=True)
    thread.start()
    try:
        target.dialect.bulk_build(target.connection(), True)
        try:
            # Plain builds: nobody writes to the target yet, and a concurrent build
            # would wait for the verifying thread's long reads.
            target.initialize_schema(models, online=False)
        finally:
            target.dialect.bulk_build(target.connection(), False)
    finally:
        thread.join()
    if failure:
        raise failure[0]
    report.seconds["indexes and verify"] = time.perf_counter() - started
    started = time.perf_counter()
    for result, model in zip(report.tables, models, strict=True):
        result.target_rows, result.target_checksum = sums[result.table]
        if not result.source_checksum:  # the copy did not read the whole table
            result.source_rows, result.source_checksum = checksum(source, model, batch)
        if not result.ok:
            result.differences = differences(source, target, model, batch)
    if time.perf_counter() - started >= 0.05:
        report.seconds["compare"] = time.perf_counter() - started
    return report


def check_databases(
    source: DatabaseConfig, target: DatabaseConfig, models: Sequence[type[BaseModel]]
) -> None:
    """Refuse, before anything is written, a copy that cannot be right: the target is
    the source, or the source holds no (current) collection. Opens both."""
    if source.key == target.key:
        raise ValueError(f"the target is the source ({source.name}): give another database")
    if source.dialect.features.file_based and not source.db_path.exists():
        raise ValueError(f"no database at {source.name}")
    for db in (source, target):  # a direct connection: the server's refusal, at once
        if db.dialect.features.pooled:
            db.connect().close()
    conn = source.connection()
    for model in models:
        table = model.get_table_name()
        present = {c.name for c in introspect.table_columns(conn, table)}
        if not present:
            raise ValueError(f"{source.name} has no table {table}: it holds no collection")
        missing = [name for name in model.field_names() if name not in present]
        if missing:
            raise ValueError(
                f"{source.name}: table {table} lacks {', '.join(missing)}; run "
                "`collector db upgrade` on it first"
            )
    if source.dialect.database_identity(conn) == target.dialect.database_identity(
        target.connection()
    ):
        raise ValueError(f"the target {target.name} is the source {source.name} under another name")


def _select(db: DatabaseConfig, model: type[BaseModel]) -> str:
    """The model's columns, timestamps read as stored text on every engine."""
    columns = []
    for name in model.field_names():
        quoted = quote_identifier(name)
        if model.field(name).type == "TIMESTAMP":
            quoted = db.dialect.timestamp_text(quoted)
        columns.append(quoted)
    return ", ".join(columns)


def read_batches(
    db: DatabaseConfig, model: type[BaseModel], batch: int, after: Any = None
) -> Iterator[list[tuple[Any, ...]]]:
    """The table's rows in primary-key order (the engine's), ``batch`` at a time, by
    keyset: each batch an index range after the last key read."""
    table = quote_identifier(model.get_table_name())
    key = quote_identifier(model.primary_key)
    position = model.field_names().index(model.primary_key)
    columns = _select(db, model)
    first = f"SELECT {columns} FROM {table} ORDER BY {key} LIMIT ?"
    later = f"SELECT {columns} FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?"
    while True:
        if after is None:
            _, rows = db.execute_rows(first, (batch,))
        else:
            _, rows = db.execute_rows(later, (after, batch))
        if not rows:
            return
        yield rows
        if len(rows) < batch:
            return
        after = rows[-1][position]


def count_rows(db: DatabaseConfig, model: type[BaseModel]) -> int:
    table = quote_identifier(model.get_table_name())
    return int(db.execute_rows(f"SELECT COUNT(*) FROM {table}")[1][0][0])


def _highest_key(db: DatabaseConfig, model: type[BaseModel]) -> Any:
    table = quote_identifier(model.get_table_name())
    key = quote_identifier(model.primary_key)
    return db.execute_rows(f"SELECT MAX({key}) FROM {table}")[1][0][0]


def _copy_table(
    source: DatabaseConfig,
    target: DatabaseConfig,
    model: type[BaseModel],
    batch: int,
    progress: Progress | None,
    budget: list[int | None],
) -> TableResult:
    table = model.get_table_name()
    total = count_rows(source, model)
    done = count_rows(target, model)
    result = TableResult(table, 0)
    if progress:
        progress(table, done, total)
    start = _highest_key(target, model)
    if start is not None:
        logger.info("%s: resuming after key %r (%d rows already there)", table, start, done)
    copied, read, digest = _pass(source, target, model, batch, start, progress, budget, done, total)
    result.copied += copied
    if start is None:  # this pass read the whole source table: its checksum is known
        result.source_rows, result.source_checksum = read, _hex(digest)
    done = count_rows(target, model)
    if start is not None and done < total:
        # The engines order keys differently, or the target held rows of its own:
        # fill the gaps from the beginning (keys already there are skipped).
        logger.warning("%s: %d of %d rows after resuming; filling the gaps", table, done, total)
        copied, read, digest = _pass(
            source, target, model, batch, None, progress, budget, done, total
        )
        result.copied += copied
        result.source_rows, result.source_checksum = read, _hex(digest)
    return result


def _pass(
    source: DatabaseConfig,
    target: DatabaseConfig,
    model: type[BaseModel],
    batch: int,
    after: Any,
    progress: Progress | None,
    budget: list[int | None],
    done: int,
    total: int,
) -> tuple[int, int, int]:
    """One pass over the source after ``after``: (rows inserted, rows read, the sum of
    the rows' hashes)."""
    table = model.get_table_name()
    columns = model.field_names()
    copied = read = digest = 0
    for rows, hashed in _prefetched(source, model, batch, after):
        if budget[0] is not None and budget[0] <= 0:
            raise CopyInterrupted(f"stopped as asked, in table {table}")
        with target.transaction() as conn:
            inserted = target.dialect.copy_in(conn, table, columns, rows, model.primary_key)
        copied += inserted
        read += len(rows)
        digest += hashed
        done += inserted
        if budget[0] is not None:
            budget[0] -= 1
        if progress:
            progress(table, done, total)
    return copied, read, digest


_END = object()


def _prefetched(
    source: DatabaseConfig, model: type[BaseModel], batch: int, after: Any
) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
    """:func:`read_batches` with each batch's hash sum, read one batch ahead by a thread
    (on a connection of its own) while the caller writes the one before."""
    normal = _normaliser(model)
    queue: Queue[Any] = Queue(maxsize=2)
    stopped = threading.Event()

    def put(item: Any) -> bool:
        while not stopped.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def read() -> None:
        try:
            for rows in read_batches(source, model, batch, after):
                if not put((rows, sum(row_hash(normal(row)) for row in rows))):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer
            put(exc)
        finally:
            source.close()

    thread = threading.Thread(target=read, name="copy-read", daemon=True)
    thread.start()
    try:
        while True:
            item = queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()
        thread.join()


def _hex(digest: int) -> str:
    return f"{digest % (1 << CHECKSUM_BITS):032x}"


# -- verification -----------------------------------------------------------------------


def _normaliser(model: type[BaseModel]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """Rows as the checksum sees them: timestamps as stored text (naive UTC with
    microseconds), whatever older form an SQLite row kept them in."""
    stamps = [i for i, n in enumerate(model.field_names()) if model.field(n).type == "TIMESTAMP"]

    def normal(row: tuple[Any, ...]) -> tuple[Any, ...]:
        for i in stamps:
            value = row[i]
            if value is None or (type(value) is str and len(value) == 26 and value[10] == " "):
                continue
            fixed = to_db_timestamp(from_db_timestamp(value))  # type: ignore[arg-type]  # not None here
            row = (*row[:i], fixed, *row[i + 1 :])
        return row

    return normal


def row_hash(row: tuple[Any, ...]) -> int:
    return int.from_bytes(blake2b(repr(row).encode(), digest_size=CHECKSUM_BITS // 8).digest())


def checksum(
    db: DatabaseConfig, model: type[BaseModel], batch: int = BATCH_ROWS
) -> tuple[int, str]:
    """(rows, checksum) of the model's table: see the module docstring."""
    normal = _normaliser(model)
    rows_seen = 0
    total = 0
    for rows in read_batches(db, model, batch):
        rows_seen += len(rows)
        total += sum(row_hash(normal(row)) for row in rows)
    return rows_seen, _hex(total)


def differences(
    source: DatabaseConfig,
    target: DatabaseConfig,
    model: type[BaseModel],
    batch: int = BATCH_ROWS,
    limit: int = SHOW_DIFFERENCES,
) -> list[str]:
    """Up to ``limit`` descriptions of rows missing from, differing in, or only in the
    target."""
    found = _compare(source, target, model, batch, limit, "missing from the target")
    if len(found) < limit:
        found += _compare(target, source, model, batch, limit - len(found), None)
    return found


def _compare(
    a: DatabaseConfig,
    b: DatabaseConfig,
    model: type[BaseModel],
    batch: int,
    limit: int,
    missing: str | None,
) -> list[str]:
    """Rows of ``a`` that ``b`` lacks (described as ``missing``; "only in the target"
    when a is the target) or holds with other values (when ``missing`` is given: the
    source's side, so each difference is told once)."""
    names = model.field_names()
    key = model.primary_key
    position = names.index(key)
    normal = _normaliser(model)
    lookup = (
        f"SELECT {_select(b, model)} FROM {quote_identifier(model.get_table_name())} "
        f"WHERE {quote_identifier(key)} IN "
    )
    found: list[str] = []
    for rows in read_batches(a, model, batch):
        for start in range(0, len(rows), LOOKUP_KEYS):
            chunk = rows[start : start + LOOKUP_KEYS]
            keys = [row[position] for row in chunk]
            sql = lookup + "(" + ", ".join("?" * len(keys)) + ")"
            other = {row[position]: normal(row) for row in b.execute_rows(sql, keys)[1]}
            for row in chunk:
                theirs = other.get(row[position])
                if theirs is None:
                    what = missing or "only in the target"
                    found.append(f"{key} {row[position]!r}: {what}")
                elif missing is not None and normal(row) != theirs:
                    columns = [
                        n for n, x, y in zip(names, normal(row), theirs, strict=True) if x != y
                    ]
                    found.append(
                        f"{key} {row[position]!r}: differs in {', '.join(columns)} "
                        "(the target's row was kept)"
                    )
                if len(found) >= limit:
                    return found
    return found
