"""Settings: key/value pairs the user can change at run time."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from .base import BaseModel
from .fields import Column


class Settings(BaseModel):
    """One setting. The table is tiny and always read by its primary key."""

    table_name = "settings"
    primary_key = "key"

    columns: ClassVar[dict[str, Column]] = {
        "key": Column("TEXT", primary_key=True),
        "value": Column("TEXT"),
    }

    # No indexes needed: every query reads by the primary key.
    indexes: ClassVar[list[dict[str, Any]]] = []

    key: str
    value: str | None
    created_at: datetime
    updated_at: datetime
