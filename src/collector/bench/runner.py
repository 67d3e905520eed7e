"""The index benchmark: every dashboard query with and without indexes, same data.

For each size: load a dataset into a database with tables only (as the pre-index
code left them), time the plan's SQL there (the baseline), upgrade the database in
place (indexes, derived tables, statistics: timed), then time the plan's SQL again
and the repository method that serves the same need, and raw sqlite3 running the
SQL the repository ran. Separately, insert throughput with no indexes, with all of
them, and with each index alone, so every index shows what it costs to keep.
"""

from __future__ import annotations

import platform
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS
from collector.repositories import FileRepository, JobRepository
from collector.repositories.contracts import CONTRACTS
from collector.repositories.paging import encode_cursor
from collector.schema import derived
from collector.schema.plans import explain
from collector.schema.reconcile import reconcile

from .dataset import write_dataset
from .queries import QUERIES, Probe
from .timing import median_ms

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _fresh(path: Path) -> DatabaseConfig:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return DatabaseConfig(path)


def _probe(conn: sqlite3.Connection, num_jobs: int) -> Probe:
    depth = max(0, int(num_jobs * 0.9) - 1)
    row = conn.execute(
        "SELECT created_at, id FROM jobs ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
        (depth,),
    ).fetchone()
    job = conn.execute(
        "SELECT job_id FROM files WHERE rowid = (SELECT MAX(rowid) / 2 + 1 FROM files)"
    ).fetchone()
    return Probe(job_id=job[0], deep_cursor=encode_cursor(row[0], row[1]), deep_offset=depth + 1)


