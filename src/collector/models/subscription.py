"""Subscription: a channel or playlist followed, checked on a schedule for new videos.

A worker claims a due subscription (repositories/subscriptions.py), lists it, queues
the entries the library does not have yet (their jobs carry ``subscription_id``), and
records the result: the next check, or, after a failure, a back-off and the error.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, ClassVar

from .base import BaseModel
from .fields import Column

# The shortest and longest time between two checks.
MIN_EVERY_SECONDS = 5 * 60
MAX_EVERY_SECONDS = 365 * 24 * 3600


class Subscription(BaseModel):
    """A followed URL, its options, and where its checks stand."""

    table_name = "subscriptions"

    columns: ClassVar[dict[str, Column]] = {
        "url": Column("TEXT", nullable=False),
        # What the URL is (repositories/identity.py): one subscription per channel or
        # playlist, however its URL is spelled.
        "identity": Column("TEXT", nullable=False),
        "title": Column("TEXT"),  # the listing's, once checked
        "every_seconds": Column("INTEGER", nullable=False),
        "format": Column("TEXT"),  # models/formats.py; NULL: the default_format setting
        "after_date": Column("TEXT"),  # YYYY-MM-DD: only entries uploaded on or after it
        "keep_newest": Column("INTEGER"),  # NULL: keep every download
        "paused": Column("INTEGER", nullable=False, default=0),
        "next_check_at": Column("TIMESTAMP", nullable=False),
        "last_checked_at": Column("TIMESTAMP"),
        "last_error": Column("TEXT"),
        "failures": Column("INTEGER", nullable=False, default=0),  # in a row
        "last_queued": Column("INTEGER"),  # jobs the last successful check queued
        "queued": Column("INTEGER", nullable=False, default=0),  # jobs queued so far
        # The check under way: the worker holding it and until when (a lease, as a
        # running job's: a worker that died holds it no longer once it expires).
        "checking_by": Column("TEXT"),
        "check_expires_at": Column("TIMESTAMP"),
    }

    indexes: ClassVar[list[dict[str, Any]]] = [
        {
            # The claim: the most overdue unpaused subscription, the first entry.
            "columns": ["next_check_at", "id"],
            "where": {"paused": 0},
            "name": "idx_subscriptions_due",
        },
        {
            # Whether any check holds a live lease (one check at a time, fleet-wide).
            "columns": ["check_expires_at"],
            "name": "idx_subscriptions_check_expires",
        },
        {
            # One subscription per channel or playlist.
            "columns": ["identity"],
            "unique": True,
            "name": "idx_subscriptions_identity",
        },
        {
            # The list, newest first.
            "columns": ["created_at", "id"],
            "name": "idx_subscriptions_created_at",
        },
    ]

    id: str
    created_at: datetime
    updated_at: datetime
    url: str
    identity: str
    title: str | None
    every_seconds: int
    format: str | None
    after_date: str | None
    keep_newest: int | None
    paused: int
    next_check_at: datetime
    last_checked_at: datetime | None
    last_error: str | None
    failures: int
    last_queued: int | None
    queued: int
    checking_by: str | None
    check_expires_at: datetime | None

    @property
    def is_paused(self) -> bool:
        return bool(self.paused)


class InvalidOptionError(ValueError):
    """A subscription option (every, after, keep) that cannot be taken."""


UNITS = {"m": 60, "h": 3600, "d": 86400}
# What ``every`` may be written as: 5-99999 minutes, 1-999 hours or 1-365 days, so
# every value it matches lies between MIN_EVERY_SECONDS and MAX_EVERY_SECONDS (the
# API's document states this very pattern: what it matches is taken, nothing else).
EVERY_FORMS = (
    "(?:[5-9]|[1-9][0-9]{1,4})m|[1-9][0-9]{0,2}h|(?:[1-9][0-9]?|[12][0-9]{2}|3[0-5][0-9]|36[0-5])d"
)
DATE_FORM = "[0-9]{4}-[0-9]{2}-[0-9]{2}"


def _whole(value: object) -> int | None:
    """``value`` as an int if it is a whole number (JSON's 600.0 too), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def parse_every(value: object) -> int:
    """Seconds between checks from ``30m``, ``6h``, ``1d`` (EVERY_FORMS), or a whole
    number of seconds from MIN_EVERY_SECONDS to MAX_EVERY_SECONDS; else
    InvalidOptionError."""
    seconds = _whole(value)
    if isinstance(value, str):
        if re.fullmatch(EVERY_FORMS, value):
            return int(value[:-1]) * UNITS[value[-1]]
        number, unit = value[:-1], value[-1:]
        if unit in UNITS and number.isascii() and number.isdigit() and len(number) < 8:
            seconds = int(number) * UNITS[unit]  # a well-formed value out of range
        else:
            raise InvalidOptionError(
                "every must be a number and a unit, m (minutes), h (hours) or d (days), "
                f"as 30m, 6h or 1d; not {repr(value)[:40]}"
            )
    if seconds is None:
        raise InvalidOptionError(
            "every must be a number and a unit, m (minutes), h (hours) or d (days), "
            f"as 30m, 6h or 1d; not {type(value).__name__}"
        )
    if not MIN_EVERY_SECONDS <= seconds <= MAX_EVERY_SECONDS or isinstance(value, str):
        shown = repr(value)[:40] if isinstance(value, str) else format_every(seconds)
        raise InvalidOptionError(
            f"every must be from {MIN_EVERY_SECONDS // 60}m to {MAX_EVERY_SECONDS // 86400}d "
            f"(at most 99999m or 999h), not {shown}"
        )
    return seconds


def format_every(seconds: int) -> str:
    """Seconds as parse_every reads them: 1d, 6h, 30m (or 90s)."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def check_after_date(value: object) -> str | None:
    """A date as YYYY-MM-DD (None: no limit), else InvalidOptionError."""
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(DATE_FORM, value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
    raise InvalidOptionError(f"after must be a date as YYYY-MM-DD, not {shown}")


MAX_KEEP = 100_000


def check_keep(value: object) -> int | None:
    """How many downloads to keep, 1 to MAX_KEEP (None: all), else InvalidOptionError."""
    if value is None:
        return None
    whole = _whole(value)
    if whole is not None and 1 <= whole <= MAX_KEEP:
        return whole
    shown = repr(value)[:40] if isinstance(value, (str, int)) else type(value).__name__
    raise InvalidOptionError(f"keep must be a whole number from 1 to {MAX_KEEP}, not {shown}")
