"""A writer's insert latency while ``db upgrade`` builds a missing index on a large
PostgreSQL table.

The benchmark owns a schema of the database it is given (``collector_bench_upgrade``
by default: dropped and created anew at each run, nothing else is touched). It writes
JOBS jobs there, builds the schema, drops one declared index, and then, while a writer
thread queues new jobs back to back (one transaction each, as ``collector add`` or the
web form would), runs ``collector db upgrade`` in another process, which finds the
index missing on a table with rows and builds it with CREATE INDEX CONCURRENTLY. The
figure is the writer's longest insert during the build (the goal: under 1 s).

For comparison (``plain=True``) the index is then dropped again and built the way a
reconcile inside a transaction builds it, a plain CREATE INDEX, with the same writer
running: the table's writers wait for the whole build.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS, Job
from collector.repositories.queue import JobQueue
from collector.schema.reconcile import inspect, reconcile
from collector.schema.sql import quote_identifier

from .dataset import write_dataset
from .timing import percentile

DEFAULT_SCHEMA = "collector_bench_upgrade"
DEFAULT_INDEX = "idx_jobs_status_created"
URL_PREFIX = "https://bench.example/pg-upgrade/"
UPGRADE_TIMEOUT_S = 1800.0
SETTLE_S = 1.0  # the writer runs this long before the build and after it


def schema_url(url: str, schema: str) -> str:
    """``url`` with its sessions' search_path set to ``schema`` (libpq's options)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"the benchmark needs a postgresql:// URL, not {parts.scheme or url!r}")
    option = quote(f"-csearch_path={schema}", safe="")
    query = "&".join(filter(None, [parts.query, f"options={option}"]))
    return urlunsplit(parts._replace(query=query))


@dataclass
class Writer:
    """A thread queueing jobs back to back; each insert's start and latency."""

    db: DatabaseConfig
    prefix: str
    times: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        queue = JobQueue(self.db)
        number = 0
        try:
            while not self.stop.is_set():
                number += 1
                started = time.monotonic()
                try:
                    queue.enqueue(f"{self.prefix}{number}")
                except Exception as exc:  # counted: the figure this benchmark exists for
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                self.times.append((started, time.monotonic() - started))
        finally:
            self.db.close()

    def between(self, start: float, end: float) -> list[float]:
        """Latencies (ms) of the inserts that were under way at any time in [start, end]."""
        return sorted(
            seconds * 1000
            for begun, seconds in self.times
            if begun <= end and begun + seconds >= start
        )


def summary(latencies: list[float]) -> dict[str, Any]:
    return {
        "inserts": len(latencies),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else None,
    }


def prepare(url: str, jobs: int, schema: str, index: str, seed: int = 1) -> dict[str, Any]:
    """A fresh schema with ``jobs`` jobs, every declared index but ``index``, analyzed."""
    admin = DatabaseConfig(url)
    try:
        conn = admin.connection()
        conn.execute(f"DROP SCHEMA IF EXISTS {quote_identifier(schema)} CASCADE")
        conn.execute(f"CREATE SCHEMA {quote_identifier(schema)}")
    finally:
        admin.dispose()
    db = DatabaseConfig(schema_url(url, schema))
    try:
        started = time.monotonic()
        reconcile(db, ALL_MODELS, indexes=False)
        write_dataset(db, jobs, 0, "realistic", seed)
        loaded = time.monotonic() - started
        db.initialize_schema(online=False)  # nobody else writes to it yet
        db.connection().execute(f"DROP INDEX {quote_identifier(index)}")
        db.dialect.analyze(db.connection(), "jobs")
        built = time.monotonic() - started - loaded
        size = db.dialect.table_sizes(db.connection()) or {}
    finally:
        db.dispose()
    return {
        "load_s": round(loaded, 1),
        "schema_s": round(built, 1),
        "jobs_table_mb": round(size.get("jobs", 0) / 1e6, 1),
    }


def _with_writer(
    url: str, prefix: str, build: Callable[[], tuple[float, float, Any]]
) -> tuple[Writer, float, float, Any]:
    writer = Writer(DatabaseConfig(url), prefix)
    thread = threading.Thread(target=writer.run, name="bench-writer", daemon=True)
    thread.start()
    time.sleep(SETTLE_S)
    try:
        start, end, outcome = build()
        time.sleep(SETTLE_S)
    finally:
        writer.stop.set()
        thread.join()
    return writer, start, end, outcome


