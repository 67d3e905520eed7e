"""Column and index declarations: what a model says about its table.

A model declares its columns once (:class:`Column`) and its indexes in the plan's
dict format; :func:`parse_index` turns one dict into an :class:`IndexSpec`, or
raises :class:`ModelDefinitionError` naming the model and the fault.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .quoting import IDENTIFIER, quote_identifier, quote_literal

COLUMN_TYPES = ("TEXT", "INTEGER", "REAL", "BLOB", "TIMESTAMP")
DIRECTIONS = ("ASC", "DESC")
INDEX_PREFIX = "idx_"
MAX_NAME_LENGTH = 64
ON_DELETE_ACTIONS = ("CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION")
INDEX_KEYS = frozenset({"columns", "name", "unique", "where"})


class ModelDefinitionError(ValueError):
    """A model's columns or indexes are declared wrongly."""


@dataclass(frozen=True)
class Column:
    """One declared column. ``default`` is a constant, rendered as a literal."""

    type: str = "TEXT"
    nullable: bool = True
    default: str | int | None = None
    primary_key: bool = False
    references: str | None = None  # "table.column"
    on_delete: str | None = None  # "CASCADE", "SET NULL", ...

    def problems(self) -> list[str]:
        """What is wrong with this declaration ([] if nothing)."""
        found = []
        if self.type not in COLUMN_TYPES:
            found.append(f"type {self.type!r} is not one of {', '.join(COLUMN_TYPES)}")
        if self.default is not None and (
            isinstance(self.default, bool) or not isinstance(self.default, (str, int))
        ):
            found.append(f"default {self.default!r} must be a str or int constant")
        if self.references is not None:
            parts = self.references.split(".") if isinstance(self.references, str) else []
            if len(parts) != 2 or not all(IDENTIFIER.match(p) for p in parts):
                found.append(f"references {self.references!r} must be 'table.column'")
        if self.on_delete is not None and self.on_delete not in ON_DELETE_ACTIONS:
            found.append(f"on_delete {self.on_delete!r}; valid: {', '.join(ON_DELETE_ACTIONS)}")
        return found

    def ddl(self, name: str, sql_type: str | None = None) -> str:
        """The column definition inside CREATE TABLE / ALTER TABLE ADD COLUMN.

        ``sql_type`` is the engine's name for the declared type (default: as declared,
        which is SQLite's).
        """
        parts = [quote_identifier(name), sql_type or self.type]
        if self.primary_key:
            parts.append("PRIMARY KEY")
        if not self.nullable and not self.primary_key:
            parts.append("NOT NULL")
        if self.default is not None:
            parts.append("DEFAULT " + quote_literal(self.default))
        if self.references:
            table, column = self.references.split(".")
            parts.append(f"REFERENCES {quote_identifier(table)} ({quote_identifier(column)})")
            if self.on_delete:
                parts.append("ON DELETE " + self.on_delete)
        return " ".join(parts)


@dataclass(frozen=True)
class IndexSpec:
    """A validated index declaration."""

    name: str
    table: str
    columns: tuple[tuple[str, str | None], ...]  # (column, "DESC"/"ASC"/None)
    unique: bool = False
    # (column, values): = or IN the values; no values: IS NOT NULL (NOT_NULL)
    where: tuple[tuple[str, tuple[str | int, ...]], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(col for col, _ in self.columns)

    def where_sql(self) -> str | None:
        """The partial index condition, e.g. ``"status" IN ('pending', 'running')``."""
        if not self.where:
            return None
        terms = []
        for column, values in self.where:
            rendered = ", ".join(quote_literal(v) for v in values)
            if not values:  # NOT_NULL
                terms.append(f"{quote_identifier(column)} IS NOT NULL")
            elif len(values) == 1:
                terms.append(f"{quote_identifier(column)} = {rendered}")
            else:
                terms.append(f"{quote_identifier(column)} IN ({rendered})")
        return " AND ".join(terms)

    def create_sql(self, if_not_exists: bool = True) -> str:
        """CREATE [UNIQUE] INDEX [IF NOT EXISTS] "name" ON "table" (...) [WHERE ...]."""
        keys = ", ".join(
            quote_identifier(col) + (f" {direction}" if direction else "")
            for col, direction in self.columns
        )
        sql = "CREATE UNIQUE INDEX" if self.unique else "CREATE INDEX"
        if if_not_exists:
            sql += " IF NOT EXISTS"
        sql += f" {quote_identifier(self.name)} ON {quote_identifier(self.table)} ({keys})"
        where = self.where_sql()
        if where:
            sql += f" WHERE {where}"
        return sql


class _NotNull:
    """The condition "the column is not NULL" in an index's ``where`` (``NOT_NULL``)."""

    def __repr__(self) -> str:
        return "NOT_NULL"


# ``{"where": {"parent_id": NOT_NULL}}``: an index of the rows that have a value. A query
# term ``parent_id = ?`` (or ``IN``) implies it, so both engines use such an index for
# it; and its statistics count those rows only, where a column that is NULL in most
# rows would make SQLite's (one average per index) take it for unselective.
NOT_NULL = _NotNull()


def generate_index_name(table: str, columns: list[Any]) -> str:
    """``idx_{table}_{col1}_{col2}``, shortened with a hash past 64 characters."""
    names = [col[0] if isinstance(col, (tuple, list)) else str(col) for col in columns]
    name = f"{INDEX_PREFIX}{table}_{'_'.join(names)}"
    if len(name) > MAX_NAME_LENGTH:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME_LENGTH - 9]}_{digest}"
    return name


