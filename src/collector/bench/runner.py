"""The index benchmark: every dashboard query with and without indexes, same data.

On SQLite (a new file per size in the work folder) or on PostgreSQL (a new schema
per size, ``collector_bench_<jobs>``, in the database ``database_url`` names,
dropped after it is measured). For each size: load a dataset into a database with
tables only (as the pre-index code left them, including a few orphaned file rows
where the engine lets them be made: PostgreSQL enforces the foreign key, so it has
none), time the plan's SQL there
(the baseline), upgrade the database in place (indexes, derived tables,
statistics: timed), then time the plan's SQL again, the repository method that
serves the same need, and a bare connection of the engine running the SQL the
repository ran (raw sqlite3, or psycopg without the pool); and a
worker's progress report before and after the upgrade. Separately, insert
throughput with no indexes, with all of them, and with each index alone, so every
index shows what it costs to keep.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import cycle
from pathlib import Path
from typing import Any

from collector import dialects
from collector.config.database import DatabaseConfig
from collector.dialects import Connection
from collector.models import ALL_MODELS
from collector.repositories import FileRepository, JobRepository
from collector.repositories.contracts import CONTRACTS, PrimaryKey
from collector.repositories.paging import encode_cursor
from collector.repositories.queue import JobQueue
from collector.schema import derived
from collector.schema.plans import explain
from collector.schema.reconcile import reconcile
from collector.schema.sql import quote_identifier

from .dataset import generate_rows, write_dataset
from .queries import QUERIES, BenchQuery, Probe, rows_returned
from .targets import ALL_INDEXES, NO_INDEXES, evaluate
from .timing import median_ms

Progress = Callable[[str, int, int], None]  # (stage, done, total)

# One job in ORPHAN_EVERY is deleted behind the application's back before the
# upgrade, leaving its files orphaned, as the pre-index code did (no foreign key).
ORPHAN_EVERY = 1000
DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)
DEFAULT_INSERT_JOBS = 50_000
INSERT_REPEATS = 3


BENCH_SCHEMA = "collector_bench_{}"  # on a server: one schema per size, dropped after


class Fresh:
    """A new, empty database for one size: an SQLite file in the work folder, or a new
    schema in the server database ``database_url`` names (``drop()`` removes it)."""

    def __init__(self, workdir: Path, name: str, database_url: str | None) -> None:
        self.schema: str | None = None
        self.admin: DatabaseConfig | None = None
        if database_url is None:
            path = workdir / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            self.db = DatabaseConfig(path)
            return
        self.schema = BENCH_SCHEMA.format(name.removeprefix("bench-").replace("-", "_"))
        self.admin = DatabaseConfig(database_url)
        self._drop_schema()
        self.admin.connection().execute("CREATE SCHEMA " + quote_identifier(self.schema))
        self.db = DatabaseConfig(dialects.with_search_path(database_url, self.schema))

    def _drop_schema(self) -> None:
        if self.admin is not None and self.schema is not None:
            self.admin.connection().execute(
                "DROP SCHEMA IF EXISTS " + quote_identifier(self.schema) + " CASCADE"
            )

    def drop(self) -> None:
        """Close the database; on a server, drop its schema (on SQLite the file stays)."""
        self.db.dispose()
        if self.admin is not None:
            self._drop_schema()
            self.admin.dispose()


def _make_orphans(db: DatabaseConfig, conn: Connection) -> int:
    """Delete every ORPHAN_EVERY-th job, not its files, where the engine lets a bare
    connection do that (SQLite without PRAGMA foreign_keys); 0 where the foreign key
    is always enforced (PostgreSQL: orphans cannot exist)."""
    if db.dialect.features.foreign_keys_always:
        return 0
    return conn.execute("DELETE FROM jobs WHERE rowid % ? = 0", (ORPHAN_EVERY,)).rowcount


def _probe(conn: Connection) -> Probe:
    """A job near the middle with 3 files, one a video; a cursor 90% down the job list.

    The same shape of job at every size, so "files of one job" returns the same
    number of rows whatever the size.
    """
    total = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    depth = max(0, int(total * 0.9) - 1)
    row = conn.execute(
        "SELECT created_at, id FROM jobs ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
        (depth,),
    ).fetchone()
    return Probe(_probe_job(conn, total), encode_cursor(row[0], row[1]), depth + 1)


PROBE_JOBS = 500  # jobs looked at from the middle of the list for the probe's shape


def _probe_job(conn: Connection, total: int) -> str:
    """The first job from the middle of the list (by created_at) with 3 files, one a video."""
    middle = (total // 2, PROBE_JOBS)
    jobs = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM jobs ORDER BY created_at, id LIMIT ? OFFSET ?", middle[::-1]
        ).fetchall()
    ]
    rows = conn.execute(
        "SELECT job_id, file_type FROM files WHERE job_id IN "
        "(SELECT id FROM jobs ORDER BY created_at, id LIMIT ? OFFSET ?)",
        middle[::-1],
    ).fetchall()
    types: dict[str, list[str]] = {}
    for job_id, file_type in rows:
        types.setdefault(job_id, []).append(file_type)
    for job_id in jobs:
        found = types.get(job_id, [])
        if len(found) == 3 and found.count("video") == 1:
            return job_id
    return next(job_id for job_id in jobs if job_id in types)


BENCH_WORKER = "bench-worker"
LEASED_JOBS = 50


def _lease_running_jobs(conn: Connection) -> list[str]:
    """Give up to LEASED_JOBS running jobs to BENCH_WORKER, as a worker's claim leaves them."""
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM jobs WHERE status = 'running' ORDER BY created_at, id LIMIT ?",
            (LEASED_JOBS,),
        )
    ]
    conn.executemany(
        "UPDATE jobs SET worker_id = ?, lease_expires_at = '9999-12-31 00:00:00.000000' "
        "WHERE id = ?",
        [(BENCH_WORKER, job_id) for job_id in ids],
    )
    return ids


