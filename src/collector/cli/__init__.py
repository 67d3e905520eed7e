"""The ``collector`` command: one group, a module per area."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from collector.config.database import DatabaseConfig, DatabaseError
from collector.config.settings import Config
from collector.models import ModelDefinitionError
from collector.models.redaction import install_log_filter
from collector.schema.reconcile import SchemaError

ERRORS = (DatabaseError, SchemaError, ModelDefinitionError, ValueError)


def open_db(ctx: click.Context, must_exist: bool = False) -> DatabaseConfig:
    """The database named by --db / COLLECTOR_DB_PATH, checked, as a DatabaseConfig."""
    path: Path = ctx.obj["db_path"]
    if must_exist and not path.exists():
        raise click.ClickException(f"no database at {path}")
    try:
        db = DatabaseConfig(path)
        db.check_path()
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    return db


@click.group()
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="COLLECTOR_DB_PATH",
    default=None,
    help="SQLite database (env COLLECTOR_DB_PATH; default ./data/collector.db).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every change at INFO.")
@click.pass_context
def main(ctx: click.Context, db_path: Path | None, verbose: bool) -> None:
    """collector: queue URLs, download them, watch them on a dashboard."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_filter()  # no log line shows a URL's credentials
    ctx.obj = {"db_path": db_path or Config.DB_PATH}


def _register() -> None:
    from . import db, jobs, serve, worker

    main.add_command(db.db)
    main.add_command(serve.serve)
    for command in (jobs.add, jobs.list_jobs, jobs.cancel, jobs.retry, jobs.settings):
        main.add_command(command)
    main.add_command(worker.worker)
    from .bench import bench

    main.add_command(bench)


_register()
