"""The ``collector`` command."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from collector.config.database import DatabaseConfig, DatabaseError
from collector.config.settings import Config
from collector.models import ALL_MODELS, ModelDefinitionError
from collector.schema.reconcile import SchemaError, inspect
from collector.schema.sql import quote_identifier

ERRORS = (DatabaseError, SchemaError, ModelDefinitionError)


def _db(ctx: click.Context, must_exist: bool = False) -> DatabaseConfig:
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
    ctx.obj = {"db_path": db_path or Config.DB_PATH}


@main.group()
def db() -> None:
    """Inspect and upgrade the database schema."""


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def db_status(ctx: click.Context, as_json: bool) -> None:
    """Rows per table; each index ok, missing, drifted or unmanaged."""
    database = _db(ctx, must_exist=True)
    try:
        result = _status(database)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"database {database.db_path}")
    for table in result["tables"]:
        rows = "missing" if table["rows"] is None else f"{table['rows']:,} rows"
        click.echo(f"table {table['name']}: {rows}")
        for column in table["missing_columns"]:
            click.echo(f"  column {column}: missing")
        for index in table["indexes"]:
            detail = f"  ({index['detail']})" if index["detail"] else ""
            click.echo(f"  {index['name']:<28} {index['state']}{detail}")


def _status(database: DatabaseConfig) -> dict[str, Any]:
    from collector.schema import introspect

    conn = database.connection()
    states = inspect(conn, ALL_MODELS)
    tables = []
    for model in ALL_MODELS:
        name = model.get_table_name()
        present = {c.name for c in introspect.table_columns(conn, name)}
        rows = None
        if present:
            rows = conn.execute("SELECT COUNT(*) FROM " + quote_identifier(name)).fetchone()[0]
        tables.append(
            {
                "name": name,
                "rows": rows,
                "missing_columns": [c for c in model.field_names() if present and c not in present],
                "indexes": [s._asdict() for s in states if s.table == name],
            }
        )
    return {"database": str(database.db_path), "tables": tables}


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Reconcile the database with the models now (what every start does)."""
    database = _db(ctx)
    try:
        report = database.initialize_schema(ALL_MODELS)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    for change in report.changes:
        detail = f": {change.detail}" if change.detail else ""
        click.echo(f"{change.action} {change.name} ({change.table}){detail}")
    for state in report.indexes:
        if state.state == "unmanaged":
            click.echo(f"left unmanaged index {state.name} on {state.table} ({state.detail})")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    if not report.changes:
        click.echo("schema up to date: nothing to do")


@db.command("explain")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def db_explain(ctx: click.Context, as_json: bool) -> None:
    """Each repository query, the plan SQLite uses for it, and its contract.

    Queries are recorded, not run. Exits 1 if any plan breaks its contract.
    """
    from collector.repositories.contracts import CONTRACTS, check_contract, sample_from
    from collector.schema.plans import format_plan

    database = _db(ctx, must_exist=True)
    results = []
    try:
        sample = sample_from(database)
        for contract in CONTRACTS:
            for checked in check_contract(database, contract, sample):
                results.append((contract, checked))
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    broken = [r for r in results if r[1].problems]
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "query": contract.name,
                        "sql": checked.statement.sql,
                        "expected_index": checked.expected_index,
                        "plan": [step.detail for step in checked.steps],
                        "problems": checked.problems,
                    }
                    for contract, checked in results
                ],
                indent=2,
            )
        )
    else:
        for contract, checked in results:
            verdict = "ok" if not checked.problems else "BROKEN: " + "; ".join(checked.problems)
            click.echo(f"{contract.name}  [{verdict}]")
            click.echo(f"  {checked.statement.sql}")
            for line in format_plan(checked.steps).splitlines():
                click.echo(f"    {line}")
    if broken:
        ctx.exit(1)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@main.command()
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
