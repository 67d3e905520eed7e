"""Declared names and constants as SQL text: validated identifiers, quoted; literals, escaped.

Identifiers only ever come from model declarations; they are validated against a
strict pattern and then quoted. A model renders its own DDL with these, so they live
with the declarations (which know no connection); :mod:`collector.schema.sql`
re-exports them beside the query-level helpers, and stays the one place the rest of
the package takes them from.
"""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def validate_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise ValueError."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise ValueError(f"invalid {what} {name!r}: use letters, digits and _ only")
    return name


def quote_identifier(name: str) -> str:
    """Quote a validated identifier for SQLite (and standard SQL)."""
    return '"' + validate_identifier(name) + '"'


def quote_literal(value: str | int) -> str:
    """Render a declared constant as an SQL literal (for DDL only)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"only str and int literals are allowed, not {value!r}")
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"
