"""Read EXPLAIN QUERY PLAN structurally, and check a query against its contract.

SQLite spells plan steps differently across versions (``SCAN TABLE jobs`` before
3.36, ``SCAN jobs`` after; ``AS alias`` before, the bare alias after), so each
step's text is parsed into fields once, here, and checks work on the fields.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

_STEP = re.compile(
    r"^(?P<op>SCAN|SEARCH)\s+(?:TABLE\s+)?(?P<table>\S+)(?:\s+AS\s+(?P<alias>\S+))?"
    r"(?:\s+USING\s+(?P<covering>COVERING\s+)?INDEX\s+(?P<index>\S+)"
    r"|\s+USING\s+(?P<rowid>(?:INTEGER\s+)?PRIMARY\s+KEY))?"
)
SMALL_TABLES = frozenset({"settings", "sqlite_master", "sqlite_schema"})


class PlanStep(NamedTuple):
    id: int
    parent: int
    detail: str
    op: str | None  # "SCAN", "SEARCH", or None for other steps
    table: str | None  # the table, or its alias where SQLite prints only that
    index: str | None
    covering: bool

    @property
    def full_scan(self) -> bool:
        """A scan of a table's rows with no index at all."""
        return self.op == "SCAN" and self.index is None and self.table not in (None, "CONSTANT")

    @property
    def temp_sort(self) -> bool:
        return self.detail.startswith("USE TEMP B-TREE FOR") and (
            "ORDER BY" in self.detail or "GROUP BY" in self.detail
        )


def parse_step(row: Sequence[Any]) -> PlanStep:
    """One EXPLAIN QUERY PLAN row (id, parent, notused, detail) as a PlanStep."""
    step_id, parent, detail = int(row[0]), int(row[1]), str(row[-1])
    match = _STEP.match(detail)
    if not match:
        return PlanStep(step_id, parent, detail, None, None, None, False)
    table = match["alias"] or match["table"]
    index = match["index"] or (match["rowid"] and "PRIMARY KEY")
    return PlanStep(step_id, parent, detail, match["op"], table, index, bool(match["covering"]))


def explain(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[PlanStep]:
    """The plan SQLite would use for ``sql`` with these bound values, on today's schema.

    Python's sqlite3 caches prepared statements by their text, and SQLite does not
    re-prepare a cached EXPLAIN after the schema changes (an EXPLAIN program never
    checks the schema cookie). The schema version in a comment makes the text, and
    so the cache entry, new whenever the schema is.
    """
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    statement = f"EXPLAIN QUERY PLAN /* schema {int(version)} */ {sql}"
    return [parse_step(row) for row in conn.execute(statement, params)]


def plan_problems(
    steps: Sequence[PlanStep],
    index: str | tuple[str, ...] | None,
    *,
    temp_sort_ok: bool = False,
    scans_ok: frozenset[str] = frozenset(),
) -> list[str]:
    """What is wrong with a plan under its contract ([] when it keeps it).

    The contract: ``index`` is used by name (a tuple: any one of those names, for
    indexes that serve the query equally; None: no particular index), no table is
    read by a full scan, and no temporary B-tree sorts the result unless the
    contract allows it (a handful of rows, no LIMIT). ``scans_ok`` names small tables
    (a derived counts table) that may be read whole.
    """
    problems = []
    used = {s.index for s in steps if s.index}
    wanted = (index,) if isinstance(index, str) else index
    if wanted is not None and not used.intersection(wanted):
        expected = " or ".join(wanted)
        problems.append(f"expected index {expected}, plan uses {sorted(used) or 'none'}")
    for step in steps:
        if step.full_scan and step.table not in SMALL_TABLES | scans_ok:
            problems.append(f"full table scan: {step.detail}")
        if step.temp_sort and not temp_sort_ok:
            problems.append(f"temporary sort: {step.detail}")
    return problems


def format_plan(steps: Sequence[PlanStep]) -> str:
    """The plan as an indented tree, the way the sqlite3 shell prints it."""
    depth = {0: -1}
    lines = []
    for step in steps:
        depth[step.id] = depth.get(step.parent, -1) + 1
        lines.append("  " * depth[step.id] + step.detail)
    return "\n".join(lines)
