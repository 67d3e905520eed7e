"""Keyset pagination: pages of a list ordered by (created_at, id), newest first.

A cursor names the last row of a page; the next page is the rows strictly before
it in that order, found by the index that serves the list with a range seek
(``(created_at, id) < (?, ?)``), so page 10,000 costs what page 1 does.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from collector.models.values import to_db_timestamp

T = TypeVar("T")

DEFAULT_PAGE = 50
KEYSET_ORDER = " ORDER BY created_at DESC, id DESC"
KEYSET_AFTER = "(created_at, id) < (?, ?)"
# Oldest first (a playlist's entries in the playlist's order): the same index, forwards.
OLDEST_ORDER = " ORDER BY created_at, id"
OLDEST_AFTER = "(created_at, id) > (?, ?)"


@dataclass
class Page(Generic[T]):
    """One page of a list and the cursor of the next (None on the last page)."""

    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None


def encode_cursor(created_at: str | datetime, row_id: str) -> str:
    """An opaque cursor for the row with this stored created_at text and id (a
    timestamptz read back as a datetime, on PostgreSQL, is written as that text)."""
    if isinstance(created_at, datetime):
        created_at = to_db_timestamp(created_at)
    raw = json.dumps([created_at, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """(created_at text, id) from a cursor; ValueError if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, TypeError, AttributeError):
        raise ValueError(f"invalid cursor {cursor!r}") from None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        raise ValueError(f"invalid cursor {cursor!r}")
    try:  # JSON can spell lone surrogates (\ud800), which SQLite cannot bind
        for v in value:
            v.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"invalid cursor {cursor!r}") from None
    return value[0], value[1]


def keyset_where(
    terms: list[str], params: list[Any], cursor: str | None, oldest_first: bool = False
) -> tuple[list[str], list[Any], str]:
    """(WHERE terms, their values, ORDER BY clause) of a keyset page: ``terms`` and, after
    a cursor, the range that starts after it."""
    terms, params = list(terms), list(params)
    if cursor is not None:
        terms.append(OLDEST_AFTER if oldest_first else KEYSET_AFTER)
        params.extend(decode_cursor(cursor))
    return terms, params, OLDEST_ORDER if oldest_first else KEYSET_ORDER


def keyset_query(
    base: str,
    terms: list[str],
    params: list[Any],
    cursor: str | None,
    limit: int,
    oldest_first: bool = False,
) -> tuple[str, list[Any]]:
    """``base`` + WHERE terms + the cursor's range + keyset order + LIMIT limit + 1.

    One row more than the page is fetched to learn whether another page follows.
    """
    terms, params, order = keyset_where(terms, params, cursor, oldest_first)
    sql = base
    if terms:
        sql += " WHERE " + " AND ".join(terms)
    sql += order + " LIMIT ?"
    params.append(limit + 1)
    return sql, params
