"""``collector bench``: build test datasets and measure the indexes at scale."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from collector.bench.dataset import MIXES
from collector.bench.runner import DEFAULT_INSERT_JOBS, DEFAULT_SIZES

from . import ERRORS

MAX_JOBS = 100_000_000


class JobSizes(click.ParamType):
    """A comma-separated list of job counts, each a whole number from 1 to MAX_JOBS."""

    name = "sizes"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[int]:
        if isinstance(value, list):
            return value
        sizes = []
        for part in str(value).split(","):
            text = part.strip().replace("_", "")
            if not (text.isascii() and text.isdigit()):
                self.fail(
                    f"{part.strip()!r} is not a whole number; give job counts like 1000,10000",
                    param,
                    ctx,
                )
            if not 1 <= int(text) <= MAX_JOBS:
                self.fail(f"{int(text)} jobs: each size must be from 1 to {MAX_JOBS:,}", param, ctx)
            sizes.append(int(text))
        return sorted(set(sizes))


class StageBars:
    """A click progress bar per stage of a long run, on stderr."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.bar: Any = None
        self.done = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.done = stage, 0
            self.bar = click.progressbar(length=total, label=stage, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.group()
def bench() -> None:
    """Test datasets and the index benchmark."""


@bench.command("dataset")
@click.option(
    "--jobs", "num_jobs", type=click.IntRange(1, MAX_JOBS), default=1000, show_default=True
)
@click.option(
    "--files-per-job",
    type=click.IntRange(0, 100),
    default=3,
    show_default=True,
    help="Each job gets 1 to this + 1 files.",
)
@click.option(
    "--mix",
    type=click.Choice(MIXES),
    default="realistic",
    show_default=True,
    help="plan: uniform statuses, platforms, file types; realistic: ~90% completed.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same dataset.")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def bench_dataset(num_jobs: int, files_per_job: int, mix: str, seed: int, path: Path) -> None:
    """Write a new database at PATH with a synthetic dataset, indexed as the app's."""
    from collector.bench.dataset import create_dataset
    from collector.config.database import DatabaseConfig

    if path.exists():
        raise click.ClickException(f"{path} already exists; give the path of a new database")
    bars = StageBars()
    done = 0

    def progress(count: int) -> None:
        nonlocal done
        done += count
        bars(f"load {num_jobs:,} jobs", done, num_jobs)

    db = DatabaseConfig(path)
    started = time.perf_counter()
    try:
        summary = create_dataset(db, num_jobs, files_per_job, mix, seed, progress=progress)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bars.close()
        db.close()
    click.echo(
        f"{path}: {summary.jobs:,} jobs, {summary.files:,} files ({mix} mix, seed {seed}) "
        f"in {time.perf_counter() - started:.1f} s, indexes included"
    )


@bench.command("run")
@click.option(
    "--jobs",
    "sizes",
    type=JobSizes(),
    default=",".join(map(str, DEFAULT_SIZES)),
    show_default=True,
    help="Dataset sizes to measure, comma-separated.",
)
@click.option("--mix", type=click.Choice(MIXES), default="realistic", show_default=True)
@click.option(
    "--inserts",
    "insert_jobs",
    type=click.IntRange(0, MAX_JOBS),
    default=DEFAULT_INSERT_JOBS,
    show_default=True,
    help="Jobs per insert-throughput measurement (0: skip them).",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write every figure here as JSON.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Draw latency against jobs here as PNG (needs collector[bench]).",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the benchmark databases here (default: a temporary folder).",
)
def bench_run(
    sizes: list[int],
    mix: str,
    insert_jobs: int,
    seed: int,
    json_path: Path | None,
    plot_path: Path | None,
    workdir: Path | None,
) -> None:
    """Every dashboard query with and without indexes, at each size, on the same data."""
    from collector.bench.plot import PlotUnavailableError, check_available, write_plot
    from collector.bench.report import report_lines
    from collector.bench.runner import run_benchmarks

    if plot_path is not None:
        try:
            check_available()
        except PlotUnavailableError as exc:
            raise click.ClickException(str(exc)) from exc
    bars = StageBars()
    try:
        result = run_benchmarks(sizes, workdir, insert_jobs, mix, bars, seed)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bars.close()
    for line in report_lines(result):
        click.echo(line)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"wrote {json_path}")
    if plot_path is not None:
        write_plot(result, plot_path)
        click.echo(f"wrote {plot_path}")


@bench.command("load")
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
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the figures here.",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the database and the fleet's logs here (default: a temporary folder).",
)
def bench_load(
    seconds: float,
    workers: int,
    writers: int,
    readers: int,
    write_rate: float,
    json_path: Path | None,
    workdir: Path | None,
) -> None:
    """Writers, readers and worker processes on one new database; then what was lost.

    Runs `collector serve` and WORKERS `collector worker` processes against a loopback
    media server, queues and reads through the API for SECONDS, stops the fleet
    with SIGTERM and checks every acknowledged job is in the database.
    """
    import tempfile

    from collector.bench.load import LoadOptions, run_load

    options = LoadOptions(seconds, workers, writers, readers, write_rate)
    with tempfile.TemporaryDirectory(prefix="collector-load-") as scratch:
        folder = workdir or Path(scratch)
        result = run_load(folder, options, progress=lambda line: click.echo(line, err=True))
    for line in _load_lines(result):
        click.echo(line)
    _write_json(result, json_path)


def _load_lines(result: dict[str, Any]) -> list[str]:
    lines = []
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


def _write_json(result: dict[str, Any], json_path: Path | None) -> None:
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"wrote {json_path}")


@bench.command("faults")
@click.argument("names", nargs=-1)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the figures here.",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep each scenario's database and logs here (default: a temporary folder).",
)
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
    _write_json(result, json_path)


@bench.command("upgrade-wait")
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
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write every figure here as JSON.",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the database here (default: a temporary folder).",
)
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
    _write_json(result, json_path)
    if result["errors"] or result["lost"] or result["upgrade_exit_code"]:
        sys.exit(1)
