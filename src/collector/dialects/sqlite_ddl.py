"""The models' declarations as SQLite DDL, an index compared with its declaration, and
the triggers of the derived tables (schema/derived.py says what they are for).

SQLite keeps a partial index's WHERE clause only as the text of its CREATE statement,
so :func:`where_tokens` tokenises that text to compare it with a declaration
regardless of quoting, case and spacing. Everything else is read field by field.

The counters are one row per value, updated in place (``INSERT ... ON CONFLICT DO
UPDATE``): SQLite's write transactions exclude each other, so two transitions never
hold two counter rows at once and cannot deadlock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from collector.models.quoting import quote_identifier as q
from collector.models.quoting import quote_literal

from .base import Derived, IndexInfo, Trigger, counts_table, orphans_table, search_table

if TYPE_CHECKING:
    from collector.models.fields import IndexSpec

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


def index_differences(spec: IndexSpec, info: IndexInfo) -> list[str]:
    """What differs between a declaration and the index in the database ([] if same)."""
    found = []
    if info.table != spec.table:
        found.append(f"on table {info.table}, declared on {spec.table}")
    wanted = tuple((col, direction == "DESC") for col, direction in spec.columns)
    if info.columns != wanted:
        found.append(f"columns {_keys(info.columns)}, declared {_keys(wanted)}")
    if any(coll.upper() != "BINARY" for coll in info.collations):
        found.append(f"collations {info.collations}, declared BINARY")
    if info.unique != spec.unique:
        found.append(f"unique={info.unique}, declared unique={spec.unique}")
    declared_where = where_tokens(spec.create_sql(if_not_exists=False))
    if info.partial != bool(spec.where) or where_tokens(info.sql) != declared_where:
        actual = " ".join(where_tokens(info.sql)) or "none"
        found.append(f"where {actual}, declared {spec.where_sql() or 'none'}")
    return found


def _keys(columns: Sequence[tuple[str | None, bool]]) -> str:
    return "(" + ", ".join(f"{c or '<expr>'}{' DESC' if d else ''}" for c, d in columns) + ")"


def _row_triggers(
    name: str, table: str, add: str, remove: str, columns: str, changed: str
) -> tuple[Trigger, Trigger, Trigger]:
    """The three triggers that keep the derived table ``name`` in step with ``table``:
    ``add`` a new row, ``remove`` a deleted one, and on an update of ``columns`` that
    ``changed``, remove the old row, then add the new one."""
    t = q(table)
    return (
        Trigger(f"trg_{name}_insert", table, f"AFTER INSERT ON {t} BEGIN {add} END"),
        Trigger(f"trg_{name}_delete", table, f"AFTER DELETE ON {t} BEGIN {remove} END"),
        Trigger(
            f"trg_{name}_update",
            table,
            f"AFTER UPDATE OF {columns} ON {t} WHEN {changed} BEGIN {remove} {add} END",
        ),
    )


def counter(table: str, column: str) -> Derived:
    name = counts_table(table, column)
    t, c, k = q(table), q(column), q(name)
    bump = (
        f'INSERT INTO {k} ({c}, "count") VALUES (NEW.{c}, 1) '
        f'ON CONFLICT ({c}) DO UPDATE SET "count" = "count" + 1;'
    )
    drop = f'UPDATE {k} SET "count" = "count" - 1 WHERE {c} = OLD.{c};'
    return Derived(
        table=name,
        source=table,
        kind="counts",
        create_sql=f'CREATE TABLE {k} ({c} TEXT PRIMARY KEY, "count" INTEGER NOT NULL) '
        "WITHOUT ROWID",
        triggers=_row_triggers(name, table, bump, drop, c, f"OLD.{c} IS NOT NEW.{c}"),
        columns=f'{c}, "count"',
        truth_sql=f"SELECT {c}, COUNT(*) FROM {t} GROUP BY {c}",
        content_sql=f'SELECT {c}, SUM("count") FROM {k} GROUP BY {c} HAVING SUM("count") != 0',
    )


def orphans(child: str, column: str, parent: str, key: str) -> Derived:
    name = orphans_table(child, column)
    f, c, p, pk, o = q(child), q(column), q(parent), q(key), q(name)

    def mark(value: str) -> str:  # mark value as orphaned if it has files and no parent
        return (
            f"INSERT OR IGNORE INTO {o} ({c}) SELECT {value} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {p} WHERE {pk} = {value}) "
            f"AND EXISTS (SELECT 1 FROM {f} WHERE {c} = {value});"
        )

    def unmark(value: str) -> str:  # unmark value unless it still has orphaned files
        return (
            f"DELETE FROM {o} WHERE {c} = {value} AND (EXISTS (SELECT 1 FROM {p} "
            f"WHERE {pk} = {value}) OR NOT EXISTS (SELECT 1 FROM {f} WHERE {c} = {value}));"
        )

    in_orphans = "EXISTS (SELECT 1 FROM {o} WHERE {c} = {v})"
    return Derived(
        table=name,
        source=child,
        kind="orphans",
        create_sql=f"CREATE TABLE {o} ({c} TEXT PRIMARY KEY) WITHOUT ROWID",
        triggers=(
            Trigger(
                f"trg_{name}_child_insert",
                child,
                f"AFTER INSERT ON {f} WHEN NOT EXISTS (SELECT 1 FROM {p} WHERE {pk} = NEW.{c}) "
                f"BEGIN {mark(f'NEW.{c}')} END",
            ),
            Trigger(
                f"trg_{name}_child_delete",
                child,
                f"AFTER DELETE ON {f} WHEN {in_orphans.format(o=o, c=c, v=f'OLD.{c}')} "
                f"BEGIN {unmark(f'OLD.{c}')} END",
            ),
            Trigger(
                f"trg_{name}_child_update",
                child,
                f"AFTER UPDATE OF {c} ON {f} WHEN OLD.{c} IS NOT NEW.{c} "
                f"BEGIN {unmark(f'OLD.{c}')} {mark(f'NEW.{c}')} END",
            ),
            Trigger(
                f"trg_{name}_parent_insert",
                parent,
                f"AFTER INSERT ON {p} WHEN {in_orphans.format(o=o, c=c, v=f'NEW.{pk}')} "
                f"BEGIN {unmark(f'NEW.{pk}')} END",
            ),
            Trigger(
                f"trg_{name}_parent_delete",
                parent,
                f"AFTER DELETE ON {p} WHEN EXISTS (SELECT 1 FROM {f} WHERE {c} = OLD.{pk}) "
                f"BEGIN {mark(f'OLD.{pk}')} END",
            ),
            Trigger(
                f"trg_{name}_parent_update",
                parent,
                f"AFTER UPDATE OF {pk} ON {p} WHEN OLD.{pk} IS NOT NEW.{pk} "
                f"BEGIN {mark(f'OLD.{pk}')} {unmark(f'NEW.{pk}')} END",
            ),
        ),
        columns=c,
        truth_sql=f"SELECT {c} FROM {f} AS child GROUP BY {c} "
        f"HAVING NOT EXISTS (SELECT 1 FROM {p} WHERE {p}.{pk} = child.{c})",
        content_sql=f"SELECT {c} FROM {o}",
    )


def search(table: str, columns: Sequence[str]) -> Derived:
    """An external-content FTS5 table over ``table``'s ``columns``, kept by triggers.

    The FTS table stores only its index: the text is read from ``table`` by rowid. The
    tokenizer keeps diacritics (like PostgreSQL's 'simple' configuration), so a word
    matches the same rows on both engines. ``table`` must not be VACUUMed into new
    rowids (it has no INTEGER PRIMARY KEY): reconcile's rebuild restores the index if
    it ever were.
    """
    name = search_table(table)
    t, s = q(table), q(name)
    cols = ", ".join(q(c) for c in columns)
    new = ", ".join(f"NEW.{q(c)}" for c in columns)
    old = ", ".join(f"OLD.{q(c)}" for c in columns)
    insert = f"INSERT INTO {s} (rowid, {cols}) VALUES (NEW.rowid, {new});"
    delete = f"INSERT INTO {s} ({s}, rowid, {cols}) VALUES ('delete', OLD.rowid, {old});"
    changed = " OR ".join(f"OLD.{q(c)} IS NOT NEW.{q(c)}" for c in columns)
    return Derived(
        table=name,
        source=table,
        kind="search",
        create_sql=(
            f"CREATE VIRTUAL TABLE {s} USING fts5({cols}, content={quote_literal(table)}, "
            "content_rowid='rowid', tokenize='unicode61 remove_diacritics 0')"
        ),
        triggers=_row_triggers(name, table, insert, delete, cols, changed),
        columns=cols,
        # An external-content table reads its rows from the source: these compare
        # the rows it covers; FTS5's own 'integrity-check' compares the words.
        truth_sql=f"SELECT rowid FROM {t}",
        content_sql=f"SELECT rowid FROM {s}",
        rebuild=(f"INSERT INTO {s} ({s}) VALUES ('rebuild')",),
        # Its columns are the searched ones: another list is another table (it holds
        # only the index of words, which 'rebuild' reads back from the source rows).
        compare_table=True,
    )
