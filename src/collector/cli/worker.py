"""``collector worker``: download queued jobs."""

from __future__ import annotations

import click

from collector.worker import DEFAULT_LEASE_SECONDS, Worker

from . import ERRORS
from .jobs import ready_db


@click.command()
@click.option("--burst", is_flag=True, help="Exit once no job is pending.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Downloads at once (one thread and database connection each).",
)
@click.option(
    "--lease-seconds",
    type=click.FloatRange(min=0.5),
    default=DEFAULT_LEASE_SECONDS,
    show_default=True,
    envvar="COLLECTOR_LEASE_SECONDS",
    help="How long a claimed job stays ours without renewal (env COLLECTOR_LEASE_SECONDS).",
)
@click.pass_context
def worker(ctx: click.Context, burst: bool, concurrency: int, lease_seconds: float) -> None:
    """Download queued jobs until stopped (SIGTERM: finish downloads; twice: hand back)."""
    try:
        database = ready_db(ctx)
        processed = Worker(database, concurrency=concurrency, lease_seconds=lease_seconds).run(
            burst=burst
        )
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"worker stopped: {processed} job(s) processed", err=True)
