"""The ``collector`` command: one group, a module per area."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import click

from collector.config import conditions
from collector.config.database import DatabaseConfig, DatabaseError
from collector.config.settings import Config
from collector.models import ModelDefinitionError
from collector.models.redaction import install_log_filter
from collector.schema.reconcile import SchemaError

ERRORS = (DatabaseError, SchemaError, ModelDefinitionError, ValueError)
# Commands that keep running: they log a storage condition when it starts and clears.
LONG_RUNNING = ("serve", "worker")


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


class CollectorGroup(click.Group):
    """The command group: a database error no command expected still ends in one line.

    A damaged page or a full disk can surface in any query; wherever it does, the
    user gets the file and what to do (exit 1), never a traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except sqlite3.DatabaseError as exc:
            path = (ctx.obj or {}).get("db_path") or Config.DB_PATH
            translated = DatabaseConfig(path).translate(exc)
            raise click.ClickException(str(translated)) from exc
        except DatabaseError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=CollectorGroup)
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
    if not verbose and ctx.invoked_subcommand not in LONG_RUNNING:
        # A one-shot command ends with the condition's own one line (its error);
        # the log line that long-running processes need would only repeat it.
        quiet = logging.getLogger(conditions.__name__)
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        ctx.call_on_close(lambda: quiet.setLevel(level))


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
