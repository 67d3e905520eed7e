"""``collector serve``: the web app under waitress, with download workers in the same process."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import click

from collector.config.database import DatabaseConfig, DatabaseDamagedError
from collector.repositories import identity
from collector.web.api import STARTUP_ERROR
from collector.web.auth import MIN_TOKEN_LENGTH

from . import ERRORS

if TYPE_CHECKING:
    from collector.web.events import Broadcaster
    from collector.worker.metrics import WorkerMetrics

logger = logging.getLogger(__name__)

WORKER_STOP_SECONDS = 30.0
# Threads for ordinary requests. Each open event stream (web/events.py) holds a thread
# of its own for as long as it is open, so waitress gets these plus one per allowed
# stream: with 50 pages watching, requests still find 8 free threads (docs/reliability.md).
WEB_THREADS = 8
# Connections beyond the streams: browsers keep a few open each, API clients more.
SPARE_CONNECTIONS = 100
DEFAULT_STREAMS = 64


def server_capacity(max_streams: int) -> dict[str, int]:
    """waitress's ``threads`` and ``connection_limit`` for at most ``max_streams`` streams."""
    if max_streams < 0:
        raise ValueError(f"max_streams must be 0 or more, not {max_streams}")
    return {
        "threads": WEB_THREADS + max_streams,
        "connection_limit": SPARE_CONNECTIONS + max_streams,
    }


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token, or with a guessable one."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise click.ClickException(
            f"COLLECTOR_TOKEN is too short: use at least {MIN_TOKEN_LENGTH} random characters"
        )
    if not is_loopback(host) and token is None:
        raise click.ClickException(
            f"refusing to bind {host}: without COLLECTOR_TOKEN collector serves loopback only; "
            "set it to serve beyond this machine (the API then wants "
            "'Authorization: Bearer <token>', the pages a sign-in)"
        )


class Workers:
    """The in-process download workers: one Worker with N slots, in a thread of its own."""

    def __init__(self, db_path: str, slots: int, metrics: WorkerMetrics | None = None) -> None:
        from collector.worker import Worker

        database = DatabaseConfig(db_path)
        self.worker = Worker(database, concurrency=slots, metrics=metrics) if slots else None
        self.thread = threading.Thread(target=self._run, name="collector-worker", daemon=True)

    def _run(self) -> None:
        assert self.worker is not None
        try:
            self.worker.run()
        except DatabaseDamagedError:
            logger.error("download workers stopped: the database is damaged")
        finally:
            self.worker.db.close()

    def start(self) -> None:
        if self.worker is not None:
            self.thread.start()

    def stop(self) -> None:
        """Stop the downloads now and hand their jobs back to the queue."""
        if self.worker is None or not self.thread.is_alive():
            return
        click.echo("stopping workers: running jobs go back to the queue", err=True)
        self.worker.stop(abort=True)
        try:
            self.thread.join(WORKER_STOP_SECONDS)
        except KeyboardInterrupt:  # Ctrl-C again: leave now; leases bring the jobs back
            return
        if self.thread.is_alive():
            logger.warning("a worker did not stop within %.0f s", WORKER_STOP_SECONDS)


class Interrupt:
    """SIGTERM (and Ctrl-C) stop the server: open event streams end first.

    waitress stops on KeyboardInterrupt and then waits (5 s at most) for its threads;
    a thread serving an event stream would otherwise sit there until its next event.
    """

    def __init__(self, streams: Broadcaster) -> None:
        self.streams = streams

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.streams.close()
        raise KeyboardInterrupt


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(0, 64),
    help="Download workers in this process (0: web only; run `collector worker` elsewhere).",
)
@click.option(
    "--max-streams",
    default=DEFAULT_STREAMS,
    show_default=True,
    type=click.IntRange(0, 1000),
    help="Live progress streams open at once, each holding a web thread; beyond them "
    "(or with 0) the pages poll the API.",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, max_streams: int) -> None:
    """Run the dashboard and API under waitress, and download workers alongside.

    Binds 127.0.0.1 unless told otherwise; any other address needs COLLECTOR_TOKEN.
    Ctrl-C or SIGTERM stops the server and hands running jobs back to the queue.
    """
    import waitress

    from collector.app import create_app
    from collector.web.events import broadcaster
    from collector.web.metrics import worker_metrics

    token = os.environ.get("COLLECTOR_TOKEN") or None
    check_binding(host, token)
    db_path = str(ctx.obj["db_path"])
    try:
        app = create_app(
            {"DB_PATH": db_path, "AUTH_TOKEN": token, "EVENTS_MAX_STREAMS": max_streams}
        )
        startup_error = app.extensions.get(STARTUP_ERROR)
        if startup_error is not None:
            # Serve anyway, so that clients and /healthz are told why; download nothing.
            click.echo(f"collector cannot use its database: {startup_error}", err=True)
            workers = 0
        pool = Workers(db_path, workers, worker_metrics(app) if workers else None)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    try:  # bound before any worker starts: a port in use is an error, not a traceback
        streams = broadcaster(app)
        capacity = server_capacity(streams.max_streams)
        server = waitress.create_server(app, host=host.strip("[]"), port=port, **capacity)
    except (OSError, ValueError) as exc:  # ValueError: a host name that does not resolve
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise click.ClickException(f"cannot listen on {host} port {port}: {reason}") from exc
    # The first URL queued would otherwise wait for yt-dlp's patterns to be read.
    threading.Thread(target=identity.warm, name="identity-warm", daemon=True).start()
    click.echo(
        f"collector serving http://{host}:{port}/ "
        f"(database {db_path}, {workers} worker(s){', sign-in required' if token else ''})"
    )
    interrupt = Interrupt(streams)
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    pool.start()
    try:
        # Returns on Ctrl-C or SIGTERM (waitress stops on KeyboardInterrupt).
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        streams.close()
        pool.stop()
        click.echo("collector stopped", err=True)
