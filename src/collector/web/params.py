"""Query-string, path and body parameters, checked: bad input is a 4xx naming the fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import abort

from collector.models.job import Job
from collector.models.values import quoted
from collector.repositories import JobRepository
from collector.repositories.job_repository import search_words
from collector.repositories.paging import decode_cursor
from collector.repositories.subscriptions import (
    Subscription,
    SubscriptionNotFoundError,
    SubscriptionRepository,
)

MAX_PAGE = 200
# A search is a few words; a longer one is refused rather than cut.
MAX_SEARCH = 500


def can_be_an_id(value: str) -> bool:
    """Whether ``value`` could name a row: PostgreSQL's text holds no NUL character, and
    would answer a query with one by an error (a 500), not by no row."""
    return "\x00" not in value


def job_or_404(job_id: str) -> Job:
    """The job a URL names, or a 404 quoting (at most 100 characters of) the id."""
    job = JobRepository().get_job(job_id) if can_be_an_id(job_id) else None
    if job is None:
        abort(404, f"no job with id {quoted(job_id)}")
    return job


def job_id(args: Mapping[str, str], name: str) -> str | None:
    """A job id given as ``name`` (None if absent): the job must exist, else a 404."""
    value = args.get(name)
    if value is None:
        return None
    if value == "":
        abort(400, f"empty {name}; give a job's id (or leave {name} out)")
    return job_or_404(value).id


def subscription_or_404(subscription_id: str) -> Subscription:
    """The subscription a URL names, or a 404 quoting (at most 100 characters of) the id."""
    try:
        if can_be_an_id(subscription_id):
            return SubscriptionRepository().get(subscription_id)
    except SubscriptionNotFoundError:
        pass
    abort(404, f"no subscription with id {quoted(subscription_id)}")


def subscription_id(args: Mapping[str, str]) -> str | None:
    """A subscription's id given as ``subscription`` (None if absent): it must exist."""
    value = args.get("subscription")
    if value is None:
        return None
    if value == "":
        abort(400, "empty subscription; give a subscription's id (or leave it out)")
    return subscription_or_404(value).id


def filled(args: Mapping[str, str]) -> dict[str, str]:
    """The parameters that have a value: a page's filter form sends "any" as empty.

    The API takes ``args`` as they are, so an empty value there is a 400, not "any".
    """
    return {name: value for name, value in args.items() if value != ""}


def choice(args: Mapping[str, str], name: str, choices: Sequence[str]) -> str | None:
    """The value of ``name`` if given and one of ``choices`` (an empty value is not); None
    if absent."""
    value = args.get(name)
    if value is None:
        return None
    if value == "":
        abort(400, f"empty {name}; valid: {', '.join(choices)} (or leave {name} out for all)")
    if value not in choices:
        abort(400, f"unknown {name} {quoted(value)}; valid: {', '.join(choices)}")
    return value


FLAGS = {"0": False, "1": True}


def flag(args: Mapping[str, str], name: str) -> bool:
    """A yes/no parameter: ``1`` or ``0``; absent is no."""
    raw = args.get(name)
    if raw is None:
        return False
    if raw not in FLAGS:
        abort(400, f"{name} must be 1 or 0 (or left out), not {quoted(raw)}")
    return FLAGS[raw]


def limit(args: Mapping[str, str], default: int) -> int:
    """A page size from 1 to MAX_PAGE."""
    raw = args.get("limit")
    if raw is None:
        return default
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0
    if not 1 <= value <= MAX_PAGE:
        abort(400, f"limit must be an integer from 1 to {MAX_PAGE}, not {raw[:20]!r}")
    return value


def cursor(args: Mapping[str, str]) -> str | None:
    """A cursor from a previous page's ``next_cursor``, checked before any query."""
    raw = args.get("cursor")
    if raw is None:
        return None
    try:
        decode_cursor(raw)
    except ValueError:
        abort(400, f"invalid cursor {quoted(raw)}: use a next_cursor from a previous page")
    return raw


def search(args: Mapping[str, str]) -> str | None:
    """The words to search for (``q``), checked before any query; None if absent.

    Punctuation only separates words (no search syntax is read): a ``q`` without a
    letter or digit, empty, or past MAX_SEARCH characters is a 400.
    """
    raw = args.get("q")
    if raw is None:
        return None
    if len(raw) > MAX_SEARCH:
        abort(400, f"q is {len(raw)} characters long; at most {MAX_SEARCH}")
    try:
        search_words(raw)
    except ValueError as exc:
        abort(400, f"{exc} (or leave q out for all)")
    return raw


def json_object(body: Any) -> dict[str, Any]:
    """The request's JSON body, which must be an object."""
    if not isinstance(body, dict):
        abort(400, 'the request body must be a JSON object, e.g. {"url": "https://..."}')
    return body