def parse_index(model: str, table: str, columns: Mapping[str, Column], decl: Any) -> IndexSpec:
    """Validate one index declaration of ``model`` and return its spec."""

    def fault(message: str) -> ModelDefinitionError:
        return ModelDefinitionError(f"{model}: index {decl!r}: {message}")

    if not isinstance(decl, Mapping):
        raise fault("an index is a dict with 'columns' and optional 'name', 'unique', 'where'")
    unknown_keys = set(decl) - INDEX_KEYS
    if unknown_keys:
        raise fault(f"unknown keys {sorted(unknown_keys)}; valid: {sorted(INDEX_KEYS)}")
    raw_columns = decl.get("columns")
    if not isinstance(raw_columns, (list, tuple)) or not raw_columns:
        raise fault("'columns' must be a non-empty list")
    parsed = tuple(_parse_key(fault, columns, col) for col in raw_columns)
    if len({col for col, _ in parsed}) != len(parsed):
        raise fault("a column appears twice")
    name = decl.get("name") or generate_index_name(table, list(raw_columns))
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise fault(f"bad name {name!r}: letters, digits and _ only")
    if not name.startswith(INDEX_PREFIX) or len(name) > MAX_NAME_LENGTH:
        raise fault(f"bad name {name!r}: must start with {INDEX_PREFIX!r}, at most 64 characters")
    unique = decl.get("unique", False)
    if not isinstance(unique, bool):
        raise fault("'unique' must be True or False")
    where = _parse_where(fault, columns, decl.get("where"))
    return IndexSpec(name=name, table=table, columns=parsed, unique=unique, where=where)


def _parse_key(fault: Any, columns: Mapping[str, Column], col: Any) -> tuple[str, str | None]:
    direction = None
    if isinstance(col, (tuple, list)):
        if len(col) != 2 or not isinstance(col[1], str):
            raise fault(f"column {col!r} must be a name or (name, 'ASC'|'DESC')")
        col, direction = col[0], col[1].upper()
        if direction not in DIRECTIONS:
            raise fault(f"bad direction {col!r} {direction!r}; valid: ASC, DESC")
    if not isinstance(col, str) or col not in columns:
        raise fault(f"unknown column {col!r}; valid: {', '.join(columns)}")
    return col, direction


def _parse_where(
    fault: Any, columns: Mapping[str, Column], where: Any
) -> tuple[tuple[str, tuple[str | int, ...]], ...]:
    if where is None:
        return ()
    if not isinstance(where, Mapping) or not where:
        raise fault("'where' must be a dict {column: value or list of values}")
    terms = []
    for col, values in where.items():
        if not isinstance(col, str) or col not in columns:
            raise fault(f"unknown column {col!r} in 'where'; valid: {', '.join(columns)}")
        if values is NOT_NULL:
            terms.append((col, ()))
            continue
        values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
        if not values or any(isinstance(v, bool) or not isinstance(v, (str, int)) for v in values):
            raise fault(f"'where' values for {col!r} must be str or int constants")
        terms.append((col, values))
    return tuple(terms)
