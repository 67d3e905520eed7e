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

Each engine's dialect gives the tables and triggers in its own form (SQLite: a
counter row per value updated in place; PostgreSQL: insert-only delta rows, see
dialects/postgresql_ddl.py); a counts table is always read as ``SUM("count")`` per
value, which is the same on both. Reconcile creates them, compares each trigger as
stored with what the dialect generates, and on any difference recreates the triggers
and recomputes the table from the source table in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from collector.dialects import SQLITE, Connection, Derived, Dialect, dialect_for
from collector.dialects.base import counts_table, orphans_table
from collector.schema.sql import quote_identifier

__all__ = ["Derived", "counts_table", "declared", "orphans_table", "repair", "state", "verify"]

if TYPE_CHECKING:
    from collector.models.base import BaseModel

logger = logging.getLogger(__name__)


def declared(models: Sequence[type[BaseModel]], dialect: Dialect | None = None) -> list[Derived]:
    """Every derived table the models ask for, in a stable order, in ``dialect``'s form
    (SQLite's by default)."""
    dialect = SQLITE if dialect is None else dialect
    result = []
    for model in models:
        table = model.get_table_name()
        for column in model.counted_by:
            result.append(dialect.counter(table, column))
        for column in model.field_names():
            ref = model.field(column).references
            if ref:
                parent, key = ref.split(".")
                result.append(dialect.orphans(table, column, parent, key))
        if model.search:
            fts = dialect.search_derived(table, model.search)
            if fts is not None:
                result.append(fts)
    return result


def state(conn: Connection, item: Derived) -> tuple[str, str]:
    """("ok" | "missing" | "changed" | "drifted", detail) for one derived table;
    "changed": its own definition differs (Derived.compare_table), so it is made anew."""
    dialect = dialect_for(conn)
    if item.table not in dialect.table_names(conn):
        return "missing", "table missing"
    if item.compare_table:
        stored = dialect.stored_table_sql(conn, item.table)
        if stored is not None and stored != item.create_sql:
            return "changed", f"table {item.table} differs: {stored}"
    problems = []
    for trigger in item.triggers:
        stored = dialect.stored_trigger_sql(conn, trigger.name)
        if stored is None:
            problems.append(f"trigger {trigger.name} missing")
        elif stored != dialect.trigger_sql(trigger):
            problems.append(f"trigger {trigger.name} differs")
    return ("drifted" if problems else "ok"), "; ".join(problems)


def repair(conn: Connection, item: Derived, current: str) -> None:
    """Create or recreate a derived table's triggers and recompute its rows.

    Runs inside the caller's transaction: readers never see it half done. A "changed"
    table holds only what the rebuild recomputes (Derived.compare_table): it is dropped.
    """
    if current == "changed":
        conn.execute(f"DROP TABLE {quote_identifier(item.table)}")
    if current in ("missing", "changed"):
        conn.execute(item.create_sql)
    dialect = dialect_for(conn)
    for trigger in item.triggers:
        dialect.replace_trigger(conn, trigger)
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


def compact(conn: Connection, item: Derived) -> int:
    """Fold a derived table's rows (PostgreSQL's delta rows) into one per value."""
    return dialect_for(conn).compact(conn, item)
