"""The store's engine-specific parts, one dialect per engine (base.py says what one is).

Only a dialect module imports its engine's driver. Callers reach a dialect through
``DatabaseConfig.dialect``, or through :func:`dialect_for` when they hold only a
connection, and branch on its ``features``.
"""

from __future__ import annotations

from .base import (
    BUSY,
    DAMAGED,
    ERROR_KINDS,
    FULL,
    NOT_A_DATABASE,
    ColumnInfo,
    Connection,
    Dialect,
    Features,
    IndexInfo,
    PlanStep,
)
from .sqlite import SQLiteDialect
from .url import DatabaseURL, parse_database_url

SQLITE = SQLiteDialect()
DIALECTS: dict[str, Dialect] = {SQLITE.name: SQLITE}
# Every engine's DB-API base exception: what a caller catches to mean "any engine error".
ENGINE_ERRORS: tuple[type[Exception], ...] = tuple(d.Error for d in DIALECTS.values())
DEFAULT = SQLITE


def get_dialect(name: str) -> Dialect:
    """The dialect of an engine by name; ValueError listing the engines there are."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(
            f"unknown database engine {name!r}; choose one of {sorted(DIALECTS)}"
        ) from None


def dialect_for(conn: object) -> Dialect:
    """The dialect of a connection (or of a stand-in that names its ``dialect``)."""
    named = getattr(conn, "dialect", None)
    if isinstance(named, Dialect):
        return named
    for dialect in DIALECTS.values():
        if dialect.owns(conn):
            return dialect
    raise TypeError(f"{type(conn).__name__} is no connection of a known database engine")


__all__ = [
    "BUSY",
    "DAMAGED",
    "DEFAULT",
    "DIALECTS",
    "ENGINE_ERRORS",
    "ERROR_KINDS",
    "FULL",
    "NOT_A_DATABASE",
    "SQLITE",
    "ColumnInfo",
    "Connection",
    "DatabaseURL",
    "Dialect",
    "Features",
    "IndexInfo",
    "PlanStep",
    "SQLiteDialect",
    "dialect_for",
    "get_dialect",
    "parse_database_url",
]
