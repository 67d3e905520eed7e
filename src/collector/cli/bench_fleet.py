"""``collector bench load|faults|upgrade-wait|pg-upgrade|queue``: real processes, measured."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from collector import dialects

from . import ERRORS
from .bench import MAX_JOBS, json_option, workdir_option, write_json


@click.command("load")
@click.option("--seconds", type=click.FloatRange(1, 3600), default=60, show_default=True)
@click.option("--workers", type=click.IntRange(0, 64), default=3, show_default=True)
@click.option("--writers", type=click.IntRange(0, 64), default=2, show_default=True)
@click.option("--readers", type=click.IntRange(0, 64), default=4, show_default=True)
@click.option(
    "--write-rate",
    type=click.FloatRange(0, 100_000),
    default=140,
    show_default=True,
    help="Jobs queued per second over all writers (0: as fast as they can).",
)
@json_option("Write the figures here.")
@workdir_option("Keep the database and the fleet's logs here (default: a temporary folder).")
@click.option(
    "--database-url",
    "bench_url",
    help="Run the fleet on this PostgreSQL database (postgresql://...; its jobs are kept) "
    "instead of a new SQLite file in the work folder.",
)
def bench_load(
    seconds: float,
    workers: int,
    writers: int,
    readers: int,
    write_rate: float,
    json_path: Path | None,
    workdir: Path | None,
    bench_url: str | None,
) -> None:
    """Writers, readers and worker processes on one new database; then what was lost.

    Runs `collector serve` and WORKERS `collector worker` processes against a loopback
    media server, queues and reads through the API for SECONDS, stops the fleet
    with SIGTERM and checks every acknowledged job is in the database.
    """
    import tempfile

    from collector.bench.load import LoadOptions, run_load

    url = server_url(bench_url)
    options = LoadOptions(seconds, workers, writers, readers, write_rate)
    with tempfile.TemporaryDirectory(prefix="collector-load-") as scratch:
        folder = workdir or Path(scratch)
        result = run_load(
            folder, options, progress=lambda line: click.echo(line, err=True), database_url=url
        )
    for line in _load_lines(result):
        click.echo(line)
    write_json(result, json_path)


def _load_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"engine: {result['engine']}"]
    for kind in ("writes", "reads"):
        s = result[kind]
        lines.append(
            f"{kind}: {s['requests']:,} requests, {s['per_second']}/s, p50 {s['p50_ms']} ms, "
            f"p99 {s['p99_ms']} ms, 5xx {s['5xx']}, no answer {s['no_answer']}"
        )
    lines.append(
        f"jobs acknowledged {result['acknowledged_jobs']:,}, lost {result['lost_jobs']}, "
        f"left running {result['left_running']}, by status {result['jobs_by_status']}"
    )
    lines.append(
        f"'database is locked' logged {result['database_is_locked_logged']}, "
        f"tracebacks {result['tracebacks_logged']}, clips fetched more than once "
        f"{result['clips_fetched_more_than_once']}, statistics = GROUP BY "
        f"{result['statistics_equal_group_by']}, integrity {result['integrity_check']}"
    )
    return lines


@click.command("faults")
@click.argument("names", nargs=-1)
@json_option("Write the figures here.")
@workdir_option("Keep each scenario's database and logs here (default: a temporary folder).")
def bench_faults(names: tuple[str, ...], json_path: Path | None, workdir: Path | None) -> None:
    """Kill, fill and damage a fleet's storage; report what each fault lost.

    NAMES: scenarios to run (default: all of them).
    """
    import tempfile

    from collector.bench.faults import SCENARIOS, run_faults

    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise click.BadParameter(
            f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}",
            param_hint="NAMES",
        )
    with tempfile.TemporaryDirectory(prefix="collector-faults-") as scratch:
        folder = workdir or Path(scratch)
        result = run_faults(
            folder, list(names or SCENARIOS), progress=lambda line: click.echo(line, err=True)
        )
    click.echo(json.dumps(result, indent=2))
    write_json(result, json_path)


@click.command("upgrade-wait")
@click.option(
    "--jobs", "num_jobs", type=click.IntRange(1, MAX_JOBS), default=1_000_000, show_default=True
)
@click.option(
    "--busy-timeout-ms",
    type=click.IntRange(0, 600_000),
    help="The writer's busy timeout (default: COLLECTOR_BUSY_TIMEOUT_MS, or 30000).",
)
@click.option(
    "--progress-rate",
    type=click.FloatRange(0.1, 1000),
    default=10.0,
    show_default=True,
    help="Progress reports a second.",
)
@click.option(
    "--enqueue-rate",
    type=click.FloatRange(0.1, 1000),
    default=1.0,
    show_default=True,
    help="New jobs a second.",
)
@json_option("Write every figure here as JSON.")
@workdir_option("Keep the database here (default: a temporary folder).")
def bench_upgrade_wait(
    num_jobs: int,
    busy_timeout_ms: int | None,
    progress_rate: float,
    enqueue_rate: float,
    json_path: Path | None,
    workdir: Path | None,
) -> None:
    """How long writes wait while `db upgrade` builds the indexes of a large database.

    Writes an index-less database of JOBS jobs, upgrades it in another process and,
    meanwhile, reports progress and queues jobs from this one. Exits 1 if a write
    failed or was lost.
    """
    import tempfile

    from collector.bench.upgrade_wait import build_indexless, measure, report_lines

    with tempfile.TemporaryDirectory() as scratch:
        folder = workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"upgrade-wait-{num_jobs}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        click.echo(f"writing {num_jobs:,} jobs without indexes to {path}", err=True)
        try:
            build_indexless(path, num_jobs)
            result = measure(
                path, busy_timeout_ms, progress_rate=progress_rate, enqueue_rate=enqueue_rate
            )
        except ERRORS as exc:
            raise click.ClickException(str(exc)) from exc
    for line in report_lines(result):
        click.echo(line)
    write_json(result, json_path)
    if result["errors"] or result["lost"] or result["upgrade_exit_code"]:
        sys.exit(1)


@click.command("pg-upgrade")
@click.option(
    "--database-url",
    "bench_url",
    required=True,
    help="The PostgreSQL database (postgresql://...); the run owns one schema of it.",
)
@click.option(
    "--jobs", "num_jobs", type=click.IntRange(1, MAX_JOBS), default=1_000_000, show_default=True
)
@click.option(
    "--index",
    default="idx_jobs_status_created",
    show_default=True,
    help="The jobs index that db upgrade finds missing and builds.",
)
@click.option(
    "--schema",
    default="collector_bench_upgrade",
    show_default=True,
    help="The schema the run drops and creates anew (nothing else is touched).",
)
@click.option("--no-plain", is_flag=True, help="Skip the plain CREATE INDEX comparison.")
@json_option("Write every figure here as JSON.")
def bench_pg_upgrade(
    bench_url: str,
    num_jobs: int,
    index: str,
    schema: str,
    no_plain: bool,
    json_path: Path | None,
) -> None:
    """A writer's insert latency while `db upgrade` builds a missing index on PostgreSQL.

    Writes JOBS jobs into SCHEMA, drops INDEX, and runs `db upgrade` in another process
    while a thread queues jobs back to back; then, for comparison, builds the index
    with a plain CREATE INDEX under the same writer. Exits 1 if the upgrade failed, a
    write failed or the index is not in place afterwards.
    """
    from collector.bench.pg_upgrade import measure, report_lines

    url = server_url(bench_url)
    assert url is not None  # required
    try:
        result = measure(
            url,
            num_jobs,
            schema=schema,
            index=index,
            plain=not no_plain,
            progress=lambda line: click.echo(line, err=True),
        )
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    for line in report_lines(result):
        click.echo(line)
    write_json(result, json_path)
    if result["upgrade_exit_code"] or result["writer_errors"] or not result["index_ok_after"]:
        sys.exit(1)


@click.command("queue")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--seconds", type=click.FloatRange(1, 3600), default=20, show_default=True)
@click.option(
    "--batch",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Jobs the enqueuer queues per transaction.",
)
@click.option(
    "--idle-samples",
    type=click.IntRange(1, 1000),
    default=30,
    show_default=True,
    help="Jobs queued one at a time into the idle fleet, for the claim latency.",
)
@click.option(
    "--claim-batch",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Jobs a worker claims per statement (JobQueue.claim_many) and completes per "
    "statement; 1: collector's Worker, one job at a time.",
)
@click.option(
    "--poll-only",
    is_flag=True,
    help="Workers without the change watcher (the idle back-off alone), to compare.",
)
@json_option("Write the figures here.")
@workdir_option(
    "Keep the database, the workers' records and logs here (default: a temporary folder)."
)
@click.option(
    "--database-url",
    "bench_url",
    help="Run on this PostgreSQL database (postgresql://...), in a schema of the run's own "
    "that is dropped at the end, instead of a new SQLite file in the work folder.",
)
def bench_queue(
    workers: int,
    seconds: float,
    batch: int,
    idle_samples: int,
    claim_batch: int,
    poll_only: bool,
    json_path: Path | None,
    workdir: Path | None,
    bench_url: str | None,
) -> None:
    """Jobs claimed and finished per second by WORKERS processes with a no-op download.

    First times how soon an idle fleet claims a job queued one at a time; then an
    enqueuer queues batches for SECONDS while the workers drain them. Exits 1 if a
    job ran twice, a job was not completed or the statistics differ from a GROUP BY.
    """
    import tempfile

    from collector.bench.queue import NOT_CHECKED, QueueOptions, report_lines, run_queue

    url = server_url(bench_url)
    options = QueueOptions(
        workers, seconds, batch, idle_samples, watch=not poll_only, claim_batch=claim_batch
    )
    with tempfile.TemporaryDirectory(prefix="collector-queue-") as scratch:
        folder = workdir or Path(scratch)
        try:
            result = run_queue(
                folder, options, progress=lambda line: click.echo(line, err=True), database_url=url
            )
        except (*ERRORS, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from exc
    for line in report_lines(result):
        click.echo(line)
    write_json(result, json_path)
    healthy = (
        result["double_claims"] == 0
        and result["every_queued_job_completed"]
        and result["statistics_equal_group_by"]
        and result["integrity_check"] in ("ok", NOT_CHECKED)
    )
    if not healthy:
        sys.exit(1)


def server_url(url: str | None) -> str | None:
    """A bench's --database-url: a server database's URL, checked; None when not given."""
    if url is None:
        return None
    try:
        parsed = dialects.parse_database_url(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--database-url") from None
    if parsed.path is not None:
        raise click.BadParameter(
            "name a server database (postgresql://...); an SQLite run makes its own file",
            param_hint="--database-url",
        )
    return parsed.url
