"""``collector bench``: build test datasets and measure the indexes at scale."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from collector.bench.dataset import MIXES
from collector.bench.runner import DEFAULT_INSERT_JOBS, DEFAULT_SIZES

from . import ERRORS

MAX_JOBS = 100_000_000
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


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


def json_option(help: str = "Write every figure here as JSON.") -> Callable[[F], F]:
    """--json PATH: where a bench command writes its figures."""
    return click.option(
        "--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), help=help
    )


def workdir_option(help: str) -> Callable[[F], F]:
    """--workdir DIR: keep what a bench command builds (default: a temporary folder)."""
    return click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), help=help)


def database_url_option(
    help: str = "Run on this PostgreSQL database (postgresql://...), in a schema of its own "
    "dropped at the end, instead of a new SQLite file.",
) -> Callable[[F], F]:
    """--database-url URL: the PostgreSQL database a bench command runs on."""
    return click.option("--database-url", "bench_url", help=help)


def write_json(result: dict[str, Any], json_path: Path | None) -> None:
    """The figures as JSON at ``json_path`` (when one was given), and say so."""
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"wrote {json_path}")


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
@json_option()
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Draw latency against jobs here as PNG (needs collector[bench]).",
)
@workdir_option("Keep the benchmark databases here (default: a temporary folder).")
@click.option(
    "--database-url",
    "bench_url",
    help="Measure on this PostgreSQL database (postgresql://...): each size in a new schema "
    "collector_bench_<jobs> there, dropped once measured (insert costs are SQLite's: skipped).",
)
def bench_run(
    sizes: list[int],
    mix: str,
    insert_jobs: int,
    seed: int,
    json_path: Path | None,
    plot_path: Path | None,
    workdir: Path | None,
    bench_url: str | None,
) -> None:
    """Every dashboard query with and without indexes, at each size, on the same data."""
    from collector.bench.plot import PlotUnavailableError, check_available, write_plot
    from collector.bench.report import report_lines
    from collector.bench.runner import run_benchmarks

    from .bench_fleet import server_url

    url = server_url(bench_url)

    if plot_path is not None:
        try:
            check_available()
        except PlotUnavailableError as exc:
            raise click.ClickException(str(exc)) from exc
    bars = StageBars()
    try:
        result = run_benchmarks(sizes, workdir, insert_jobs, mix, bars, seed, url)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bars.close()
    for line in report_lines(result):
        click.echo(line)
    write_json(result, json_path)
    if plot_path is not None:
        write_plot(result, plot_path)
        click.echo(f"wrote {plot_path}")


@bench.command("sse")
@click.option("--clients", type=click.IntRange(0, 1000), default=50, show_default=True)
@click.option("--seconds", type=click.FloatRange(1, 3600), default=10, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(1, 1000),
    help="waitress threads (default: as collector serve sets them for --max-streams).",
)
@click.option(
    "--max-streams",
    type=click.IntRange(0, 1000),
    default=64,
    show_default=True,
    help="Streams open at once before a 503 (EVENTS_MAX_STREAMS).",
)
@json_option()
@workdir_option("Keep the benchmark database here (default: a temporary folder).")
@click.option(
    "--database-url",
    "bench_url",
    help="Run on this PostgreSQL database (postgresql://...; its jobs are kept) instead of "
    "a new SQLite file.",
)
def bench_sse(
    clients: int,
    seconds: float,
    threads: int | None,
    max_streams: int,
    json_path: Path | None,
    workdir: Path | None,
    bench_url: str | None,
) -> None:
    """N browsers watching live progress: queries/s, and GET /api/jobs and / meanwhile."""
    from collector.app import create_app
    from collector.bench.sse import report_lines as sse_lines
    from collector.bench.sse import run_sse_bench
    from collector.config.database import DatabaseConfig
    from collector.web.events import broadcaster

    from .serve import server_capacity

    capacity = server_capacity(max_streams)
    if threads is not None:
        capacity["threads"] = threads
    with tempfile.TemporaryDirectory(prefix="collector-sse-") as scratch:
        folder = workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        location = bench_url or str(folder / "sse.db")
        try:
            db = DatabaseConfig(location)
            db.initialize_schema()
            app = create_app({"DB_PATH": location, "EVENTS_MAX_STREAMS": max_streams})
            hub = broadcaster(app)
            result = run_sse_bench(
                db,
                app,
                hub.counters,
                hub.close,
                clients=clients,
                seconds=seconds,
                **capacity,
            )
        except ERRORS as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            db.dispose()
    for line in sse_lines(result):
        click.echo(line)
    write_json(result, json_path)


def in_folder(prefix: str, workdir: Path | None, run: Callable[[Path], T]) -> T:
    """``run`` in ``workdir`` (created if need be), or in a temporary folder removed
    afterwards; a database or benchmark error is a clean CLI error."""
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        folder = workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            return run(folder)
        except ERRORS as exc:
            raise click.ClickException(str(exc)) from exc


@bench.command("playlist")
@click.option(
    "--jobs",
    "num_jobs",
    type=click.IntRange(0, MAX_JOBS),
    default=100_000,
    show_default=True,
    help="Jobs in the database before the listing (each with an identity).",
)
@click.option("--entries", type=click.IntRange(1, 1_000_000), default=5_000, show_default=True)
@json_option()
@workdir_option("Keep the benchmark database here (default: a temporary folder).")
@database_url_option()
def bench_playlist(
    num_jobs: int,
    entries: int,
    json_path: Path | None,
    workdir: Path | None,
    bench_url: str | None,
) -> None:
    """A playlist of ENTRIES entries queued as jobs: the listing recorded in one go."""
    from collector.bench.playlist import playlist_lines, run_playlist

    figures = in_folder(
        "collector-playlist-", workdir, lambda f: run_playlist(f, num_jobs, entries, bench_url)
    )
    for line in playlist_lines(figures):
        click.echo(line)
    write_json(figures.as_dict(), json_path)


@bench.command("search")
@click.option(
    "--jobs",
    "num_jobs",
    type=click.IntRange(1_000, MAX_JOBS),
    default=100_000,
    show_default=True,
    help="Jobs in the database (1% of their titles hold the searched word).",
)
@click.option("--runs", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option()
@workdir_option("Keep the benchmark database here (default: a temporary folder).")
@database_url_option()
def bench_search(
    num_jobs: int, runs: int, json_path: Path | None, workdir: Path | None, bench_url: str | None
) -> None:
    """The first page of a search by words, against lower(title) LIKE '%word%'."""
    from collector.bench.search import run_search, search_lines

    figures = in_folder(
        "collector-search-", workdir, lambda f: run_search(f, num_jobs, bench_url, runs)
    )
    for line in search_lines(figures):
        click.echo(line)
    write_json(figures.as_dict(), json_path)


def _register() -> None:
    from .bench_fleet import (
        bench_faults,
        bench_load,
        bench_pg_upgrade,
        bench_queue,
        bench_upgrade_wait,
    )

    for command in (bench_load, bench_faults, bench_upgrade_wait, bench_pg_upgrade, bench_queue):
        bench.add_command(command)


_register()
