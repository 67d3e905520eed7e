"""What a worker process keeps up between jobs: the planner's statistics and the counts.

A database is usually created empty, so the statistics its tables got at creation
say they hold nothing. Until they are refreshed, PostgreSQL plans the queue's
look-up of the URLs already queued as a scan of every active job instead of one
probe per URL (measured: 5 to 10 ms a batch of 10 instead of 0.1, while a fresh
jobs table grows). ``schema/reconcile.refresh_statistics`` analyzes a table once its
size has doubled or halved; checking reads two numbers a table (no scan), so it is checked
every STATISTICS_CHECK_SECONDS, and a new database has statistics within seconds of
its first jobs (autovacuum's first visit comes up to a minute later). The counts
tables' delta rows (PostgreSQL) are folded every COUNTS_FOLD_SECONDS.

One Upkeep per worker process; its slots share it, and ``run_due`` is safe to call
from any of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS
from collector.schema.reconcile import compact_counts, refresh_statistics

logger = logging.getLogger(__name__)

STATISTICS_CHECK_SECONDS = 5.0
COUNTS_FOLD_SECONDS = 60.0


class Upkeep:
    """Statistics checked every STATISTICS_CHECK_SECONDS, counts folded every
    COUNTS_FOLD_SECONDS; both first on the first call."""

    def __init__(
        self, db: DatabaseConfig, name: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db, self.name, self.clock = db, name, clock
        self._lock = threading.Lock()
        self._next_statistics = self._next_fold = float("-inf")

    def run_due(self) -> None:
        """Refresh the stale statistics and fold the counts, each if it is due."""
        now = self.clock()
        with self._lock:
            statistics = now >= self._next_statistics
            fold = now >= self._next_fold
            if statistics:
                self._next_statistics = now + STATISTICS_CHECK_SECONDS
            if fold:
                self._next_fold = now + COUNTS_FOLD_SECONDS
        if statistics:
            refreshed = refresh_statistics(self.db, ALL_MODELS)
            if refreshed:
                logger.info("worker %s refreshed statistics of %s", self.name, ", ".join(refreshed))
        if fold:
            folded = compact_counts(self.db, ALL_MODELS)
            if folded:
                logger.debug("worker %s folded %d counts rows", self.name, folded)
