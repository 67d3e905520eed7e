"""The queue run: N worker processes with a no-op download drain what an enqueuer adds.

``collector bench queue`` starts N processes of ``collector.bench.queue_worker`` (the
real Worker and JobQueue, the download skipped) on a new database, then:

1. **Idle claim latency.** With the fleet idle, queues one job at a time (a random
   0.3 to 1 s apart) from this process and times it from the call that queues it to
   the start of its no-op download in a worker: the wake-up, not the back-off.
2. **Throughput.** For ``seconds``, an enqueuer queues jobs in batches (one
   transaction each, ``JobQueue.enqueue_many``) while the workers drain them,
   keeping at most ``max_backlog`` pending; then the rest drain and the fleet stops
   with SIGTERM.

On PostgreSQL (``database_url``) the run gets a schema of its own in that database
(``collector_queue_bench_<pid>``, every session's search_path set to it through
the URL), dropped at the end: the database's own jobs are neither read nor touched.

Then it checks: each job ran once (every worker records the jobs it ran, so a job
claimed twice appears twice), every queued job is completed, the statistics equal
a GROUP BY, and the integrity check passes.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from collector.config.database import DatabaseConfig
from collector.models.quoting import quote_identifier
from collector.models.values import from_db_timestamp
from collector.repositories import JobRepository, SettingsRepository
from collector.repositories.identity import url_identity
from collector.repositories.queue import JobQueue

from .timing import percentile

START_SECONDS = 60.0
STOP_SECONDS = 30.0
IDLE_GAP = (0.3, 1.0)
IDLE_CLAIM_TIMEOUT = 30.0
DRAIN_TIMEOUT = 300.0
URL = "http://127.0.0.1/queue-bench/{}"
BACKLOG_EVERY = 10


@dataclass(frozen=True)
class QueueOptions:
    """The shape of a queue run."""

    workers: int = 2
    seconds: float = 20.0
    batch: int = 10
    idle_samples: int = 30
    max_backlog: int = 1000
    watch: bool = True  # False: workers with the idle back-off alone
    seed: int = 0
    claim_batch: int = 1  # >1: workers claim and complete this many per statement


class Record:
    """One job run as a worker recorded it."""

    __slots__ = ("at", "job_id", "worker")

    def __init__(self, line: str) -> None:
        job_id, worker, at = line.split()
        self.job_id, self.worker, self.at = job_id, worker, float(at)


def read_records(folder: Path) -> list[Record]:
    records = []
    for path in sorted(folder.glob("worker-*.txt")):
        with path.open() as lines:
            records.extend(Record(line) for line in lines if line.strip())
    return records


class QueueFleet:
    """The worker processes of one run, each with its record and log under ``folder``."""

    def __init__(
        self, folder: Path, db_path: Path | str, workers: int, watch: bool, claim_batch: int = 1
    ) -> None:
        self.folder, self.db_path = folder, db_path
        self.env = {**os.environ, "COLLECTOR_MIN_FREE_SPACE": "0", "PYTHONUNBUFFERED": "1"}
        self.env.pop("COLLECTOR_TOKEN", None)
        self.processes: list[subprocess.Popen[bytes]] = []
        for number in range(workers):
            record = folder / f"worker-{number}.txt"
            command = [sys.executable, "-m", "collector.bench.queue_worker", str(db_path)]
            command += [str(record)] + ([] if watch else ["--no-watch"])
            command += ["--batch", str(claim_batch)] if claim_batch > 1 else []
            with (folder / f"worker-{number}.log").open("ab") as log:
                self.processes.append(
                    subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
                )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        ready = [
            Path(f"{self.folder / f'worker-{n}.txt'}.ready") for n in range(len(self.processes))
        ]
        while not all(path.exists() for path in ready):
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"a queue worker exited at start: see {self.folder}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the queue workers did not start within {START_SECONDS:.0f} s")
            time.sleep(0.05)

    def stop(self) -> list[int | None]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: list[int | None] = []
        for process in self.processes:
            try:
                codes.append(process.wait(STOP_SECONDS))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return codes


def _percentile(values: list[float], fraction: float) -> float | None:
    found = percentile(values, fraction)
    return None if found is None else round(found, 2)


def _summary_ms(values: list[float]) -> dict[str, Any]:
    return {
        "samples": len(values),
        "p50_ms": round(statistics.median(values), 2) if values else None,
        "p90_ms": _percentile(values, 0.9),
        "p99_ms": _percentile(values, 0.99),
        "max_ms": round(max(values), 2) if values else None,
    }


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.002)


def _count(db: DatabaseConfig, status: str) -> int:
    return int(db.execute_query("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,))[0][0])


def _at_least(db: DatabaseConfig, status: str, bound: int) -> bool:
    """Whether ``bound`` jobs have this status: reads at most ``bound`` index entries
    (a COUNT of them all would also step over every dead one not yet vacuumed)."""
    sql = "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status = ? LIMIT ?) AS backlog"
    return int(db.execute_query(sql, (status, bound))[0][0]) >= bound


def _idle_latencies(
    queue: JobQueue, folder: Path, samples: int, rng: random.Random
) -> tuple[list[float], list[str]]:
    """Queue one job at a time into the idle fleet; ms from queueing to its download."""
    # The first identity read loads yt-dlp's URL patterns (about a second, once per
    # process): done before the clock starts, or the first sample would time the load.
    url_identity(URL.format("warm-up"))
    started: dict[str, float] = {}
    for number in range(samples):
        time.sleep(rng.uniform(*IDLE_GAP))
        at = time.time()
        job = queue.enqueue(URL.format(f"idle-{number}")).job
        started[job.id] = at
        _wait_for(
            lambda job_id=job.id: queue.get(job_id).status == "completed",
            IDLE_CLAIM_TIMEOUT,
            f"idle job {number} to complete",
        )
    runs = {r.job_id: r.at for r in read_records(folder) if r.job_id in started}
    return [(runs[job_id] - at) * 1000 for job_id, at in started.items()], list(started)


class Enqueuer(threading.Thread):
    """Queues batches until stopped, keeping at most ``max_backlog`` jobs pending."""

    def __init__(self, db_path: Path | str, batch: int, max_backlog: int) -> None:
        super().__init__(name="enqueuer", daemon=True)
        self.db_path, self.batch, self.max_backlog = db_path, batch, max_backlog
        self.done = threading.Event()
        self.queued = 0
        self.batch_ms: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        db = DatabaseConfig(self.db_path)
        queue = JobQueue(db)
        try:
            batches = 0
            while not self.done.is_set():
                # The backlog is counted every BACKLOG_EVERY batches, not before each: a
                # count is a round trip of its own (the bound is max_backlog plus those).
                if batches % BACKLOG_EVERY == 0 and _at_least(db, "pending", self.max_backlog):
                    time.sleep(0.005)
                    continue
                batches += 1
                urls = [URL.format(self.queued + n) for n in range(self.batch)]
                began = time.perf_counter()
                queue.enqueue_many(urls)
                self.batch_ms.append((time.perf_counter() - began) * 1000)
                self.queued += self.batch
        except BaseException as exc:  # reported by the run
            self.error = exc
        finally:
            db.dispose()


def schema_url(url: str, schema: str) -> str:
    """``url`` with every session's search_path set to ``schema`` (libpq's options)."""
    parts = urlsplit(url)
    option = quote(f"-csearch_path={schema}", safe="")
    query = "&".join(filter(None, [parts.query, f"options={option}"]))
    return urlunsplit(parts._replace(query=query))


class BenchSchema:
    """A schema of the run's own in a server database, dropped at the end."""

    def __init__(self, url: str) -> None:
        self.admin = DatabaseConfig(url)
        self.name = f"collector_queue_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self.admin.execute_update(f"CREATE SCHEMA {quote_identifier(self.name)}")
        self.url = schema_url(url, self.name)

    def drop(self) -> None:
        try:
            name = quote_identifier(self.name)
            self.admin.execute_update(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        finally:
            self.admin.dispose()


@contextmanager
def bench_database(
    folder: Path, filename: str, database_url: str | None
) -> Iterator[DatabaseConfig]:
    """A new SQLite file ``filename`` in ``folder``, or a schema of its own in the
    PostgreSQL database ``database_url`` (dropped at the end)."""
    schema = BenchSchema(database_url) if database_url else None
    db = DatabaseConfig(schema.url if schema else folder / filename)
    try:
        yield db
    finally:
        db.dispose()
        if schema is not None:
            schema.drop()


def run_queue(
    folder: Path,
    options: QueueOptions,
    progress: Callable[[str], None] = lambda line: None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """One queue run in ``folder`` (its records and logs stay there; on SQLite its
    database too); on PostgreSQL in a schema of its own of ``database_url``."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("queue.db*"), *folder.glob("worker-*")]:
        stale.unlink()
    schema = BenchSchema(database_url) if database_url else None
    try:
        return _run_queue(folder, options, progress, schema.url if schema else folder / "queue.db")
    finally:
        if schema is not None:
            schema.drop()


def _run_queue(
    folder: Path, options: QueueOptions, progress: Callable[[str], None], db_path: Path | str
) -> dict[str, Any]:
    db = DatabaseConfig(db_path)
    db.initialize_schema()
    settings = SettingsRepository(db)
    settings.set("download_dir", str(folder / "downloads"))
    settings.set("allowed_hosts", "127.0.0.1")
    queue = JobQueue(db)
    load_before = os.getloadavg()
    fleet = QueueFleet(folder, db_path, options.workers, options.watch, options.claim_batch)
    try:
        fleet.wait_ready()
        progress(f"{options.workers} worker(s) up; idle claim latency, {options.idle_samples} jobs")
        idle_ms, idle_ids = _idle_latencies(
            queue, folder, options.idle_samples, random.Random(options.seed)
        )
        progress(f"throughput: {options.seconds:g} s, batches of {options.batch}")
        enqueuer = Enqueuer(db_path, options.batch, options.max_backlog)
        window_start = time.time()
        enqueuer.start()
        time.sleep(options.seconds)
        enqueuer.done.set()
        enqueuer.join()
        window_end = time.time()
        if enqueuer.error is not None:
            raise enqueuer.error
        progress(f"queued {enqueuer.queued:,}; draining the rest")
        _wait_for(
            lambda: _count(db, "pending") + _count(db, "running") == 0,
            DRAIN_TIMEOUT,
            "the queue to drain",
        )
    finally:
        exit_codes = fleet.stop()
    load_after = os.getloadavg()
    engine = f"{db.dialect.display_name} ({db.dialect.version})"
    try:
        result = _check(db, folder, window_start, window_end)
    finally:
        db.dispose()
    seconds = window_end - window_start
    queued = enqueuer.queued + len(idle_ids)
    result.update(
        {
            "engine": engine,
            "options": asdict(options),
            "idle_claim_latency": _summary_ms(idle_ms),
            "window_seconds": round(seconds, 2),
            "queued": queued,
            "queued_per_second": round(enqueuer.queued / seconds, 1),
            "enqueue_batch": _summary_ms(enqueuer.batch_ms),
            "every_queued_job_completed": result["jobs_by_status"] == {"completed": queued},
            "worker_exit_codes": exit_codes,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
            "cpus": os.cpu_count(),
        }
    )
    result["claimed_per_second"] = round(result.pop("claimed_in_window") / seconds, 1)
    result["finished_per_second"] = round(result.pop("finished_in_window") / seconds, 1)
    return result


def _check(db: DatabaseConfig, folder: Path, start: float, end: float) -> dict[str, Any]:
    """What the records and the database say once the fleet stopped."""
    records = read_records(folder)
    runs = Counter(r.job_id for r in records)
    statuses: Counter[str] = Counter()
    finished = 0
    for row in db.execute_query("SELECT status, completed_at FROM jobs"):
        statuses[row["status"]] += 1
        done = from_db_timestamp(row["completed_at"])
        if done is not None and start <= done.timestamp() <= end:
            finished += 1
    counted = {k: v for k, v in JobRepository(db).get_job_statistics().items() if v}
    return {
        "job_runs": len(records),
        "double_claims": sum(count - 1 for count in runs.values() if count > 1),
        "runs_by_worker": dict(sorted(Counter(r.worker for r in records).items())),
        "claimed_in_window": sum(1 for r in records if start <= r.at <= end),
        "finished_in_window": finished,
        "jobs_by_status": dict(sorted(statuses.items())),
        "statistics_equal_group_by": counted == dict(statuses),
        "integrity_check": _integrity(db),
    }


def _integrity(db: DatabaseConfig) -> str:
    """The integrity check's first line; on PostgreSQL without amcheck, "not checked"."""
    try:
        return (db.integrity_check() or ["ok"])[0]
    except NotImplementedError:
        return NOT_CHECKED


NOT_CHECKED = "not checked (needs amcheck)"


def report_lines(result: dict[str, Any]) -> list[str]:
    idle = result["idle_claim_latency"]
    options = result["options"]
    mode = "watching" if options["watch"] else "polling only"
    claims = options.get("claim_batch", 1)
    path = f"batches of {claims} claimed and completed per statement" if claims > 1 else "Worker"
    return [
        f"{options['workers']} worker process(es) ({path}), {mode}, {result['engine']}; "
        "load average "
        f"{result['load_average_before'][0]} before, "
        f"{result['load_average_after'][0]} after ({result['cpus']} CPUs)",
        f"idle fleet, one job queued: claimed in p50 {idle['p50_ms']} ms, "
        f"p90 {idle['p90_ms']} ms, max {idle['max_ms']} ms ({idle['samples']} jobs)",
        f"draining for {result['window_seconds']} s: {result['claimed_per_second']:,} claimed/s, "
        f"{result['finished_per_second']:,} finished/s; queued {result['queued_per_second']:,}/s "
        f"in batches of {options['batch']} (p50 {result['enqueue_batch']['p50_ms']} ms a batch)",
        f"jobs {result['queued']:,}, runs {result['job_runs']:,}, double claims "
        f"{result['double_claims']}, every job completed {result['every_queued_job_completed']}, "
        f"statistics = GROUP BY {result['statistics_equal_group_by']}, "
        f"integrity {result['integrity_check']}",
    ]
