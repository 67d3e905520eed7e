"""How values look in the database: ids and timestamps.

Timestamps are stored as naive UTC text in the exact shape Python's sqlite3 default
adapter wrote for the plan's pre-index code (``2025-02-17 10:00:00.123456``), always
with the fraction, so text order is time order across old rows and new ones.
Ids are UUIDs whose first 48 bits are the creation time in milliseconds (the UUIDv7
layout): new rows land at the right-hand end of the primary key's B-tree, which
keeps inserts fast on a large table. Old uuid4 ids stay valid.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

DB_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def to_db_timestamp(value: datetime) -> str:
    """A datetime as stored: naive UTC text with microseconds."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def from_db_timestamp(value: str | datetime | None) -> datetime | None:
    """Parse stored text (with or without the fraction, or ISO 'T') into aware UTC."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def new_id() -> str:
    """A time-ordered UUID (UUIDv7 layout) as text."""
    return time_ordered_id(time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10), "big"))


def time_ordered_id(millis: int, rand: int) -> str:
    """The UUIDv7 text for a millisecond timestamp and 74 (or more) random bits."""
    rand_a = (rand >> 62) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    high = (millis & 0xFFFF_FFFF_FFFF) >> 16
    low16 = millis & 0xFFFF
    variant_b = (0b10 << 62) | rand_b
    return (
        f"{high:08x}-{low16:04x}-7{rand_a:03x}-"
        f"{variant_b >> 48:04x}-{variant_b & 0xFFFF_FFFF_FFFF:012x}"
    )


def quoted(value: str, limit: int = 100) -> str:
    """``value`` as an error message shows it: repr'd, cut to ``limit`` characters.

    Messages echo what a caller sent (an id, a filter, a URL); a 50 KB value must
    not come back whole.
    """
    return repr(value[:limit])
