"""Writes during an upgrade: how long a worker's progress and a new job wait, and that
none fails or is lost while ``collector db upgrade`` builds the indexes of a large,
index-less database in another process.

The database is written as the pre-index code left one (tables only, realistic
mix). This process then claims one job, as a worker would, and starts the upgrade
as a subprocess; until it exits, this process reports progress on its job
(bytes_downloaded counts the reports) and queues new URLs, each at its own steady
rate, timing each write. Afterwards it checks that every acknowledged write is in
the database: each queued job, and the last progress report.

The rates are a fleet's, not a flood: before the upgrade, queueing a URL on an
index-less million-job table scans it for a duplicate inside the write lock
(about 0.25 s), so a writer queueing back to back would hold the lock all the
time and starve everything else, the upgrade included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS
from collector.repositories.queue import JobQueue
from collector.schema import derived
from collector.schema.reconcile import inspect, reconcile

from .dataset import write_dataset
from .timing import percentile

WORKER_ID = "bench-upgrade-writer"
URL_PREFIX = "https://bench.example/upgrade-wait/"
UPGRADE_TIMEOUT_S = 3600.0
DEFAULT_PROGRESS_RATE = 10.0  # reports a second: ten downloads, as a worker writes them
DEFAULT_ENQUEUE_RATE = 1.0  # new jobs a second


@dataclass
class Writes:
    """Latencies (ms) of one kind of write, and the failures."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        values = sorted(self.latencies)
        return {
            "count": len(values),
            "errors": len(self.errors),
            "p50_ms": percentile(values, 0.5),
            "p99_ms": percentile(values, 0.99),
            "max_ms": values[-1] if values else None,
        }


def build_indexless(path: Path, jobs: int, seed: int = 1) -> None:
    """A new database at ``path`` with ``jobs`` jobs and their files, tables only."""
    db = DatabaseConfig(path)
    try:
        reconcile(db, ALL_MODELS, indexes=False)
        write_dataset(db, jobs, 3, "realistic", seed)
    finally:
        db.close()


def upgrade_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "collector", "--db", str(path), "db", "upgrade"]


def measure(
    path: Path,
    busy_timeout_ms: int | None = None,
    command: Callable[[Path], list[str]] = upgrade_command,
    progress_rate: float = DEFAULT_PROGRESS_RATE,
    enqueue_rate: float = DEFAULT_ENQUEUE_RATE,
) -> dict[str, Any]:
    """Upgrade the database at ``path`` in a subprocess while writing to it from here."""
    db = DatabaseConfig(path, busy_timeout_ms)
    queue = JobQueue(db)
    job = queue.enqueue(URL_PREFIX + "progress").job
    held = queue.claim(WORKER_ID, 86_400)
    if held is None:
        raise RuntimeError("no pending job to hold for progress reports")
    progress, enqueue = Writes(), Writes()
    acked_urls: list[str] = []
    last_progress = 0
    started = time.perf_counter()
    process = subprocess.Popen(
        command(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    sequence = queued = 0
    next_progress = next_enqueue = time.monotonic()
    while (sequence == 0 or queued == 0) or process.poll() is None:
        now = time.monotonic()
        if now >= next_progress:
            next_progress += 1 / progress_rate
            sequence += 1
            t0 = time.perf_counter()
            try:
                status = queue.report_progress(
                    held.id, WORKER_ID, 86_400, progress=50, bytes_downloaded=sequence,
                    operation="downloading",
                )  # fmt: skip
                progress.latencies.append((time.perf_counter() - t0) * 1000)
                if status is None:
                    progress.errors.append("the held job was no longer ours")
                else:
                    last_progress = sequence
            except Exception as exc:  # counted: the figure this benchmark exists for
                progress.errors.append(f"{type(exc).__name__}: {exc}")
        if now >= next_enqueue:
            next_enqueue += 1 / enqueue_rate
            queued += 1
            url = f"{URL_PREFIX}{queued}"
            t0 = time.perf_counter()
            try:
                queue.enqueue(url)
                enqueue.latencies.append((time.perf_counter() - t0) * 1000)
                acked_urls.append(url)
            except Exception as exc:
                enqueue.errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(max(0.0, min(next_progress, next_enqueue) - time.monotonic()))
    stdout, stderr = process.communicate(timeout=UPGRADE_TIMEOUT_S)
    upgrade_s = time.perf_counter() - started
    lost = _lost(db, held.id, last_progress, acked_urls)
    conn = db.connection()
    indexes_ok = all(s.state in ("ok", "unmanaged") for s in inspect(conn, ALL_MODELS))
    present = db.dialect.table_names(conn)
    derived_ok = all(
        item.table in present and derived.verify(conn, item)
        for item in derived.declared(ALL_MODELS)
    )
    jobs = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    db.close()
    writes = progress.latencies + enqueue.latencies
    return {
        "jobs": jobs,
        "busy_timeout_ms": db.busy_timeout_ms,
        "progress_rate": progress_rate,
        "enqueue_rate": enqueue_rate,
        "upgrade_exit_code": process.returncode,
        "upgrade_output": (stdout + stderr).strip().splitlines(),
        "upgrade_s": round(upgrade_s, 3),
        "progress": progress.summary(),
        "enqueue": enqueue.summary(),
        "longest_wait_ms": max(writes) if writes else None,
        "errors": len(progress.errors) + len(enqueue.errors),
        "error_messages": sorted(set(progress.errors + enqueue.errors))[:10],
        "lost": lost,
        "indexes_ok": indexes_ok,
        "derived_ok": derived_ok,
        "first_job": job.id,
    }


def _lost(db: DatabaseConfig, job_id: str, last_progress: int, urls: list[str]) -> int:
    """Acknowledged writes missing from the database (the last progress report counts one)."""
    conn = db.connection()
    stored = conn.execute("SELECT bytes_downloaded FROM jobs WHERE id = ?", (job_id,)).fetchone()
    lost = 0 if stored is not None and stored[0] == last_progress else 1
    present = {
        row[0] for row in conn.execute("SELECT url FROM jobs WHERE url LIKE ?", (URL_PREFIX + "%",))
    }
    return lost + sum(1 for url in urls if url not in present)


def report_lines(result: dict[str, Any]) -> list[str]:
    """The figures, one per line."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.1f} ms"

    lines = [
        f"database: {result['jobs']:,} jobs; writer busy timeout {result['busy_timeout_ms']} ms, "
        f"{result['progress_rate']:g} progress reports and {result['enqueue_rate']:g} new jobs/s",
        f"upgrade: {result['upgrade_s']:.1f} s, exit code {result['upgrade_exit_code']}",
    ]
    for kind in ("progress", "enqueue"):
        s = result[kind]
        lines.append(
            f"{kind}: {s['count']:,} writes, p50 {ms(s['p50_ms'])}, p99 {ms(s['p99_ms'])}, "
            f"longest {ms(s['max_ms'])}, errors {s['errors']}"
        )
    lines.append(f"longest wait: {ms(result['longest_wait_ms'])}")
    lines.append(f"errors: {result['errors']}; writes lost: {result['lost']}")
    lines.append(
        f"after: indexes {'ok' if result['indexes_ok'] else 'NOT ok'}, "
        f"derived tables {'consistent' if result['derived_ok'] else 'NOT consistent'}"
    )
    lines.extend(f"  {message}" for message in result["error_messages"])
    return lines
