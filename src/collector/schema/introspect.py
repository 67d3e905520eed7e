"""Read the schema back through the connection's dialect (never by parsing our own DDL).

The one exception is a partial index's WHERE clause, which SQLite exposes only as
the text of its CREATE statement: :func:`where_tokens` tokenises that text so it can
be compared with a declaration regardless of quoting, case and spacing.
"""

from __future__ import annotations

from collector.dialects import ColumnInfo, Connection, IndexInfo, dialect_for
from collector.dialects.sqlite_ddl import where_tokens

__all__ = [
    "ColumnInfo",
    "IndexInfo",
    "index_info",
    "table_columns",
    "table_indexes",
    "table_names",
    "where_tokens",
]


def table_names(conn: Connection) -> set[str]:
    return dialect_for(conn).table_names(conn)


def table_columns(conn: Connection, table: str) -> list[ColumnInfo]:
    return dialect_for(conn).table_columns(conn, table)


def index_info(conn: Connection, name: str) -> IndexInfo | None:
    """One index by name, on whatever table it is."""
    return dialect_for(conn).index_info(conn, name)


def table_indexes(conn: Connection, table: str) -> list[IndexInfo]:
    """Every index on ``table``, with its key columns in order."""
    return dialect_for(conn).table_indexes(conn, table)
