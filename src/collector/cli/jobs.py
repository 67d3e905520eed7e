"""``collector add|jobs|cancel|retry|settings``: the queue from the command line."""

from __future__ import annotations

import json
import unicodedata

import click

from collector.config.database import DatabaseConfig
from collector.config.runtime import KNOWN_SETTINGS, prepare_setting
from collector.models.formats import FORMATS
from collector.models.job import PLATFORMS, Job
from collector.models.redaction import redact_fields, redact_text, redact_url
from collector.repositories import JobRepository, SettingsRepository
from collector.repositories.job_repository import STATUS_FILTERS, search_words
from collector.repositories.queue import JobQueue
from collector.repositories.settings_repository import load_settings

from . import ERRORS, open_db


def ready_db(ctx: click.Context) -> DatabaseConfig:
    """The database, reconciled with the models (what every start does)."""
    database = open_db(ctx)
    try:
        database.initialize_schema()
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    return database


def printable(text: str) -> str:
    """``text`` with control characters shown as ``?``.

    Titles and errors come from remote sites: an escape sequence or a newline in
    one must not reach the terminal as such.
    """
    return "".join("?" if unicodedata.category(ch).startswith("C") else ch for ch in text)


def describe(job: Job) -> str:
    """One line per job: id, status, progress, platform, title (or URL), error.

    Credentials in the URL, or in an error quoting it, are masked.
    """
    line = f"{job.id}  {job.status:<10} {job.progress:>3}%  {job.platform:<9} "
    line += printable(job.title or redact_url(job.url))
    if job.entries is not None:
        line += f"  [playlist: {job.entries} entries]"
    if job.status == "failed" and job.error_message:
        line += f"  ({printable(redact_text(job.error_message))})"
    return line


@click.command()
@click.argument("urls", nargs=-1, required=True)
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    help="What to download (default: the default_format setting): best video, video at "
    "most 1080p/720p/480p, or the audio alone as m4a or mp3.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def add(ctx: click.Context, urls: tuple[str, ...], format_: str | None, as_json: bool) -> None:
    """Queue URLs for download; prints each job's id.

    A URL already pending or running is not queued twice: its job's id is printed.
    """
    try:
        # All or nothing: every URL is checked before any is queued, in one transaction.
        results = JobQueue(ready_db(ctx)).enqueue_many(urls, format=format_)
    except ERRORS as exc:  # a refused URL's message may quote it
        raise click.ClickException(redact_text(str(exc))) from exc
    if as_json:
        rows = [{**redact_fields(r.job.to_dict()), "created": r.created} for r in results]
        click.echo(json.dumps(rows, indent=2))
        return
    for result in results:
        click.echo(result.job.id)
        if not result.created:
            shown = redact_url(result.job.url)
            click.echo(f"already queued: {shown} ({result.job.status})", err=True)


@click.command("jobs")
@click.option(
    "--status",
    type=click.Choice(STATUS_FILTERS),
    help="Only jobs with this status, or active (pending, running, cancelling).",
)
@click.option("--platform", type=click.Choice(PLATFORMS), help="Only jobs of this platform.")
@click.option(
    "--search",
    metavar="TEXT",
    help="Only jobs whose title, uploader or URL holds every word of TEXT (whole words, any case).",
)
@click.option(
    "--parent",
    metavar="ID",
    help="Only the entries a playlist job queued, in the playlist's order.",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_jobs(
    ctx: click.Context,
    status: str | None,
    platform: str | None,
    search: str | None,
    parent: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List jobs, newest first (a playlist's entries in its order)."""
    if search is not None:
        try:
            search_words(search)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--search") from exc
    try:
        jobs = JobRepository(ready_db(ctx))
        if parent is not None and jobs.get_job(parent) is None:
            raise click.BadParameter(f"no job with id {parent!r}", param_hint="--parent")
        page = jobs.page(limit=limit, status=status, platform=platform, q=search, parent=parent)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([redact_fields(job.to_dict()) for job in page.items], indent=2))
        return
    for job in page.items:
        click.echo(describe(job))
    if not page.items:
        click.echo("no jobs", err=True)


@click.command()
@click.argument("job_id")
@click.pass_context
def cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a job: a pending one at once, a running one within a few seconds."""
    try:
        job = JobQueue(ready_db(ctx)).cancel(job_id)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    if job.status == "cancelled":
        click.echo(f"cancelled {job.id}")
    else:
        click.echo(f"cancelling {job.id}: its worker stops the download within a few seconds")


@click.command()
@click.argument("job_id")
@click.pass_context
def retry(ctx: click.Context, job_id: str) -> None:
    """Queue a failed or cancelled job again."""
    try:
        job = JobQueue(ready_db(ctx)).retry(job_id)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"queued {job.id} again")


# A negative VALUE (max_retries -1) is a value to check, not an unknown option.
@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.pass_context
def settings(ctx: click.Context, key: str | None, value: str | None) -> None:
    """Show every setting, show KEY, or set KEY to VALUE."""
    try:
        database = ready_db(ctx)
        if key is not None and value is not None:
            SettingsRepository(database).set(key, prepare_setting(key, value))
        effective = _effective(database)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    if key is None:
        for name, shown in effective.items():
            click.echo(f"{name} = {shown}")
        return
    if key not in effective:
        raise click.ClickException(f"unknown setting {key!r}; known: {', '.join(KNOWN_SETTINGS)}")
    click.echo(effective[key] if value is None else f"{key} = {effective[key]}")


# Keys the application keeps for itself (the web app's session key): never printed.
PRIVATE_PREFIXES = ("web.",)


def _effective(database: DatabaseConfig) -> dict[str, str]:
    """Every known setting's value in force (stored, or its default), then other stored keys."""
    loaded = load_settings(database)
    values = {name: str(getattr(loaded, name)) for name in KNOWN_SETTINGS}
    for name, stored in SettingsRepository(database).all().items():
        if not name.startswith(PRIVATE_PREFIXES):
            values.setdefault(name, "" if stored is None else stored)
    return values
