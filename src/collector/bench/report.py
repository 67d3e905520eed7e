"""The benchmark's figures as plain-text tables (the CLI echoes them)."""

from __future__ import annotations

from typing import Any

QUERY_HEADER = (
    f"{'query':<30} {'no index':>10} {'plan+idx':>10} {'repo':>9} {'raw sql':>9} "
    f"{'speedup':>9}  plan (repository)"
)


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:,.1f}"


def _speedup(value: float) -> str:
    return f"{value:,.0f}x" if value >= 10 else f"{value:.1f}x"


def _plan_text(plans: list[list[str]]) -> str:
    """The repository's plan rows in one line: the first row of each statement."""
    return " | ".join("; ".join(plan) for plan in plans)


def size_lines(size: dict[str, Any]) -> list[str]:
    """One size: the dataset, its load and upgrade times, and a row per query (ms)."""
    lines = [
        f"{size['jobs']:,} jobs, {size['files']:,} files: loaded in {size['load_s']:.1f} s "
        f"({size['load_rows_per_s']:,.0f} rows/s), upgraded (indexes, counts, ANALYZE) "
        f"in {size['upgrade_s']:.1f} s, analyzed again in {size.get('analyze_s', 0):.1f} s",
    ]
    if not size["orphaned_jobs"]:
        lines.append("no orphaned files: the engine enforces the foreign key (none can be made)")
    if size.get("storage_bytes"):
        lines.append(_storage_line(size["storage_bytes"]))
    update = size["progress_update"]
    if update["no_index_ms"] is not None:
        lines.append(
            f"a worker's progress report (one transaction): {_ms(update['no_index_ms'])} ms "
            f"without indexes, {_ms(update['with_indexes_ms'])} ms with"
        )
    lines.append(QUERY_HEADER)
    for name, q in size["queries"].items():
        lines.append(
            f"{name:<30} {_ms(q['plan_no_index_ms']):>10} {_ms(q['plan_with_index_ms']):>10} "
            f"{_ms(q['repo_ms']):>9} {_ms(q['raw_same_sql_ms']):>9} "
            f"{_speedup(q['speedup']):>9}  {_plan_text(q['repo_plan'])}"
        )
    for name, q in size["queries"].items():
        if "same_rows" in q:
            lines.append(
                f"{name}, {q['same_rows']} rows as at the smallest size: "
                f"{_ms(q['repo_ms_same_rows'])} ms"
            )
    return lines


def _storage_line(sizes: dict[str, int]) -> str:
    """On disk: the declared (idx_) indexes against everything else."""
    indexes = sum(b for name, b in sizes.items() if name.startswith("idx_"))
    rest = sum(sizes.values()) - indexes
    return (
        f"on disk: {rest / 2**20:,.1f} MiB of tables and primary keys, "
        f"{indexes / 2**20:,.1f} MiB of declared indexes (+{indexes / max(rest, 1):.0%})"
    )


def insert_lines(inserts: dict[str, Any]) -> list[str]:
    """Insert throughput per schema piece, and relative to no indexes."""
    lines = [
        f"inserts: {inserts['jobs']:,} jobs and their files into an empty database "
        f"(best of {inserts['repeats']})",
        f"{'with':<34} {'rows/s':>10} {'vs none':>8}",
    ]
    for name, rate in inserts["rows_per_s"].items():
        relative = inserts["relative_to_no_indexes"][name]
        lines.append(f"{name:<34} {rate:>10,.0f} {relative:>8.2f}")
    lines.append("all over none, measured the same other way:")
    for variant, ratio in inserts["all_over_none"].items():
        lines.append(f"  {variant:<32} {ratio:>19.2f}")
    lines.append(
        f"all over trigger-kept tables only (the indexes' own cost): "
        f"{inserts['all_over_trigger_tables']:.2f}"
    )
    return lines


def target_lines(targets: list[dict[str, Any]]) -> list[str]:
    """One line per target: met with its worst figure, or MISSED with each miss."""
    lines = ["targets" + (f" at {targets[0]['jobs']:,} jobs" if targets else "")]
    groups: dict[str, list[dict[str, Any]]] = {}
    for target in targets:
        groups.setdefault(target["target"], []).append(target)
    for name, group in groups.items():
        missed = [t for t in group if not t["met"]]
        shown = missed or [min(group, key=_margin)]
        figures = ", ".join(
            f"{t['query'] + ' ' if t['query'] else ''}{t['figure']:,.3g}" for t in shown
        )
        verdict = "MISSED" if missed else "met"
        worst = "" if missed or len(group) == 1 else "worst: "
        lines.append(f"  {verdict:<6} {name} ({worst}{figures})")
    return lines


def _margin(target: dict[str, Any]) -> float:
    """How far a figure is inside its threshold (smaller: closer to missing)."""
    figure, threshold = target["figure"], target["threshold"]
    return figure / threshold if target["better"] == "higher" else threshold / max(figure, 1e-9)


def report_lines(result: dict[str, Any]) -> list[str]:
    """The whole report: every size, inserts, index usage, targets."""
    lines = [
        f"{result['engine']}, Python {result['python']}, {result['machine']}, "
        f"{result['mix']} mix; times in ms (median): the plan's SQL without and with "
        "indexes, the repository method, a bare connection on the repository's SQL",
    ]
    for size in result["sizes"]:
        lines += ["", *size_lines(size)]
    if result.get("inserts"):
        lines += ["", *insert_lines(result["inserts"])]
    lines += ["", "index usage (queries and contracts whose plans name it)"]
    for index, queries in result["index_usage"].items():
        lines.append(f"  {index}: {', '.join(queries) or 'NONE'}")
    lines += ["", *target_lines(result["targets"])]
    return lines
