"""The one place SQL text is assembled from names.

Identifiers only ever come from model declarations; they are validated against a
strict pattern and then quoted. Values are bound with ``?`` everywhere, except in
DDL, which SQLite cannot parameterise (a partial index's WHERE clause): there a
literal from a declaration is rendered by :func:`quote_literal`.

The quoting itself is declared with the models (:mod:`collector.models.quoting`),
which render their own DDL and know no connection; it is re-exported here.
"""

from __future__ import annotations

from collector.models.quoting import (
    IDENTIFIER,
    quote_identifier,
    quote_literal,
    validate_identifier,
)

__all__ = [
    "IDENTIFIER",
    "column_list",
    "placeholders",
    "quote_identifier",
    "quote_literal",
    "validate_identifier",
]


def column_list(names: list[str] | tuple[str, ...]) -> str:
    """``"a", "b"`` from validated names."""
    return ", ".join(quote_identifier(n) for n in names)


def placeholders(count: int) -> str:
    """``?, ?, ?`` for ``count`` bound values."""
    if count < 1:
        raise ValueError("at least one placeholder is needed")
    return ", ".join("?" * count)
