"""``collector db``: inspect, upgrade and explain the database schema."""

from __future__ import annotations

import json
from typing import Any

import click

from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS
from collector.schema.reconcile import inspect
from collector.schema.sql import quote_identifier

from . import ERRORS, open_db


@click.group()
def db() -> None:
    """Inspect and upgrade the database schema."""


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def db_status(ctx: click.Context, as_json: bool) -> None:
    """Rows per table; each index ok, missing, drifted or unmanaged."""
    database = open_db(ctx, must_exist=True)
    try:
        result = _status(database)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"database {database.db_path}")
    for table in result["tables"]:
        rows = "missing" if table["rows"] is None else _rows(table["rows"])
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
    database = open_db(ctx)
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

    database = open_db(ctx, must_exist=True)
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


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")
