"""Derived state kept exact by triggers: per-value row counts and orphan tracking.

Two questions the dashboard asks are O(rows) however they are indexed: "how many
jobs per status" (a GROUP BY walks a whole index) and "which files lost their job"
(every file's job must be probed). Both are answered here from small tables that
triggers maintain inside the same transaction as the write that changes them, so
they are exact at all times: a write that rolls back rolls its counts back too.

- ``{table}_{column}_counts``: one row per value of a declared column with its
  row count (``counted_by`` on the model).
- ``{table}_orphan_{column}``: the values of a foreign-key column (``references``)
  that name no parent row: the job ids whose files are orphans.

The trigger bodies are SQLite's; the statements that create, drop and read back a
trigger are the connection's dialect's. Reconcile creates them, compares each
trigger's stored SQL with what is generated here, and on any difference recreates
the triggers and recomputes the table from the source table in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collector.dialects import Connection, dialect_for

from .sql import quote_identifier as q

if TYPE_CHECKING:
    from collector.models.base import BaseModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Derived:
    """A derived table: its DDL, its triggers and the statement that recomputes it."""

    table: str
    source: str
    kind: str  # "counts" or "orphans"
    create_sql: str
    triggers: tuple[tuple[str, str], ...]  # (name, body after CREATE TRIGGER "name")
    columns: str  # the derived table's column list, quoted
    truth_sql: str  # SELECT computing the rows from the source table
    content_sql: str  # SELECT of the rows the derived table holds

    def rebuild_sql(self) -> tuple[str, str]:
        return (
            f"DELETE FROM {q(self.table)}",
            f"INSERT INTO {q(self.table)} ({self.columns}) {self.truth_sql}",
        )


def counts_table(table: str, column: str) -> str:
    return f"{table}_{column}_counts"


def orphans_table(table: str, column: str) -> str:
    return f"{table}_orphan_{column}"


def _counter(table: str, column: str) -> Derived:
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
        triggers=(
            (f"trg_{name}_insert", f"AFTER INSERT ON {t} BEGIN {bump} END"),
            (f"trg_{name}_delete", f"AFTER DELETE ON {t} BEGIN {drop} END"),
            (
                f"trg_{name}_update",
                f"AFTER UPDATE OF {c} ON {t} WHEN OLD.{c} IS NOT NEW.{c} BEGIN {drop} {bump} END",
            ),
        ),
        columns=f'{c}, "count"',
        truth_sql=f"SELECT {c}, COUNT(*) FROM {t} GROUP BY {c}",
        content_sql=f'SELECT {c}, "count" FROM {k} WHERE "count" != 0',
    )


def _orphans(child: str, column: str, parent: str, key: str) -> Derived:
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
            (
                f"trg_{name}_child_insert",
                f"AFTER INSERT ON {f} WHEN NOT EXISTS (SELECT 1 FROM {p} WHERE {pk} = NEW.{c}) "
                f"BEGIN {mark(f'NEW.{c}')} END",
            ),
            (
                f"trg_{name}_child_delete",
                f"AFTER DELETE ON {f} WHEN {in_orphans.format(o=o, c=c, v=f'OLD.{c}')} "
                f"BEGIN {unmark(f'OLD.{c}')} END",
            ),
            (
                f"trg_{name}_child_update",
                f"AFTER UPDATE OF {c} ON {f} WHEN OLD.{c} IS NOT NEW.{c} "
                f"BEGIN {unmark(f'OLD.{c}')} {mark(f'NEW.{c}')} END",
            ),
            (
                f"trg_{name}_parent_insert",
                f"AFTER INSERT ON {p} WHEN {in_orphans.format(o=o, c=c, v=f'NEW.{pk}')} "
                f"BEGIN {unmark(f'NEW.{pk}')} END",
            ),
            (
                f"trg_{name}_parent_delete",
                f"AFTER DELETE ON {p} WHEN EXISTS (SELECT 1 FROM {f} WHERE {c} = OLD.{pk}) "
                f"BEGIN {mark(f'OLD.{pk}')} END",
            ),
            (
                f"trg_{name}_parent_update",
                f"AFTER UPDATE OF {pk} ON {p} WHEN OLD.{pk} IS NOT NEW.{pk} "
                f"BEGIN {mark(f'OLD.{pk}')} {unmark(f'NEW.{pk}')} END",
            ),
        ),
        columns=c,
        truth_sql=f"SELECT {c} FROM {f} AS child GROUP BY {c} "
        f"HAVING NOT EXISTS (SELECT 1 FROM {p} WHERE {p}.{pk} = child.{c})",
        content_sql=f"SELECT {c} FROM {o}",
    )


def declared(models: Sequence[type[BaseModel]]) -> list[Derived]:
    """Every derived table the models ask for, in a stable order."""
    result = []
    for model in models:
        table = model.get_table_name()
        for column in model.counted_by:
            result.append(_counter(table, column))
        for column in model.field_names():
            ref = model.field(column).references
            if ref:
                parent, key = ref.split(".")
                result.append(_orphans(table, column, parent, key))
    return result


def state(conn: Connection, item: Derived) -> tuple[str, str]:
    """("ok" | "missing" | "drifted", detail) for one derived table."""
    dialect = dialect_for(conn)
    if item.table not in dialect.table_names(conn):
        return "missing", "table missing"
    problems = []
    for name, body in item.triggers:
        stored = dialect.stored_trigger_sql(conn, name)
        if stored is None:
            problems.append(f"trigger {name} missing")
        elif stored != dialect.trigger_sql(name, body):
            problems.append(f"trigger {name} differs")
    return ("drifted" if problems else "ok"), "; ".join(problems)


def repair(conn: Connection, item: Derived, current: str) -> None:
    """Create or recreate a derived table's triggers and recompute its rows.

    Runs inside the caller's transaction: readers never see it half done.
    """
    if current == "missing":
        conn.execute(item.create_sql)
    dialect = dialect_for(conn)
    for name, body in item.triggers:
        dialect.replace_trigger(conn, name, body)
    for statement in item.rebuild_sql():
        conn.execute(statement)
    logger.info(
        "%s %s (from %s)", "built" if current == "missing" else "rebuilt", item.table, item.source
    )


def verify(conn: Connection, item: Derived) -> bool:
    """True if the derived table holds exactly what recomputing it would give."""
    actual = conn.execute(item.content_sql).fetchall()
    truth = conn.execute(item.truth_sql).fetchall()
    return sorted(map(tuple, actual)) == sorted(map(tuple, truth))