def _progress_update_ms(db: DatabaseConfig, ids: list[str]) -> float | None:
    """Median time of the worker's progress report (JobQueue.report_progress, one
    transaction each) on the leased running jobs, in turn; None without any."""
    if not ids:
        return None
    queue = JobQueue(db)
    turn = cycle(enumerate(ids))

    def report() -> None:
        number, job_id = next(turn)
        status = queue.report_progress(
            job_id, BENCH_WORKER, 60, progress=number % 100, bytes_downloaded=number, operation="x"
        )
        if status != "running":
            raise RuntimeError(f"progress report on {job_id} found {status!r}")

    return median_ms(report)


def _plan(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[str]:
    return [step.detail for step in explain(conn, sql, params)]


def _fetch(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _raw(db: DatabaseConfig) -> Connection:
    """A bare connection of the engine: no session set-up, plain tuples."""
    return db.dialect.connect_raw(db.location)  # a file's Path, or a server's URL


def storage(conn: Connection) -> dict[str, int] | None:
    """Bytes on disk per table and index (None where the engine cannot tell)."""
    return dialects.dialect_for(conn).table_sizes(conn)


def _load(db: DatabaseConfig, num_jobs: int, mix: str, seed: int, progress: Progress | None):
    """Tables only, then the dataset; returns (summary, seconds)."""
    reconcile(db, ALL_MODELS, indexes=False)
    done = 0

    def loaded(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(f"load {num_jobs:,} jobs", done, num_jobs)

    started = time.perf_counter()
    summary = write_dataset(db, num_jobs, 3, mix, seed, progress=loaded)
    return summary, time.perf_counter() - started


def _baseline(conn: Connection, probe: Probe, stage: str, progress: Progress | None):
    """The plan's SQL on the index-less database: {query: {ms, plan}}."""
    results: dict[str, dict[str, Any]] = {}
    for number, query in enumerate(QUERIES):
        params = query.plan_params(probe)
        results[query.name] = {
            "plan_no_index_ms": median_ms(partial(_fetch, conn, query.plan_sql, params)),
            "plan_no_index": _plan(conn, query.plan_sql, params),
        }
        if progress:
            progress(stage, number + 1, len(QUERIES))
    return results


def _with_indexes(
    db: DatabaseConfig,
    conn: Connection,
    query: BenchQuery,
    probe: Probe,
    reference: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The plan's SQL, the repository method and a bare connection on its SQL, with indexes.

    ``reference`` is (jobs, rows) of the smallest size where the query returned
    rows: flatness compares with that size. Where its rows are fewer than this
    size returns, the call is timed again returning that many rows.
    """
    params = query.plan_params(probe)
    jobs, files = JobRepository(db), FileRepository(db)
    entry: dict[str, Any] = {
        "plan_with_index_ms": median_ms(partial(_fetch, conn, query.plan_sql, params)),
        "plan_with_index": _plan(conn, query.plan_sql, params),
        "repo_ms": median_ms(partial(query.call, jobs, files, probe)),
        "rows": rows_returned(query.call(jobs, files, probe)),
    }
    if reference:
        entry["reference_jobs"], reference_rows = reference
        if query.sized and reference_rows < entry["rows"]:
            call = partial(query.call, jobs, files, probe, reference_rows)
            returned = rows_returned(call())
            if returned != reference_rows:
                raise RuntimeError(f"{query.name}: asked for {reference_rows} rows, got {returned}")
            entry["same_rows"] = reference_rows
            entry["repo_ms_same_rows"] = median_ms(call)
    with db.capture() as statements:
        query.call(jobs, files, probe)
    entry["repo_sql"] = [s.sql for s in statements]
    entry["repo_plan"] = [_plan(conn, s.sql, s.params) for s in statements]
    entry["raw_same_sql_ms"] = median_ms(
        lambda: [conn.execute(s.sql, s.params).fetchall() for s in statements]
    )
    entry["dashboard"] = query.dashboard
    return entry


def run_size(
    workdir: Path,
    num_jobs: int,
    mix: str = "realistic",
    seed: int = 1,
    progress: Progress | None = None,
    references: dict[str, tuple[int, int]] | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Measure every query at one size; see the module docstring.

    ``references``: per query, (jobs, rows) of the smallest size measured before
    where it returned rows, for comparing pages of equal length (see _with_indexes).
    """
    fresh = Fresh(workdir, f"bench-{num_jobs}", database_url)
    try:
        return _measure_size(fresh.db, num_jobs, mix, seed, progress, references)
    finally:
        fresh.drop()


def _measure_size(
    db: DatabaseConfig,
    num_jobs: int,
    mix: str,
    seed: int,
    progress: Progress | None,
    references: dict[str, tuple[int, int]] | None,
) -> dict[str, Any]:
    summary, load_s = _load(db, num_jobs, mix, seed, progress)
    raw = _raw(db)
    orphaned = _make_orphans(db, raw)
    leased = _lease_running_jobs(raw)
    probe = _probe(raw)
    results = _baseline(raw, probe, f"{num_jobs:,} jobs: without indexes", progress)
    raw.close()
    progress_no_index_ms = _progress_update_ms(db, leased)
    if progress:
        progress(f"{num_jobs:,} jobs: upgrade", 0, 1)
    started = time.perf_counter()
    db.initialize_schema(ALL_MODELS)
    upgrade_s = time.perf_counter() - started
    # Fresh statistics of every column (an engine may have only row counts after the
    # index builds), so the plans below are the ones the planner really chooses.
    started = time.perf_counter()
    with db.transaction() as conn:
        for model in ALL_MODELS:
            db.dialect.analyze(conn, model.get_table_name())
    analyze_s = time.perf_counter() - started
    if progress:
        progress(f"{num_jobs:,} jobs: upgrade", 1, 1)
    raw = _raw(db)  # a new connection sees the new schema and statistics
    primary_keys = {
        model.get_table_name(): db.dialect.primary_key_index(raw, model.get_table_name())
        for model in ALL_MODELS
    }
    for number, query in enumerate(QUERIES):
        entry = results[query.name]
        reference = (references or {}).get(query.name)
        entry.update(_with_indexes(db, raw, query, probe, reference))
        entry["speedup"] = entry["plan_no_index_ms"] / max(entry["repo_ms"], 1e-6)
        entry["repo_vs_raw"] = entry["repo_ms"] / max(entry["raw_same_sql_ms"], 1e-6)
        if progress:
            progress(f"{num_jobs:,} jobs: with indexes", number + 1, len(QUERIES))
    progress_ms = _progress_update_ms(db, leased)
    sizes_on_disk = storage(raw)
    engine = db.dialect.engine_version(raw)
    raw.close()
    return {
        # The worker's write, once a second per download: what the indexes cost it.
        "progress_update": {"no_index_ms": progress_no_index_ms, "with_indexes_ms": progress_ms},
        "jobs": summary.jobs,
        "files": summary.files,
        "orphaned_jobs": orphaned,
        "load_s": load_s,
        "load_rows_per_s": (summary.jobs + summary.files) / load_s,
        "upgrade_s": upgrade_s,
        "analyze_s": analyze_s,
        "primary_keys": primary_keys,
        "engine": engine,
        "storage_bytes": sizes_on_disk,
        "load_average": os.getloadavg(),  # of the machine, after the size: for the record
        "queries": results,
    }


Batch = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]  # (job rows, file rows)
INSERT_BATCH = 5_000  # jobs per transaction
TRIGGER_TABLES = "trigger-kept tables only"
# Other ways in, each timed with no indexes and with all: (ids, mode).
VARIANTS = {
    "one row per statement": ("time", "one per statement"),
    "uuid4 ids": ("uuid4", "bulk"),
    "rows generated too": ("time", "generated"),
}


@dataclass(frozen=True)
class InsertCase:
    """One insert measurement: the schema it starts from and how rows go in.

    ``mode``: "bulk" (Repository.insert_rows, rows built beforehand: SQLite's time
    only), "one per statement" (executemany, as a naive bulk path runs), or
    "generated" (the dataset's rows built during the timing, as ``bench dataset``
    and a real import pay for them).
    """

    name: str
    setup: Callable[[DatabaseConfig], None]
    ids: str = "time"
    mode: str = "bulk"


def _batches(jobs: int, ids: str) -> list[Batch]:
    batches: list[Batch] = []
    for job, files in generate_rows(jobs, 3, "realistic", 2, ids):
        if not batches or len(batches[-1][0]) >= INSERT_BATCH:
            batches.append(([], []))
        batches[-1][0].append(job)
        batches[-1][1].extend(files)
    return batches


def _insert_rate(workdir: Path, jobs: int, case: InsertCase, batches: list[Batch]) -> float:
    fresh = Fresh(workdir, "bench-insert", None)
    db = fresh.db
    reconcile(db, ALL_MODELS, indexes=False)
    case.setup(db)
    started = time.perf_counter()
    if case.mode == "generated":
        summary = write_dataset(db, jobs, 3, "realistic", 2, batch=INSERT_BATCH, ids=case.ids)
        rows = summary.jobs + summary.files
    else:
        rows = 0
        for job_rows, file_rows in batches:
            with db.transaction() as conn:
                if case.mode == "bulk":
                    JobRepository.insert_rows(conn, job_rows)
                    FileRepository.insert_rows(conn, file_rows)
                else:
                    conn.executemany(JobRepository.insert_sql(), job_rows)
                    conn.executemany(FileRepository.insert_sql(), file_rows)
            rows += len(job_rows) + len(file_rows)
    elapsed = time.perf_counter() - started
    fresh.drop()
    return rows / elapsed


def _insert_cases() -> list[InsertCase]:
    """Nothing and everything (bulk, one row per statement, uuid4 ids, rows generated
    in the timing), then each index and derived table alone."""

    def only_index(spec: Any) -> Callable[[DatabaseConfig], None]:
        return lambda db: db.connection().execute(spec.create_sql())

    def only_derived(*items: derived.Derived) -> Callable[[DatabaseConfig], None]:
        def setup(db: DatabaseConfig) -> None:
            with db.transaction() as conn:
                for item in items:
                    derived.repair(conn, item, "missing")

        return setup

    def nothing(db: DatabaseConfig) -> None:
        return None

    def everything(db: DatabaseConfig) -> None:
        db.initialize_schema(ALL_MODELS)

    specs = [spec for model in ALL_MODELS for spec in model.index_specs()]
    tables = derived.declared(ALL_MODELS)
    cases = [
        InsertCase(NO_INDEXES, nothing),
        InsertCase(ALL_INDEXES, everything),
        InsertCase(TRIGGER_TABLES, only_derived(*tables)),
    ]
    for variant, (ids, mode) in VARIANTS.items():
        cases.append(InsertCase(f"no indexes, {variant}", nothing, ids, mode))
        cases.append(InsertCase(f"all, {variant}", everything, ids, mode))
    cases += [InsertCase(spec.name, only_index(spec)) for spec in specs]
    cases += [InsertCase(item.table, only_derived(item)) for item in tables]
    return cases


def insert_costs(
    workdir: Path, jobs: int, progress: Progress | None = None, repeats: int = INSERT_REPEATS
) -> dict[str, Any]:
    """Rows inserted per second (jobs and their files) with each piece of the schema.

    Each case runs ``repeats`` times, the cases taking turns so that a burst of
    load from elsewhere on the machine does not land on one case only; the best
    rate of each is kept (the least disturbed run).
    """
    cases = _insert_cases()
    batches = {ids: _batches(jobs, ids) for ids in {case.ids for case in cases}}
    rates: dict[str, float] = {}
    steps = len(cases) * repeats
    for step in range(steps):
        case = cases[step % len(cases)]
        rate = _insert_rate(workdir, jobs, case, batches[case.ids])
        rates[case.name] = max(rates.get(case.name, 0.0), rate)
        if progress:
            progress(f"inserts of {jobs:,} jobs", step + 1, steps)
    base = rates[NO_INDEXES]
    return {
        "jobs": jobs,
        "repeats": repeats,
        "batch": INSERT_BATCH,
        "rows_per_s": rates,
        "relative_to_no_indexes": {name: rate / base for name, rate in rates.items()},
        # All over none, each measured the same other way.
        "all_over_none": {
            variant: rates[f"all, {variant}"] / rates[f"no indexes, {variant}"]
            for variant in VARIANTS
        },
        # What the indexes alone cost a schema that has its trigger tables anyway.
        "all_over_trigger_tables": rates[ALL_INDEXES] / rates[TRIGGER_TABLES],
    }


def index_usage(sizes: list[dict[str, Any]]) -> dict[str, list[str]]:
    """For each index, the queries whose plans use it (bench queries and contracts).

    Contracts may name an index proposed but not declared yet; those are left out.
    Primary keys go by the names the engine gave them (``primary_keys`` of a size).
    """
    usage: dict[str, set[str]] = {}
    primary_keys = {t: n for size in sizes for t, n in size.get("primary_keys", {}).items() if n}
    declared = {spec.name for model in ALL_MODELS for spec in model.index_specs()}
    known = declared | set(primary_keys.values())
    for size in sizes:
        for name, entry in size["queries"].items():
            for plan in entry["repo_plan"]:
                for line in plan:
                    for word in line.split():
                        if word in known:
                            usage.setdefault(word, set()).add(name)
    for contract in CONTRACTS:
        for wanted in contract.indexes:
            for index in (wanted,) if isinstance(wanted, str | PrimaryKey) else wanted or ():
                index_name = (
                    primary_keys.get(index.table) if isinstance(index, PrimaryKey) else index
                )
                if index_name in known:
                    usage.setdefault(index_name, set()).add(contract.name)
    for name in declared:
        usage.setdefault(name, set())
    return {name: sorted(queries) for name, queries in sorted(usage.items())}


def run_benchmarks(
    sizes: list[int] | tuple[int, ...] = DEFAULT_SIZES,
    workdir: Path | None = None,
    insert_jobs: int = DEFAULT_INSERT_JOBS,
    mix: str = "realistic",
    progress: Progress | None = None,
    seed: int = 1,
    database_url: str | None = None,
) -> dict[str, Any]:
    """The whole benchmark; the result holds every figure (it is what --json writes).

    Databases are written under ``workdir`` (a temporary folder, removed after, if
    None), or with ``database_url`` (a server's database) in a schema per size there,
    each dropped once measured. ``insert_jobs=0`` skips the insert measurements, which
    are SQLite's (a new file per case): with ``database_url`` they are skipped.
    """
    if workdir is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="collector-bench-") as tmp:
            return run_benchmarks(sizes, Path(tmp), insert_jobs, mix, progress, seed, database_url)
    workdir.mkdir(parents=True, exist_ok=True)
    measured: list[dict[str, Any]] = []
    # The smallest size first: per query, the first size that returned rows is the one
    # the larger sizes are compared with (5 active jobs in 1,000; none in 500).
    references: dict[str, tuple[int, int]] = {}
    for num_jobs in sorted(sizes):
        measured.append(
            run_size(workdir, num_jobs, mix, seed, progress, dict(references), database_url)
        )
        for name, entry in measured[-1]["queries"].items():
            if name not in references and entry["rows"] > 0:
                references[name] = (num_jobs, entry["rows"])
    inserts = (
        insert_costs(workdir, insert_jobs, progress)
        if insert_jobs and database_url is None
        else None
    )
    result = {
        "engine": measured[0]["engine"] if measured else None,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "mix": mix,
        "seed": seed,
        "sizes": measured,
        "inserts": inserts,
        "index_usage": index_usage(measured),
    }
    result["targets"] = evaluate(result)
    return result
