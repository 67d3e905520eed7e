"""``collector worker``: download queued jobs."""

from __future__ import annotations

import click

from collector.worker import DEFAULT_LEASE_SECONDS, Worker
from collector.worker.metrics import WorkerMetrics

from . import ERRORS
from .jobs import ready_db


def serve_metrics(host: str, port: int) -> WorkerMetrics:
    """This worker's metrics, served at http://HOST:PORT/metrics in a thread of their own."""
    from prometheus_client import ProcessCollector, start_http_server

    metrics = WorkerMetrics()
    ProcessCollector(registry=metrics.registry)
    try:
        start_http_server(port, addr=host.strip("[]"), registry=metrics.registry)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise click.ClickException(f"cannot serve metrics on {host} port {port}: {reason}") from exc
    click.echo(f"worker metrics at http://{host}:{port}/metrics", err=True)
    return metrics


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
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this worker's Prometheus metrics on this port (path /metrics, no sign-in).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the metrics port binds (with --metrics-port).",
)
@click.pass_context
def worker(
    ctx: click.Context,
    burst: bool,
    concurrency: int,
    lease_seconds: float,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Download queued jobs until stopped (SIGTERM: finish downloads; twice: hand back)."""
    try:
        database = ready_db(ctx)
        metrics = serve_metrics(metrics_host, metrics_port) if metrics_port else None
        processed = Worker(
            database, concurrency=concurrency, lease_seconds=lease_seconds, metrics=metrics
        ).run(burst=burst)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"worker stopped: {processed} job(s) processed", err=True)
