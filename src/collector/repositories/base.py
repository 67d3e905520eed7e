"""What every repository shares: its database, its model, a few checked helpers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, ClassVar, Generic, TypeVar, cast

from collector.config.database import DatabaseConfig, get_db_config
from collector.dialects import Connection, Dialect, dialect_for
from collector.models.base import BaseModel
from collector.schema.derived import counts_table
from collector.schema.sql import column_list, placeholders, quote_identifier

from .paging import DEFAULT_PAGE, Page, encode_cursor, keyset_query

M = TypeVar("M", bound=BaseModel)

MAX_LIMIT = 10_000
# Rows per bulk INSERT statement: past ~50 the per-statement cost is gone (measured).
ROWS_PER_INSERT = 100
# Rows per INSERT where the engine binds one array per column (PostgreSQL).
ROWS_PER_ARRAY_INSERT = 1000


def check_limit(limit: Any, allow_none: bool = True) -> int | None:
    """A page size: a positive int up to MAX_LIMIT (or None where allowed)."""
    if limit is None and allow_none:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    return limit


def check_choice(what: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else ValueError listing them."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(choices)}")
    return value


class Repository(Generic[M]):
    """Base of the repositories: ``db`` defaults to the current app's or process's."""

    model: ClassVar[type[BaseModel]]

    def __init__(self, db: DatabaseConfig | None = None) -> None:
        self.db = db if db is not None else get_db_config()

    @classmethod
    def table(cls) -> str:
        return quote_identifier(cls.model.get_table_name())

    @classmethod
    @cache
    def insert_sql(cls, rows: int = 1) -> str:
        """INSERT of ``rows`` rows, each a tuple in ``field_names()`` order."""
        if rows < 1:
            raise ValueError(f"rows must be 1 or more, not {rows!r}")
        names = cls.model.field_names()
        values = ", ".join([f"({placeholders(len(names))})"] * rows)
        return f"INSERT INTO {cls.table()} ({column_list(names)}) VALUES {values}"

    @classmethod
    def rows_per_insert(cls, conn: Connection) -> int:
        """Rows one bulk INSERT carries: ROWS_PER_INSERT, fewer if the engine's bound-variable
        limit on this connection is lower; ValueError if not even one row fits."""
        width = len(cls.model.field_names())
        dialect = dialect_for(conn)
        variables = dialect.max_variables(conn)
        if variables < width:
            raise ValueError(
                f"{dialect.display_name}'s limit of {variables} bound variables is below the "
                f"{width} values of one {cls.model.__name__} row"
            )
        return min(ROWS_PER_INSERT, variables // width)

    @classmethod
    def insert_rows(
        cls, conn: Connection, rows: Iterable[Sequence[Any]], savepoint: bool = True
    ) -> int:
        """Bulk insert: row tuples in ``field_names()`` order, all or none.

        Rows go in several to a statement, not one per statement as executemany runs
        them: every statement opens a cursor on the table and each of its indexes,
        and on a table with triggers a statement journal, which with the schema's
        indexes and triggers cost more than the inserts themselves (docs/indexes.md,
        "Bulk insert"). On PostgreSQL a statement binds one array per column
        (``array_insert_sql``), so its text is the same for any number of rows and
        stays prepared. The statements run inside a savepoint, so a failing row
        leaves none of the rows behind, whether or not the caller holds a
        transaction. Returns the number of rows inserted.

        ``savepoint=False``: a caller whose transaction is rolled back whole when this
        raises (it lets the error through) skips the savepoint's two round trips.
        """
        rows = rows if isinstance(rows, (list, tuple)) else list(rows)
        width = len(cls.model.field_names())
        for number, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(
                    f"row {number} of {cls.model.__name__} has {len(row)} values; "
                    f"{width} expected ({', '.join(cls.model.field_names())})"
                )
        dialect = dialect_for(conn)
        if not dialect.in_transaction(conn):  # a SAVEPOINT outside one: SQLite only
            dialect.begin_write(conn)
            try:
                cls._insert_chunks(conn, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return len(rows)
        if not savepoint:
            cls._insert_chunks(conn, rows)
            return len(rows)
        conn.execute("SAVEPOINT insert_rows")
        try:
            cls._insert_chunks(conn, rows)
        except BaseException:
            conn.execute("ROLLBACK TO insert_rows")
            conn.execute("RELEASE insert_rows")
            raise
        conn.execute("RELEASE insert_rows")
        return len(rows)

    @classmethod
    @cache
    def array_insert_sql(cls, dialect: Dialect, where: str | None = None) -> str | None:
        """The dialect's INSERT of this model's rows that binds one array per column
        (keeping only the rows ``where`` holds for), or None."""
        model = cls.model
        columns = [(name, model.field(name).type) for name in model.field_names()]
        return dialect.array_insert_sql(model.get_table_name(), columns, where)

    @classmethod
    def _insert_chunks(cls, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        arrays = cls.array_insert_sql(dialect_for(conn))
        if arrays is not None:  # one array per column, any number of rows
            for start in range(0, len(rows), ROWS_PER_ARRAY_INSERT):
                chunk = rows[start : start + ROWS_PER_ARRAY_INSERT]
                conn.execute(arrays, [list(column) for column in zip(*chunk, strict=True)])
            return
        per = cls.rows_per_insert(conn)
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            conn.execute(cls.insert_sql(len(chunk)), [value for row in chunk for value in row])

    def _rows_to_models(self, rows: Sequence[Any]) -> list[M]:
        if not rows:
            return []
        model = cast(type[M], self.model)
        return model.from_rows(rows, rows[0].keys())

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[M]:
        """Run a SELECT * and build the models (the fast path, plain tuples)."""
        names, rows = self.db.execute_rows(sql, params)
        model = cast(type[M], self.model)
        return model.from_rows(rows, names)

    def _one(self, rows: Sequence[Any]) -> M | None:
        return self._rows_to_models(rows[:1])[0] if rows else None

    @classmethod
    def count_sql(cls) -> str:
        """COUNT(*) walks a whole index; a counted model sums its counts table instead."""
        model = cls.model
        if model.counted_by:
            counts = counts_table(model.get_table_name(), model.counted_by[0])
            return f'SELECT COALESCE(SUM("count"), 0) FROM {quote_identifier(counts)}'
        return "SELECT COUNT(*) FROM " + cls.table()

    def count(self) -> int:
        """Number of rows in the table."""
        rows = self.db.execute_query(self.count_sql())
        return int(rows[0][0]) if rows else 0

    def _page(
        self,
        terms: list[str],
        params: list[Any],
        cursor: str | None,
        limit: int = DEFAULT_PAGE,
        oldest_first: bool = False,
    ) -> Page[M]:
        """A keyset page of rows matching ``terms``, newest first (or oldest first)."""
        check_limit(limit, allow_none=False)
        table = "SELECT * FROM " + self.table()
        sql, values = keyset_query(table, terms, params, cursor, limit, oldest_first)
        names, rows = self.db.execute_rows(sql, values)
        return self._page_of(names, rows, limit)

    def _page_of(self, names: Sequence[str], rows: list[tuple], limit: int) -> Page[M]:
        """The page a keyset statement returned: ``limit`` + 1 rows at most, the last
        one there only to tell that another page follows."""
        more = len(rows) > limit
        rows = rows[:limit]
        # The cursor carries the stored text, not a re-rendered datetime: legacy rows
        # without a fraction must compare exactly as stored.
        next_cursor = None
        if more:
            last = dict(zip(names, rows[-1], strict=True))
            next_cursor = encode_cursor(last["created_at"], last["id"])
        model = cast(type[M], self.model)
        return Page(model.from_rows(rows, names), next_cursor)
