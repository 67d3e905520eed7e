"""What every repository shares: its database, its model, a few checked helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast

from collector.config.database import DatabaseConfig, get_db_config
from collector.models.base import BaseModel
from collector.schema.sql import column_list, placeholders, quote_identifier

M = TypeVar("M", bound=BaseModel)

MAX_LIMIT = 10_000


def check_limit(limit: Any, allow_none: bool = True) -> int | None:
    """A page size: a positive int up to MAX_LIMIT (or None where allowed)."""
    if limit is None and allow_none:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    return limit


def check_choice(what: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else ValueError listing them."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(choices)}")
    return value


class Repository(Generic[M]):
    """Base of the repositories: ``db`` defaults to the current app's or process's."""

    model: ClassVar[type[BaseModel]]

    def __init__(self, db: DatabaseConfig | None = None) -> None:
        self.db = db if db is not None else get_db_config()

    @classmethod
    def table(cls) -> str:
        return quote_identifier(cls.model.get_table_name())

    @classmethod
    def insert_sql(cls) -> str:
        names = cls.model.field_names()
        return (
            f"INSERT INTO {cls.table()} ({column_list(names)}) VALUES ({placeholders(len(names))})"
        )

    def _rows_to_models(self, rows: Sequence[Any]) -> list[M]:
        if not rows:
            return []
        model = cast(type[M], self.model)
        return model.from_rows(rows, rows[0].keys())

    def _one(self, rows: Sequence[Any]) -> M | None:
        return self._rows_to_models(rows[:1])[0] if rows else None

    def count(self) -> int:
        """Number of rows in the table."""
        rows = self.db.execute_query("SELECT COUNT(*) FROM " + self.table())
        return int(rows[0][0]) if rows else 0
