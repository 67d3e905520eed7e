"""Keep the query planner's statistics (``sqlite_stat1``) in step with the data.

A database is usually created empty: the ANALYZE that follows the first index build
finds nothing to measure, and without statistics SQLite guesses that every status is
as common as any other. Measured on 20,000 jobs grown that way, the active-jobs
queries then walk ``idx_jobs_status`` and sort (a temp B-tree) instead of reading
the partial index ``idx_jobs_active_created`` in order. So the statistics are
refreshed whenever a table's size has moved by more than :data:`GROWTH` since it was
last analyzed: at every start (reconcile) and, in long-running processes, from time
to time (the worker). A table's size is ``MAX(rowid)`` (one B-tree descent), the
analyzed size the first number of its primary key's ``sqlite_stat1`` row; a full
ANALYZE keeps that number exact, so a second check right after does nothing.
Doubling means a table is analyzed about log2(n) times in its life.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from .sql import quote_identifier

if TYPE_CHECKING:
    from collector.models.base import BaseModel

logger = logging.getLogger(__name__)

GROWTH = 2.0  # re-analyze once a table is this many times larger or smaller


class TableStats(NamedTuple):
    table: str
    rows: int  # MAX(rowid): the rows a table holds, give or take deletions
    analyzed: int | None  # the row count sqlite_stat1 knows, None if never analyzed

    @property
    def stale(self) -> bool:
        if self.analyzed is None or self.analyzed == 0:
            return self.rows > 0
        ratio = self.rows / self.analyzed
        return ratio >= GROWTH or ratio <= 1 / GROWTH


def _analyzed_rows(conn: sqlite3.Connection, table: str) -> int | None:
    """Row count in the stat1 row of the table's primary-key (or first) index."""
    try:
        rows = conn.execute(
            "SELECT s.stat FROM sqlite_stat1 AS s "
            "JOIN sqlite_master AS m ON m.type = 'index' AND m.name = s.idx "
            "WHERE s.tbl = ? ORDER BY m.name LIKE 'sqlite_autoindex_%' DESC, m.name LIMIT 1",
            (table,),
        ).fetchall()
    except sqlite3.OperationalError:  # no sqlite_stat1 yet: never analyzed
        return None
    return int(rows[0][0].split()[0]) if rows else None


def table_stats(conn: sqlite3.Connection, table: str) -> TableStats:
    rows = conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {quote_identifier(table)}")
    return TableStats(table, rows.fetchone()[0], _analyzed_rows(conn, table))


def stale_tables(conn: sqlite3.Connection, models: Sequence[type[BaseModel]]) -> list[TableStats]:
    """The models' tables (those that exist) whose statistics no longer fit their size."""
    present = {
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    found = []
    for model in models:
        table = model.get_table_name()
        if table in present:
            stats = table_stats(conn, table)
            if stats.stale:
                found.append(stats)
    return found


def analyze(conn: sqlite3.Connection, stats: TableStats) -> None:
    conn.execute(f"ANALYZE {quote_identifier(stats.table)}")
    logger.info(
        "analyzed %s: %s rows, statistics were for %s",
        stats.table,
        f"{stats.rows:,}",
        "none" if stats.analyzed is None else f"{stats.analyzed:,}",
    )
