"""The store's engine-specific parts, one dialect per engine (base.py says what one is).

Only a dialect module imports its engine's driver. Callers reach a dialect through
``DatabaseConfig.dialect``, or through :func:`dialect_for` when they hold only a
connection, and branch on its ``features``.
"""

from __future__ import annotations

from pathlib import Path

from .base import (
    BUSY,
    DAMAGED,
    ERROR_KINDS,
    FULL,
    INVALID_VALUE,
    NOT_A_DATABASE,
    ColumnInfo,
    Connection,
    Derived,
    Dialect,
    Features,
    IndexInfo,
    PlanStep,
    Trigger,
)
from .postgresql import PostgreSQLDialect
from .sqlite import SQLiteDialect
from .url import DatabaseURL, parse_database_url, with_search_path

SQLITE = SQLiteDialect()
POSTGRESQL = PostgreSQLDialect()
DIALECTS: dict[str, Dialect] = {SQLITE.name: SQLITE, POSTGRESQL.name: POSTGRESQL}
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


def locate(database: str | Path) -> tuple[Dialect, str | Path]:
    """The engine and the place a database setting names: a ``sqlite:///`` or
    ``postgresql://`` URL, or a plain path (an SQLite file). ValueError for a bad URL."""
    if isinstance(database, str) and "://" in database:
        parsed = parse_database_url(database)
        where: str | Path = parsed.path if parsed.path is not None else parsed.url
        return get_dialect(parsed.engine), where
    return SQLITE, Path(database)


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
    "INVALID_VALUE",
    "NOT_A_DATABASE",
    "POSTGRESQL",
    "SQLITE",
    "ColumnInfo",
    "Connection",
    "DatabaseURL",
    "Derived",
    "Dialect",
    "Features",
    "IndexInfo",
    "PlanStep",
    "PostgreSQLDialect",
    "SQLiteDialect",
    "Trigger",
    "dialect_for",
    "get_dialect",
    "locate",
    "parse_database_url",
    "with_search_path",
]
