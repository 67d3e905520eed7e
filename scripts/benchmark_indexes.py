"""Benchmark database queries before and after indexes (the plan's script, section 9).

Thin: the work is ``collector.bench.runner`` (also ``collector bench run``, which
adds --json and --plot). Unlike the plan's version it does not time whatever the
app's database holds: it builds a dataset per size, measures the plan's SQL on it
without indexes, upgrades it in place, and measures again, so "before" and
"after" are the same data.

    python scripts/benchmark_indexes.py [--jobs 1000,10000] [--inserts 50000]
"""

from __future__ import annotations

import argparse

from collector.bench.report import report_lines
from collector.bench.runner import DEFAULT_INSERT_JOBS
from collector.bench.runner import run_benchmarks as run_all


def run_benchmarks(
    sizes: tuple[int, ...] = (1000,), insert_jobs: int = DEFAULT_INSERT_JOBS
) -> dict[str, float]:
    """Run all benchmarks, print the report, return {query: repository ms} at the largest size."""
    result = run_all(sizes, insert_jobs=insert_jobs)
    for line in report_lines(result):
        print(line)
    largest = max(result["sizes"], key=lambda size: size["jobs"])
    return {name: entry["repo_ms"] for name, entry in largest["queries"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark queries with and without indexes.")
    parser.add_argument("--jobs", default="1000", help="sizes, comma-separated")
    parser.add_argument("--inserts", type=int, default=DEFAULT_INSERT_JOBS)
    args = parser.parse_args()
    try:
        sizes = tuple(int(part) for part in args.jobs.split(","))
    except ValueError:
        parser.error(f"--jobs: {args.jobs!r} is not a comma-separated list of whole numbers")
    if min(sizes) < 1 or args.inserts < 0:
        parser.error("--jobs sizes must be 1 or more, --inserts 0 or more")
    results = run_benchmarks(sizes, args.inserts)
    print("\nSUMMARY:")
    print("-" * 70)
    for name, time_ms in results.items():
        print(f"  {name:30s}: {time_ms:8.3f}ms")
    print("-" * 70)


if __name__ == "__main__":
    main()
