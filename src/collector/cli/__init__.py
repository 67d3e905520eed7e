"""The ``collector`` command: one group, a module per area."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from collector import dialects
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
    """The database named by --database-url / --db (or their environment variables),
    checked, as a DatabaseConfig."""
    path: str | Path = ctx.obj["db_path"]
    dialect = dialects.get_dialect(ctx.obj.get("engine", dialects.DEFAULT.name))
    if must_exist and dialect.features.file_based and not Path(path).exists():
        raise click.ClickException(f"no database at {path}")
    try:
        db = DatabaseConfig(path, dialect=dialect)
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
        except dialects.ENGINE_ERRORS as exc:
            obj = ctx.obj or {}
            path = obj.get("db_path") or Config.DB_PATH
            dialect = dialects.get_dialect(obj.get("engine", dialects.DEFAULT.name))
            translated = DatabaseConfig(path, dialect=dialect).translate(exc)
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
@click.option(
    "--database-url",
    "database_url",
    envvar="COLLECTOR_DATABASE_URL",
    default=None,
    metavar="URL",
    help="The database as a URL, sqlite:///relative.db or sqlite:////absolute.db "
    "(env COLLECTOR_DATABASE_URL; wins over COLLECTOR_DB_PATH).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every change at INFO.")
@click.pass_context
def main(ctx: click.Context, db_path: Path | None, database_url: str | None, verbose: bool) -> None:
    """collector: queue URLs, download them, watch them on a dashboard."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_filter()  # no log line shows a URL's credentials
    ctx.obj = _database(ctx, db_path, database_url)
    if not verbose and ctx.invoked_subcommand not in LONG_RUNNING:
        # A one-shot command ends with the condition's own one line (its error);
        # the log line that long-running processes need would only repeat it.
        quiet = logging.getLogger(conditions.__name__)
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        ctx.call_on_close(lambda: quiet.setLevel(level))


def _database(ctx: click.Context, db_path: Path | None, url: str | None) -> dict[str, Any]:
    """``{"db_path", "engine"}`` from the options: a command-line option wins over the
    environment, and a URL over a path where both come from the same place."""
    from_line = click.core.ParameterSource.COMMANDLINE
    url_given = ctx.get_parameter_source("database_url") == from_line
    path_given = ctx.get_parameter_source("db_path") == from_line
    if url_given and path_given:
        raise click.UsageError("give --database-url or --db, not both")
    if url and (url_given or not path_given):
        try:
            parsed = dialects.parse_database_url(url)
        except ValueError as exc:
            name = "--database-url" if url_given else "COLLECTOR_DATABASE_URL"
            raise click.ClickException(f"{name}: {exc}") from None
        where = parsed.path if parsed.path is not None else parsed.url
        return {"db_path": where, "engine": parsed.engine}
    return {"db_path": db_path or Config.DB_PATH, "engine": dialects.DEFAULT.name}


def _register() -> None:
    from . import db, jobs, serve, subscriptions, worker

    main.add_command(db.db)
    main.add_command(serve.serve)
    for command in (jobs.add, jobs.list_jobs, jobs.cancel, jobs.retry, jobs.settings):
        main.add_command(command)
    main.add_command(subscriptions.subscribe)
    main.add_command(subscriptions.subscriptions)
    main.add_command(worker.worker)
    from .bench import bench

    main.add_command(bench)


_register()
