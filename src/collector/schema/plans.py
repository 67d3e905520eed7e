"""Read a query plan structurally, and check a query against its contract.

The connection's dialect runs EXPLAIN and reads each step into fields
(:class:`collector.dialects.PlanStep`), once; checks work on the fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from collector.dialects import DIALECTS, Connection, PlanStep, dialect_for

__all__ = ["SMALL_TABLES", "PlanStep", "explain", "format_plan", "plan_problems"]

# Small tables a plan may read whole: the settings, and the engine's catalogue.
SMALL_TABLES = frozenset({"settings"})


def explain(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[PlanStep]:
    """The plan the engine would use for ``sql`` with these bound values, on today's schema."""
    return dialect_for(conn).explain(conn, sql, params)


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
    small = SMALL_TABLES | scans_ok | _catalog_tables()
    used = {s.index for s in steps if s.index}
    wanted = (index,) if isinstance(index, str) else index
    if wanted is not None and not used.intersection(wanted):
        expected = " or ".join(wanted)
        problems.append(f"expected index {expected}, plan uses {sorted(used) or 'none'}")
    for step in steps:
        if step.full_scan and step.table not in small:
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


def _catalog_tables() -> frozenset[str]:
    """Every engine's catalogue tables (a plan carries no connection to ask)."""
    return frozenset().union(*(d.catalog_tables for d in DIALECTS.values()))
