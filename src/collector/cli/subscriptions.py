"""``collector subscribe`` and ``collector subscriptions``: followed channels and playlists."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from collector.models.formats import FORMATS
from collector.models.redaction import redact_text, redact_url
from collector.models.subscription import (
    InvalidOptionError,
    Subscription,
    check_after_date,
    format_every,
    parse_every,
)
from collector.repositories.subscriptions import SubscriptionRepository

from . import ERRORS
from .jobs import printable, ready_db


def subscription_row(sub: Subscription) -> dict[str, Any]:
    """A subscription as --json prints it (and the API returns it): URL and error redacted."""
    shown = sub.to_dict()
    shown["url"] = redact_url(sub.url)
    if sub.last_error is not None:
        shown["last_error"] = redact_text(sub.last_error)
    shown["paused"] = bool(sub.paused)
    return shown


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "never"


def describe(sub: Subscription) -> str:
    """One line: id, state, schedule, format, next check, queued, title or URL, error."""
    state = "paused" if sub.paused else "active"
    line = f"{sub.id}  {state:<6} every {format_every(sub.every_seconds):<5} "
    line += f"{sub.format or 'default':<9} next {_when(sub.next_check_at)}  "
    line += f"{sub.queued} queued  {printable(sub.title or redact_url(sub.url))}"
    if sub.last_error:
        line += f"  ({sub.failures} failed: {printable(redact_text(sub.last_error))})"
    return line


def _checked(check: Any) -> Any:
    """A click callback: ``check(value)``'s result, or a usage error naming the option."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            return check(value)
        except InvalidOptionError as exc:
            raise click.BadParameter(str(exc)) from exc

    return callback


def _repository(ctx: click.Context) -> SubscriptionRepository:
    return SubscriptionRepository(ready_db(ctx))


@click.command()
@click.argument("url")
@click.option(
    "--every",
    default="6h",
    show_default=True,
    callback=_checked(parse_every),
    help="How often to check: a number and m, h or d (30m, 6h, 1d); 5m at least.",
)
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    help="The format of the videos it queues (default: the default_format setting).",
)
@click.option(
    "--after",
    metavar="YYYY-MM-DD",
    callback=_checked(check_after_date),
    help="Only videos uploaded on or after this date (those of unknown date are queued).",
)
@click.option(
    "--keep",
    type=click.IntRange(1, 100_000),
    help="Keep the files of the newest N downloads only; older ones are removed.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def subscribe(
    ctx: click.Context,
    url: str,
    every: int,
    format_: str | None,
    after: str | None,
    keep: int | None,
    as_json: bool,
) -> None:
    """Follow a channel or playlist: the workers check it on a schedule and queue
    its new videos. Prints the subscription's id."""
    try:
        sub = _repository(ctx).create(
            url, every=every, format=format_, after_date=after, keep_newest=keep
        )
    except ERRORS as exc:  # a refused URL's message may quote it
        raise click.ClickException(redact_text(str(exc))) from exc
    if as_json:
        click.echo(json.dumps(subscription_row(sub), indent=2))
        return
    click.echo(sub.id)


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def subscriptions(ctx: click.Context, as_json: bool) -> None:
    """List the subscriptions (newest first), or pause, resume or remove one."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        found = _repository(ctx).list_all()
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([subscription_row(s) for s in found], indent=2))
        return
    for sub in found:
        click.echo(describe(sub))
    if not found:
        click.echo("no subscriptions", err=True)


def _change(ctx: click.Context, action: str, subscription_id: str) -> Subscription:
    repo = _repository(ctx)
    try:
        changed: Subscription = getattr(repo, action)(subscription_id)
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    return changed


@subscriptions.command()
@click.argument("subscription_id")
@click.pass_context
def pause(ctx: click.Context, subscription_id: str) -> None:
    """Stop checking a subscription (until resumed)."""
    _change(ctx, "pause", subscription_id)
    click.echo(f"paused {subscription_id}")


@subscriptions.command()
@click.argument("subscription_id")
@click.pass_context
def resume(ctx: click.Context, subscription_id: str) -> None:
    """Check a paused subscription again (at once, if its check is overdue)."""
    _change(ctx, "resume", subscription_id)
    click.echo(f"resumed {subscription_id}")


@subscriptions.command()
@click.argument("subscription_id")
@click.pass_context
def remove(ctx: click.Context, subscription_id: str) -> None:
    """Stop following a subscription; the videos it queued and their files stay."""
    _change(ctx, "remove", subscription_id)
    click.echo(f"removed {subscription_id}")


CLEAR = {"format": "default", "after": "none", "keep": "all"}


@subscriptions.command("set")
@click.argument("subscription_id")
@click.option("--every", help="How often to check: 30m, 6h, 1d (5m at least).")
@click.option(
    "--format",
    "format_",
    type=click.Choice([*FORMATS, CLEAR["format"]]),
    help="The format of the videos it queues; default: the default_format setting.",
)
@click.option("--after", metavar="YYYY-MM-DD|none", help="Only videos uploaded on or after.")
@click.option("--keep", metavar="N|all", help="Keep the files of the newest N downloads only.")
@click.pass_context
def set_options(
    ctx: click.Context,
    subscription_id: str,
    every: str | None,
    format_: str | None,
    after: str | None,
    keep: str | None,
) -> None:
    """Change a subscription's options; a new --every counts from its last check."""
    changes: dict[str, Any] = {}
    if every is not None:
        changes["every"] = every
    if format_ is not None:
        changes["format"] = None if format_ == CLEAR["format"] else format_
    if after is not None:
        changes["after_date"] = None if after == CLEAR["after"] else after
    if keep is not None:
        changes["keep_newest"] = None if keep == CLEAR["keep"] else _whole_number(keep)
    if not changes:
        raise click.UsageError("give at least one of --every, --format, --after, --keep")
    try:
        changed = _repository(ctx).update(subscription_id, changes)
    except InvalidOptionError as exc:
        raise click.UsageError(str(exc)) from exc
    except ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(describe(changed))


def _whole_number(text: str) -> int | str:
    """``--keep``'s value as a number when it is one (the repository checks its range)."""
    return int(text) if text.isascii() and text.isdigit() else text
