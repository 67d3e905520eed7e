"""Keep the query planner's statistics (``sqlite_stat1``) in step with the data.

A database is usually created empty: the ANALYZE that follows the first index build
finds nothing to measure, and without statistics SQLite guesses that every status is
as common as any other. Measured on 20,000 jobs grown that way, the active-jobs
queries then walk ``idx_jobs_status`` and sort (a temp B-tree) instead of reading
the partial index ``idx_jobs_active_created`` in order. So the statistics are
refreshed whenever a table's size has moved by more than :data:`GROWTH` since it was
last analyzed: at every start (reconcile) and, in long-running processes, from time
to time (the worker). A table's size is ``MAX(rowid)`` (one B-tree descent), the
analyzed size the first number of its primary key's ``sqlite_stat1`` row (both read
by the connection's dialect); a full
ANALYZE keeps that number exact, so a second check right after does nothing.
Doubling means a table is analyzed about log2(n) times in its life.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from collector.dialects import Connection, dialect_for

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


def table_stats(conn: Connection, table: str) -> TableStats:
    dialect = dialect_for(conn)
    return TableStats(table, dialect.table_size(conn, table), dialect.analyzed_rows(conn, table))


def stale_tables(conn: Connection, models: Sequence[type[BaseModel]]) -> list[TableStats]:
    """The models' tables (those that exist) whose statistics no longer fit their size."""
    present = dialect_for(conn).table_names(conn)
    found = []
    for model in models:
        table = model.get_table_name()
        if table in present:
            stats = table_stats(conn, table)
            if stats.stale:
                found.append(stats)
    return found


def analyze(conn: Connection, stats: TableStats) -> None:
    dialect_for(conn).analyze(conn, stats.table)
    logger.info(
        "analyzed %s: %s rows, statistics were for %s",
        stats.table,
        f"{stats.rows:,}",
        "none" if stats.analyzed is None else f"{stats.analyzed:,}",
    )
