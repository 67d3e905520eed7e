"""BaseModel: a table declared once, from which its SQL and (de)serialisation come."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from .fields import (
    COLUMN_TYPES,
    Column,
    IndexSpec,
    ModelDefinitionError,
    generate_index_name,
    parse_index,
)
from .quoting import IDENTIFIER, quote_identifier
from .values import from_db_timestamp, new_id, to_db_timestamp, utcnow

T = TypeVar("T", bound="BaseModel")
RAW_PREFIX = "_raw_"


class _LazyTimestamp:
    """A TIMESTAMP field read from the database, parsed on first access.

    A non-data descriptor: once parsed (or set), the value lives in the instance's
    __dict__ and this is never consulted again for that instance.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.raw = RAW_PREFIX + name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = from_db_timestamp(instance.__dict__.pop(self.raw, None))
        instance.__dict__[self.name] = value
        return value


class BaseModel:
    """Common fields (id, created_at, updated_at) and the table/index declarations.

    Subclasses set ``table_name``, ``columns`` (name -> :class:`Column`) and ``indexes``
    (the plan's dict format). Everything else is derived, and checked when the class
    is defined, so a bad declaration never reaches a database.
    """

    table_name: ClassVar[str] = ""
    primary_key: ClassVar[str] = "id"
    columns: ClassVar[dict[str, Column]] = {}
    indexes: ClassVar[list[dict[str, Any]]] = []
    # Columns whose per-value row counts are kept exact by triggers (schema/derived.py).
    counted_by: ClassVar[tuple[str, ...]] = ()
    # The table's storage settings, by name (PostgreSQL's storage parameters:
    # fillfactor, autovacuum_*; an engine without such settings, SQLite, ignores them).
    storage: ClassVar[dict[str, int | float]] = {}
    # Text columns searched by words (full text): each engine keeps its own structure
    # for them (SQLite: an FTS5 table kept by triggers; PostgreSQL: a GIN index over a
    # tsvector), created and checked by reconcile like every other index.
    search: ClassVar[tuple[str, ...]] = ()

    _fields: ClassVar[dict[str, Column]] = {}
    _index_specs: ClassVar[tuple[IndexSpec, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.get_table_name()
        if not IDENTIFIER.match(table):
            raise ModelDefinitionError(f"{cls.__name__}: bad table name {table!r}")
        cls._fields = cls._collect_fields()
        for name, column in cls._fields.items():
            if column.type == "TIMESTAMP":
                setattr(cls, name, _LazyTimestamp(name))
        specs: list[IndexSpec] = []
        for decl in cls.indexes:
            spec = parse_index(cls.__name__, table, cls._fields, decl)
            if any(s.name.lower() == spec.name.lower() for s in specs):
                raise ModelDefinitionError(f"{cls.__name__}: duplicate index name {spec.name!r}")
            specs.append(spec)
        cls._index_specs = tuple(specs)
        for column in cls.search:
            if column not in cls._fields or cls._fields[column].type != "TEXT":
                raise ModelDefinitionError(
                    f"{cls.__name__}: search names {column!r}, not a TEXT column; valid: "
                    f"{', '.join(n for n, c in cls._fields.items() if c.type == 'TEXT')}"
                )
        for column in cls.counted_by:
            if column not in cls._fields:
                raise ModelDefinitionError(
                    f"{cls.__name__}: counted_by names unknown column {column!r}; "
                    f"valid: {', '.join(cls._fields)}"
                )

    @classmethod
    def _collect_fields(cls) -> dict[str, Column]:
        declared = dict(cls.columns)
        for name, column in declared.items():
            if not isinstance(name, str) or not IDENTIFIER.match(name):
                raise ModelDefinitionError(f"{cls.__name__}: bad column name {name!r}")
            if not isinstance(column, Column):
                raise ModelDefinitionError(
                    f"{cls.__name__}: column {name!r} needs a Column with a type in {COLUMN_TYPES}"
                )
            problems = column.problems()
            if problems:
                raise ModelDefinitionError(
                    f"{cls.__name__}: column {name!r}: {'; '.join(problems)}"
                )
        fields: dict[str, Column] = {}
        if cls.primary_key == "id":
            fields["id"] = Column("TEXT", primary_key=True)
        elif cls.primary_key in declared:
            fields[cls.primary_key] = declared.pop(cls.primary_key)
        fields["created_at"] = Column("TIMESTAMP", nullable=False)
        fields["updated_at"] = Column("TIMESTAMP", nullable=False)
        for name, column in declared.items():
            if name in fields:
                raise ModelDefinitionError(f"{cls.__name__}: column {name!r} declared twice")
            fields[name] = column
        if cls.primary_key not in fields or not fields[cls.primary_key].primary_key:
            raise ModelDefinitionError(
                f"{cls.__name__}: primary key {cls.primary_key!r} is not a declared PRIMARY KEY"
            )
        return fields

    # -- instances ---------------------------------------------------------------

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self._fields)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unknown fields {sorted(unknown)}; "
                f"valid: {', '.join(self._fields)}"
            )
        now = utcnow()
        for name, column in self._fields.items():
            if name in kwargs:
                value = kwargs[name]
            elif name == "id" and self.primary_key == "id":
                value = new_id()
            elif name in ("created_at", "updated_at"):
                value = now
            else:
                value = column.default
            if column.type == "TIMESTAMP":
                value = from_db_timestamp(value)
            setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """Field values, datetimes as ISO 8601 text: ready for JSON."""
        result = {}
        for name in self._fields:
            value = getattr(self, name)
            result[name] = value.isoformat() if isinstance(value, datetime) else value
        return result

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        """Build an instance from a row or dict; keys that are not fields are ignored."""
        keys = data.keys() if hasattr(data, "keys") else data
        return cls(**{k: data[k] for k in keys if k in cls._fields})

    @classmethod
    def from_rows(cls: type[T], rows: Sequence[Sequence[Any]], names: Sequence[str]) -> list[T]:
        """Instances from stored rows whose columns are ``names`` (the fast path).

        Lists of thousands of rows are built here, so the per-row work is one dict:
        timestamps stay as stored text until first read (see _LazyTimestamp);
        unknown columns (a newer or older schema) are skipped, missing ones take
        their declared default.
        """
        fields = cls._fields
        keys = [
            (i, RAW_PREFIX + n if fields[n].type == "TIMESTAMP" else n)
            for i, n in enumerate(names)
            if n in fields
        ]
        missing = {n: c.default for n, c in fields.items() if n not in names}
        new = object.__new__
        result = []
        for row in rows:
            instance = new(cls)
            state = instance.__dict__
            if missing:
                state.update(missing)
            for i, key in keys:
                state[key] = row[i]
            result.append(instance)
        return result

    def to_row(self) -> tuple[Any, ...]:
        """Values in column order, as stored (timestamps as text)."""
        return tuple(
            to_db_timestamp(v) if isinstance(v, datetime) else v
            for v in (getattr(self, name) for name in self._fields)
        )

    def update_timestamp(self) -> None:
        self.updated_at = utcnow()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.primary_key}={getattr(self, self.primary_key)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseModel) or type(other) is not type(self):
            return NotImplemented
        return getattr(self, self.primary_key) == getattr(other, other.primary_key)

    def __hash__(self) -> int:
        return hash((type(self).__name__, getattr(self, self.primary_key)))

    # -- declarations and SQL ----------------------------------------------------

    @classmethod
    def get_table_name(cls) -> str:
        return cls.table_name or cls.__name__.lower() + "s"

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(cls._fields)

    @classmethod
    def field(cls, name: str) -> Column:
        return cls._fields[name]

    @classmethod
    def index_specs(cls) -> tuple[IndexSpec, ...]:
        return cls._index_specs

    @classmethod
    def index(cls, name: str) -> IndexSpec:
        for spec in cls._index_specs:
            if spec.name == name:
                return spec
        raise KeyError(f"{cls.__name__} declares no index {name!r}")

    @classmethod
    def get_create_table_sql(cls) -> str:
        body = ",\n    ".join(col.ddl(name) for name, col in cls._fields.items())
        return (
            f"CREATE TABLE IF NOT EXISTS {quote_identifier(cls.get_table_name())} (\n    {body}\n)"
        )

    @classmethod
    def get_indexes_sql(cls) -> list[str]:
        """CREATE INDEX IF NOT EXISTS statements for every declared index."""
        return [spec.create_sql() for spec in cls._index_specs]

    @classmethod
    def _generate_index_name(cls, columns: list[Any]) -> str:
        return generate_index_name(cls.get_table_name(), columns)