def measure(
    url: str,
    jobs: int,
    schema: str = DEFAULT_SCHEMA,
    index: str = DEFAULT_INDEX,
    plain: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Prepare the schema, then time the writer through the online build (and a plain
    one, if asked); see the module docstring."""
    if index not in {spec.name for spec in Job.index_specs()}:
        valid = ", ".join(spec.name for spec in Job.index_specs())
        raise ValueError(f"unknown index {index!r}; the jobs table declares: {valid}")
    say = progress or (lambda _message: None)
    say(f"writing {jobs:,} jobs into schema {schema}")
    setup = prepare(url, jobs, schema, index)
    target = schema_url(url, schema)
    command = [sys.executable, "-m", "collector", "--database-url", target, "db", "upgrade"]

    def upgrade() -> tuple[float, float, Any]:
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, timeout=UPGRADE_TIMEOUT_S)
        return started, time.monotonic(), done

    say(f"building {index} with db upgrade while a writer queues jobs")
    writer, start, end, done = _with_writer(target, URL_PREFIX + "online/", upgrade)
    output = (done.stdout + done.stderr).strip().splitlines()
    before = writer.between(0.0, start - 0.001)
    during = writer.between(start, end)
    check = DatabaseConfig(target)
    try:
        with check.transaction() as conn:
            states = {s.name: s.state for s in inspect(conn, ALL_MODELS)}
    finally:
        check.dispose()
    result: dict[str, Any] = {
        "jobs": jobs,
        "index": index,
        "setup": setup,
        "upgrade_exit_code": done.returncode,
        "upgrade_output": output,
        "concurrently": any("concurrently" in line for line in output),
        "build_s": round(end - start, 2),
        "before_build": summary(before),
        "during_build": summary(during),
        "writer_errors": len(writer.errors),
        "error_messages": sorted(set(writer.errors))[:10],
        "index_ok_after": states.get(index) == "ok",
    }
    if plain:
        say(f"building {index} again with a plain CREATE INDEX, for comparison")
        db = DatabaseConfig(target)

        def plain_build() -> tuple[float, float, Any]:
            db.connection().execute(f"DROP INDEX {quote_identifier(index)}")
            started = time.monotonic()
            with db.transaction() as conn:
                conn.execute(db.dialect.create_index_sql(Job, Job.index(index)))
            return started, time.monotonic(), None

        try:
            writer, start, end, _ = _with_writer(target, URL_PREFIX + "plain/", plain_build)
        finally:
            db.dispose()
        result["plain"] = {
            "build_s": round(end - start, 2),
            "during_build": summary(writer.between(start, end)),
            "writer_errors": len(writer.errors),
        }
    return result


def report_lines(result: dict[str, Any]) -> list[str]:
    """The figures, one per line."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.1f} ms"

    def inserts(s: dict[str, Any]) -> str:
        return (
            f"{s['inserts']:,} inserts, p50 {ms(s['p50_ms'])}, p99 {ms(s['p99_ms'])}, "
            f"longest {ms(s['max_ms'])}"
        )

    setup = result["setup"]
    lines = [
        f"table: {result['jobs']:,} jobs ({setup['jobs_table_mb']:,} MB), loaded in "
        f"{setup['load_s']} s, schema built in {setup['schema_s']} s",
        f"db upgrade built {result['index']} in {result['build_s']} s "
        f"({'CREATE INDEX CONCURRENTLY' if result['concurrently'] else 'NOT concurrently'}), "
        f"exit code {result['upgrade_exit_code']}",
        f"writer before the build: {inserts(result['before_build'])}",
        f"writer during the build: {inserts(result['during_build'])}",
        f"writer errors: {result['writer_errors']}; index afterwards: "
        f"{'ok' if result['index_ok_after'] else 'NOT ok'}",
    ]
    if "plain" in result:
        plain = result["plain"]
        lines.append(
            f"for comparison, a plain CREATE INDEX ({plain['build_s']} s): writer "
            f"{inserts(plain['during_build'])}"
        )
    lines.extend(f"  {message}" for message in result["error_messages"])
    return lines
