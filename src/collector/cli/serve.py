"""``collector serve``: the web app under a production WSGI server."""

from __future__ import annotations

import click

from . import ERRORS

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Run the web app under waitress (loopback only until sign-in exists)."""
    from waitress import serve as waitress_serve

    from collector.app import create_app

    if host not in LOOPBACK_HOSTS:
        raise click.ClickException(
            f"refusing to bind {host}: collector has no sign-in yet, so it only serves loopback"
        )
    try:
        app = create_app({"DB_PATH": str(ctx.obj["db_path"])})
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"collector serving http://{host}:{port}/ (database {ctx.obj['db_path']})")
    waitress_serve(app, host=host, port=port, threads=8)
