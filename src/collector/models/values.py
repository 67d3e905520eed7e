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
import uuid
from datetime import UTC, datetime

DB_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def to_db_timestamp(value: datetime) -> str:
    """A datetime as stored: naive UTC text with microseconds."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(DB_TIMESTAMP_FORMAT)


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
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return str(uuid.UUID(int=value))
