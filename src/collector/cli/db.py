"""``collector db``: inspect, upgrade and explain the database schema."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from collector.config.backup import backup
from collector.config.copy import BATCH_ROWS, CopyInterrupted, check_databases, copy_database
from collector.config.database import DatabaseConfig, DatabaseDamagedError
from collector.models import ALL_MODELS
from collector.schema.reconcile import inspect, storage_states
from collector.schema.sql import quote_identifier

from . import ERRORS, open_db


@click.group()
def db() -> None:
    """Inspect, check, back up and upgrade the database."""


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def db_status(ctx: click.Context, as_json: bool) -> None:
    """Rows per table; each index ok, missing, drifted, invalid or unmanaged; the tables'
    storage settings (PostgreSQL); the engine's quick check.

    Exits 1 if quick_check finds the file damaged (after printing everything).
    """
    database = open_db(ctx, must_exist=True)
    try:
        result = _status(database)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    damaged = result["damaged"]
    if as_json:
        click.echo(json.dumps(result, indent=2))
        ctx.exit(1 if damaged else 0)
    click.echo(f"database {database.name}")
    click.echo("quick_check: " + "; ".join(result["quick_check"]))
    for table in result["tables"]:
        rows = "missing" if table["rows"] is None else _rows(table["rows"])
        if table.get("error"):
            rows = f"unreadable ({table['error']})"
        click.echo(f"table {table['name']}: {rows}")
        for column in table["missing_columns"]:
            click.echo(f"  column {column}: missing")
        for index in table["indexes"]:
            detail = f"  ({index['detail']})" if index["detail"] else ""
            click.echo(f"  {index['name']:<28} {index['state']}{detail}")
        if table.get("storage"):
            storage = table["storage"]
            detail = f"  ({storage['detail']})" if storage["detail"] else ""
            click.echo(f"  {'storage settings':<28} {storage['state']}{detail}")
    if damaged:
        raise click.ClickException(
            f"the database {database.name} is damaged: run `collector --db "
            f"{database.name} db check` for every problem, and restore a backup"
        )


def _status(database: DatabaseConfig) -> dict[str, Any]:
    from collector.schema import introspect

    conn = database.connection()
    try:
        quick_check = database.integrity_check(quick=True) or ["ok"]
        damaged = quick_check != ["ok"]
    except NotImplementedError as exc:  # PostgreSQL without the amcheck extension
        quick_check, damaged = [f"not run: {exc}"], False
    states = inspect(conn, ALL_MODELS)
    storage = {s.table: s._asdict() for s in storage_states(conn, ALL_MODELS)}
    tables = []
    for model in ALL_MODELS:
        name = model.get_table_name()
        present = {c.name for c in introspect.table_columns(conn, name)}
        rows, error = None, None
        if present:
            try:
                count = "SELECT COUNT(*) FROM " + quote_identifier(name)
                rows = database.execute_query(count)[0][0]
            except DatabaseDamagedError as exc:
                error = exc.reason
        tables.append(
            {
                "name": name,
                "rows": rows,
                "error": error,
                "missing_columns": [c for c in model.field_names() if present and c not in present],
                "indexes": [s._asdict() for s in states if s.table == name],
                "storage": storage.get(name),
            }
        )
    return {
        "database": database.name,
        "quick_check": quick_check,
        "damaged": damaged,
        "tables": tables,
    }


@db.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def db_check(ctx: click.Context, as_json: bool) -> None:
    """Run SQLite's integrity check on the whole file; exit 1 if it finds problems.

    Reads every page: about as long as copying the file. Changes nothing.
    """
    database = open_db(ctx, must_exist=True)
    try:
        problems = database.integrity_check()
    except (*ERRORS, NotImplementedError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        result = {"database": database.name, "ok": not problems, "problems": problems}
        click.echo(json.dumps(result, indent=2))
    elif not problems:
        click.echo(f"database {database.name}: integrity check ok")
    else:
        click.echo(f"database {database.name}: {len(problems)} problem(s)")
        for problem in problems:
            click.echo(f"  {problem}")
    if problems:
        if not as_json:
            click.echo(
                "the file is damaged: stop collector and restore the latest backup "
                "(README: Backups)",
                err=True,
            )
        ctx.exit(1)


@db.command("backup")
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace TARGET if it exists.")
@click.pass_context
def db_backup(ctx: click.Context, target: Path, force: bool) -> None:
    """Copy the live database to TARGET, consistently, while others keep writing.

    Uses SQLite's online backup; the copy is checked (quick_check) and moved into
    place only when complete. An existing TARGET is kept unless --force.
    """
    database = open_db(ctx, must_exist=True)
    try:
        result = backup(database, target, force=force)
    except (*ERRORS, NotImplementedError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"backed up {database.name} to {result.path} ({_size(result.size)})")
    if result.problems:
        raise click.ClickException(
            f"the copy at {result.path} is damaged, so the database is too: "
            + "; ".join(result.problems[:3])
        )


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


@db.command("copy")
@click.option(
    "--to",
    "to_url",
    required=True,
    metavar="URL",
    help="The database to copy into: postgresql://... or sqlite:///path (created if new).",
)
@click.option(
    "--from",
    "from_url",
    metavar="URL",
    default=None,
    help="The database to copy from (default: the configured one).",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 1_000_000),
    default=BATCH_ROWS,
    show_default=True,
    help="Rows read and committed at a time.",
)
@click.option("--stop-after-batches", type=int, default=None, hidden=True)  # tests: a "kill"
@click.pass_context
def db_copy(
    ctx: click.Context,
    to_url: str,
    from_url: str | None,
    batch: int,
    stop_after_batches: int | None,
) -> None:
    """Copy the whole collection into another database, on either engine.

    The target is brought to the current schema, then every table is copied in
    batches (COPY on PostgreSQL), each committed on its own: run the command again
    after an interruption and it carries on where it stopped, writing no row twice.
    Indexes and the derived tables are built after the rows. At the end both sides'
    rows are counted and checksummed; a difference exits 1 and names the first rows
    that differ. Stop the workers and the server first: rows changed during the copy
    show up as differences.
    """
    try:
        source = DatabaseConfig(from_url) if from_url else open_db(ctx, must_exist=True)
        target = DatabaseConfig(to_url)
        check_databases(source, target, ALL_MODELS)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"copying {source.name} ({source.dialect.display_name}) to {target.name} "
        f"({target.dialect.display_name})"
    )
    bars = _TableBars()
    started = time.perf_counter()
    try:
        report = copy_database(
            source, target, batch=batch, progress=bars, stop_after_batches=stop_after_batches
        )
    except CopyInterrupted as exc:
        bars.close()
        raise click.ClickException(f"copy interrupted: {exc}; run it again to finish") from exc
    except ERRORS as exc:
        bars.close()
        raise click.ClickException(str(exc)) from exc
    finally:
        source.dispose()
        target.dispose()
    bars.close()
    elapsed = time.perf_counter() - started
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.seconds.items())
    click.echo(f"{'table':<10} {'source rows':>12} {'target rows':>12}  checksum")
    for table in report.tables:
        same = table.source_checksum == table.target_checksum
        checksum = (
            table.source_checksum
            if same
            else (f"{table.source_checksum} != {table.target_checksum}")
        )
        verdict = "ok" if table.ok else "MISMATCH"
        click.echo(
            f"{table.table:<10} {table.source_rows:>12,} {table.target_rows:>12,}  "
            f"{checksum}  {verdict}"
        )
        for difference in table.differences:
            click.echo(f"  {difference}")
    click.echo(f"{report.copied:,} rows copied in {elapsed:.1f} s ({phases})")
    bad = [t.table for t in report.tables if not t.ok]
    if bad:
        raise click.ClickException(
            f"the target differs from the source in {', '.join(bad)} (rows listed above); "
            "it was kept as it is"
        )
    click.echo(f"{target.name} matches {source.name}")


class _TableBars:
    """One click progress bar per table, advanced to the rows the target holds."""

    def __init__(self) -> None:
        self.table: str | None = None
        self.bar: Any = None
        self.shown = 0

    def __call__(self, table: str, done: int, total: int) -> None:
        if table != self.table:
            self.close()
            self.table = table
            self.bar = click.progressbar(length=max(total, 1), label=f"{table:<10}", width=30)
            self.bar.__enter__()
            self.shown = 0
        step = min(done, total) - self.shown
        if step > 0:
            self.bar.update(step)
            self.shown += step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
            self.table = None


@db.command("explain")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def db_explain(ctx: click.Context, as_json: bool) -> None:
    """Each repository query, the plan the engine uses for it, and its contract.

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
    cost_based = database.dialect.features.cost_based_planner

    def allowance(contract: Any) -> str | None:
        """Why this engine's planner may take another plan, where the contract says so."""
        return contract.cost_based.why if cost_based and contract.cost_based else None

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
                        "cost_based": allowance(contract),
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
            if allowance(contract):
                click.echo(f"  (a cost-based planner may: {allowance(contract)})")
            for line in format_plan(checked.steps).splitlines():
                click.echo(f"    {line}")
    if broken:
        ctx.exit(1)


def _size(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")
