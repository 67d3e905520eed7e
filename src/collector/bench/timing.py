"""Median latency of a callable: repeated until a time budget or a count is reached."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_ms(
    call: Callable[[], Any], *, budget_s: float = 0.5, min_runs: int = 3, max_runs: int = 1000
) -> float:
    """Median wall time of ``call()`` in milliseconds, after one warm-up run.

    Runs at least ``min_runs`` times and at most ``max_runs``, stopping once the
    runs have taken ``budget_s`` seconds: fast queries get many samples, slow
    ones (full scans at a million rows) a few. A 6 µs query's 1,000 runs span
    6 ms, so a scheduler hiccup of a millisecond or two cannot move the median
    (with 25 runs, spanning 0.15 ms, one did: 0.014 ms against 0.006 the run before).
    """
    call()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < max_runs:
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
        if len(samples) >= min_runs and time.perf_counter() - started >= budget_s:
            break
    return statistics.median(samples)


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank ``fraction`` percentile of ``values`` (0.99: p99), None if empty.

    One definition for every run that reports p50/p90/p99 (load, queue, upgrade-wait).
    """
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