def _plan(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[str]:
    return [step.detail for step in explain(conn, sql, params)]


def _fetch(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def run_size(
    workdir: Path,
    num_jobs: int,
    mix: str = "realistic",
    seed: int = 1,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Measure every query at one size; see the module docstring."""
    db = _fresh(workdir / f"bench-{num_jobs}.db")
    reconcile(db, ALL_MODELS, indexes=False)
    started = time.perf_counter()
    done = 0

    def loaded(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(f"load {num_jobs:,} jobs", done, num_jobs)

    summary = write_dataset(db, num_jobs, 3, mix, seed, progress=loaded)
    load_s = time.perf_counter() - started
    raw = _raw(db.db_path)
    probe = _probe(raw, num_jobs)
    results: dict[str, dict[str, Any]] = {}
    for number, query in enumerate(QUERIES):
        params = query.plan_params(probe)
        results[query.name] = {
            "plan_no_index_ms": median_ms(partial(_fetch, raw, query.plan_sql, params)),
            "plan_no_index": _plan(raw, query.plan_sql, params),
        }
        if progress:
            progress(f"{num_jobs:,} jobs: without indexes", number + 1, len(QUERIES))
    started = time.perf_counter()
    db.initialize_schema(ALL_MODELS)
    upgrade_s = time.perf_counter() - started
    raw.close()
    raw = _raw(db.db_path)  # a new connection sees the new statistics
    jobs, files = JobRepository(db), FileRepository(db)
    for number, query in enumerate(QUERIES):
        params = query.plan_params(probe)
        entry = results[query.name]
        entry["plan_with_index_ms"] = median_ms(partial(_fetch, raw, query.plan_sql, params))
        entry["plan_with_index"] = _plan(raw, query.plan_sql, params)
        entry["repo_ms"] = median_ms(partial(query.call, jobs, files, probe))
        with db.capture() as statements:
            query.call(jobs, files, probe)
        entry["repo_sql"] = [s.sql for s in statements]
        entry["repo_plan"] = [_plan(raw, s.sql, s.params) for s in statements]
        entry["raw_same_sql_ms"] = median_ms(
            lambda: [raw.execute(s.sql, s.params).fetchall() for s in statements]
        )
        entry["speedup"] = entry["plan_no_index_ms"] / max(entry["repo_ms"], 1e-6)
        entry["repo_vs_raw"] = entry["repo_ms"] / max(entry["raw_same_sql_ms"], 1e-6)
        entry["dashboard"] = query.dashboard
        if progress:
            progress(f"{num_jobs:,} jobs: with indexes", number + 1, len(QUERIES))
    raw.close()
    db.close()
    return {
        "jobs": summary.jobs,
        "files": summary.files,
        "load_s": load_s,
        "upgrade_s": upgrade_s,
        "queries": results,
    }


def _insert_rate(
    workdir: Path, jobs: int, setup: Callable[[DatabaseConfig], None], ids: str = "time"
) -> float:
    db = _fresh(workdir / "bench-insert.db")
    reconcile(db, ALL_MODELS, indexes=False)
    setup(db)
    started = time.perf_counter()
    summary = write_dataset(db, jobs, 3, "realistic", 2, batch=5_000, ids=ids)
    elapsed = time.perf_counter() - started
    db.close()
    return (summary.jobs + summary.files) / elapsed


def insert_costs(workdir: Path, jobs: int, progress: Progress | None = None) -> dict[str, Any]:
    """Rows inserted per second (jobs and their files) with each piece of the schema."""
    specs = [spec for model in ALL_MODELS for spec in model.index_specs()]
    items = derived.declared(ALL_MODELS)

    def only_index(spec: Any) -> Callable[[DatabaseConfig], None]:
        return lambda db: db.connection().execute(spec.create_sql())

    def only_derived(item: derived.Derived) -> Callable[[DatabaseConfig], None]:
        def setup(db: DatabaseConfig) -> None:
            with db.transaction() as conn:
                derived.repair(conn, item, "missing")

        return setup

    def everything(db: DatabaseConfig) -> None:
        db.initialize_schema(ALL_MODELS)

    cases: list[tuple[str, Callable[[DatabaseConfig], None], str]] = [
        ("no indexes", lambda db: None, "time"),
        ("all indexes and derived tables", everything, "time"),
        ("all, uuid4 ids", everything, "uuid4"),
    ]
    cases += [(spec.name, only_index(spec), "time") for spec in specs]
    cases += [(item.table, only_derived(item), "time") for item in items]
    rates = {}
    for number, (name, setup, ids) in enumerate(cases):
        rates[name] = _insert_rate(workdir, jobs, setup, ids)
        if progress:
            progress(f"inserts of {jobs:,} jobs", number + 1, len(cases))
    base = rates["no indexes"]
    return {
        "jobs": jobs,
        "rows_per_s": rates,
        "relative_to_no_indexes": {name: rate / base for name, rate in rates.items()},
    }


def index_usage(sizes: list[dict[str, Any]]) -> dict[str, list[str]]:
    """For each index, the queries whose plans use it (bench queries and contracts)."""
    usage: dict[str, set[str]] = {}
    for size in sizes:
        for name, entry in size["queries"].items():
            for plan in entry["repo_plan"]:
                for line in plan:
                    for word in line.split():
                        if word.startswith(("idx_", "sqlite_autoindex_")):
                            usage.setdefault(word, set()).add(name)
    for contract in CONTRACTS:
        for wanted in contract.indexes:
            for index in (wanted,) if isinstance(wanted, str) else wanted or ():
                usage.setdefault(index, set()).add(contract.name)
    for model in ALL_MODELS:
        for spec in model.index_specs():
            usage.setdefault(spec.name, set())
    return {name: sorted(queries) for name, queries in sorted(usage.items())}


def run_benchmarks(
    sizes: list[int],
    workdir: Path,
    insert_jobs: int = 50_000,
    mix: str = "realistic",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole benchmark; the result holds every figure (it is what --json writes)."""
    workdir.mkdir(parents=True, exist_ok=True)
    measured = [run_size(workdir, n, mix, progress=progress) for n in sizes]
    return {
        "sqlite_version": sqlite3.sqlite_version,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "mix": mix,
        "sizes": measured,
        "inserts": insert_costs(workdir, insert_jobs, progress) if insert_jobs else None,
        "index_usage": index_usage(measured),
    }
