"""Read the schema back through the connection's dialect (never by parsing our own DDL).

The one exception is a partial index's WHERE clause, which SQLite exposes only as
the text of its CREATE statement: :func:`where_tokens` tokenises that text so it can
be compared with a declaration regardless of quoting, case and spacing.
"""

from __future__ import annotations

import re

from collector.dialects import ColumnInfo, Connection, IndexInfo, dialect_for

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


_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|\w+|[^\s\w]")


def where_tokens(sql: str | None) -> tuple[str, ...]:
    """The tokens of the WHERE clause of a CREATE INDEX statement, normalised.

    Identifiers lose their quotes and case; string literals keep theirs. An index
    without a WHERE clause gives an empty tuple.
    """
    if not sql:
        return ()
    tokens: list[str] = []
    keyword_at: list[int] = []  # positions of a bare WHERE outside parentheses
    depth = 0
    for token in _TOKEN.findall(sql):
        if token[0] == "'":
            tokens.append(token)
        elif token[0] in '"`[':
            tokens.append(token[1:-1].replace('""', '"').lower())
        else:
            word = token.lower()
            depth += {"(": 1, ")": -1}.get(word, 0)
            if word == "where" and depth == 0:
                keyword_at.append(len(tokens))
            tokens.append(word)
    return tuple(tokens[keyword_at[0] + 1 :]) if keyword_at else ()
