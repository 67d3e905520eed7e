"""Read the schema back through PRAGMAs (never by parsing our own DDL).

The one exception is a partial index's WHERE clause, which SQLite exposes only as
the text of its CREATE statement: :func:`where_tokens` tokenises that text so it can
be compared with a declaration regardless of quoting, case and spacing.
"""

from __future__ import annotations

import re
import sqlite3
from typing import NamedTuple


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


def table_names(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {row[0] for row in rows}


def table_columns(conn: sqlite3.Connection, table: str) -> list[ColumnInfo]:
    rows = conn.execute(
        'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)', (table,)
    )
    return [ColumnInfo(r[0], r[1], bool(r[2]), r[3], bool(r[4])) for r in rows]


def index_info(conn: sqlite3.Connection, name: str) -> IndexInfo | None:
    """One index by name (SQLite's names ignore case), on whatever table it is."""
    row = conn.execute(
        "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND name = ? COLLATE NOCASE",
        (name,),
    ).fetchone()
    if row is None:
        return None
    for info in table_indexes(conn, row[0]):
        if info.name == row[1]:
            return info
    return None


def table_indexes(conn: sqlite3.Connection, table: str) -> list[IndexInfo]:
    """Every index on ``table``, with its key columns in order."""
    result = []
    listing = conn.execute(
        'SELECT name, "unique", origin, partial FROM pragma_index_list(?) ORDER BY name', (table,)
    ).fetchall()
    for name, unique, origin, partial in listing:
        keys = conn.execute(
            'SELECT name, "desc", coll FROM pragma_index_xinfo(?) WHERE "key" = 1 ORDER BY seqno',
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
