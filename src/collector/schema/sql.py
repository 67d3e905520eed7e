"""The one place SQL text is assembled from names.

Identifiers only ever come from model declarations; they are validated against a
strict pattern and then quoted. Values are bound with ``?`` everywhere, except in
DDL, which SQLite cannot parameterise (a partial index's WHERE clause): there a
literal from a declaration is rendered by :func:`quote_literal`.
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


def column_list(names: list[str] | tuple[str, ...]) -> str:
    """``"a", "b"`` from validated names."""
    return ", ".join(quote_identifier(n) for n in names)


def placeholders(count: int) -> str:
    """``?, ?, ?`` for ``count`` bound values."""
    if count < 1:
        raise ValueError("at least one placeholder is needed")
    return ", ".join("?" * count)
