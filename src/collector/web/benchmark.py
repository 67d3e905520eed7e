"""Server time of the dashboard and the API on a large database.

``python -m collector.web.benchmark --db big.db --jobs 1000000`` builds the database
if it does not exist (the realistic mix, three files per job, about a minute for a
million jobs), then times each route through the whole Flask stack in-process
(routing, queries, templates, JSON; no network), median of repeated requests.
Nothing here asserts a timing: it reports them.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from flask import Flask

from collector.bench.dataset import write_dataset
from collector.bench.timing import median_ms
from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS
from collector.schema.reconcile import reconcile

logger = logging.getLogger(__name__)

TARGET_MS = 10.0
HEADLINE = ("/", "/api/jobs")


class Timing(NamedTuple):
    route: str
    status: int
    median_ms: float


def build(path: Path, jobs: int) -> None:
    """The benchmark database: tables, bulk rows, then indexes and statistics once."""
    db = DatabaseConfig(path)
    reconcile(db, list(ALL_MODELS), indexes=False)
    started = time.perf_counter()
    write_dataset(db, jobs, files_per_job=3, mix="realistic", seed=1)
    db.initialize_schema(online=False)  # nobody else writes to it yet
    db.close()
    logger.info("built %s with %d jobs in %.0f s", path, jobs, time.perf_counter() - started)


def routes(app: Flask) -> list[str]:
    """The routes to time: every page and API list, filtered and deep in the keyset."""
    client = app.test_client()
    middle = client.get("/api/jobs?limit=200").get_json()
    job_id = middle["items"][0]["id"]
    cursor = middle["next_cursor"]
    return [
        "/",
        "/api/jobs",
        "/api/jobs?status=failed",
        "/api/jobs?platform=tiktok",
        "/api/jobs?status=active",
        "/api/jobs?status=running&platform=other",
        f"/api/jobs?cursor={cursor}",
        "/api/stats",
        f"/api/jobs/{job_id}",
        "/api/files?type=video",
        "/jobs",
        "/jobs?status=completed&platform=youtube",
        f"/jobs/{job_id}",
        "/files?type=audio",
        "/maintenance",
    ]


def time_routes(app: Flask, paths: Sequence[str]) -> list[Timing]:
    client = app.test_client()
    results = []
    for path in paths:
        status = client.get(path).status_code
        results.append(Timing(path, status, median_ms(lambda p=path: client.get(p), budget_s=1)))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    from collector.app import create_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("data/bench-web.db"))
    parser.add_argument("--jobs", type=int, default=1_000_000, help="when building")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.db.exists():
        build(args.db, args.jobs)
    app = create_app({"DB_PATH": str(args.db), "SECRET_KEY": "benchmark"})
    stats = app.test_client().get("/api/stats").get_json()
    logger.info("%s: %d jobs", args.db, sum(stats.values()))
    slow = []
    for timing in time_routes(app, routes(app)):
        logger.info("%8.2f ms  %d  %s", timing.median_ms, timing.status, timing.route)
        if timing.route in HEADLINE and timing.median_ms > TARGET_MS:
            slow.append(timing.route)
    if slow:
        logger.warning("over the %.0f ms target: %s", TARGET_MS, ", ".join(slow))
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
