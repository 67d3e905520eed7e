"""SettingsRepository: read and write key/value settings by primary key."""

from __future__ import annotations

from collector.models.settings import Settings
from collector.models.values import to_db_timestamp, utcnow

from .base import Repository

SQL_GET = "SELECT * FROM settings WHERE key = ?"
SQL_ALL = "SELECT * FROM settings ORDER BY key"
SQL_SET = (
    "INSERT INTO settings (key, value, created_at, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
SQL_DELETE = "DELETE FROM settings WHERE key = ?"


class SettingsRepository(Repository[Settings]):
    """Settings as plain strings."""

    model = Settings

    def get(self, key: str, default: str | None = None) -> str | None:
        rows = self.db.execute_query(SQL_GET, (key,))
        return rows[0]["value"] if rows else default

    def set(self, key: str, value: str | None) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError("a setting's key must be a non-empty string")
        now = to_db_timestamp(utcnow())
        self.db.execute_update(SQL_SET, (key, None if value is None else str(value), now, now))

    def delete(self, key: str) -> bool:
        return bool(self.db.execute_update(SQL_DELETE, (key,)))

    def all(self) -> dict[str, str | None]:
        return {row["key"]: row["value"] for row in self.db.execute_query(SQL_ALL)}
