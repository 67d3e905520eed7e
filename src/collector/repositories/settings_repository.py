"""SettingsRepository: read and write key/value settings by primary key.

:func:`load_settings` reads them as the worker uses them: checked, with defaults.
"""

from __future__ import annotations

import logging
from pathlib import Path

from collector.config.database import DatabaseConfig
from collector.config.runtime import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_BACKOFF_SECONDS,
    RuntimeSettings,
    check_setting,
    default_min_free_space,
)
from collector.config.settings import Config
from collector.models.formats import DEFAULT_FORMAT
from collector.models.outbound import AllowedHosts
from collector.models.settings import Settings
from collector.models.values import to_db_timestamp, utcnow

from .base import Repository

logger = logging.getLogger(__name__)

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


def _checked(key: str, raw: str | None, default: str) -> str:
    """A stored value as its setting reads it; the default if missing or no longer valid."""
    if raw is None:
        return default
    try:
        return check_setting(key, raw)
    except ValueError as exc:
        logger.warning("ignoring stored setting %s (%s); using %s", key, exc, default)
        return default


def load_allowed_hosts(db: DatabaseConfig) -> AllowedHosts:
    """COLLECTOR_ALLOWED_HOSTS and the stored ``allowed_hosts`` setting, combined.

    What queueing a URL needs, read alone: one key, not every setting.
    """
    stored = SettingsRepository(db).get("allowed_hosts")
    return Config.allowed_hosts() | AllowedHosts.parse(_checked("allowed_hosts", stored, ""))


def load_settings(db: DatabaseConfig) -> RuntimeSettings:
    """The stored settings, with defaults (COLLECTOR_DOWNLOAD_DIR and
    COLLECTOR_MIN_FREE_SPACE among them) for missing ones.

    ``allowed_hosts`` is the union of COLLECTOR_ALLOWED_HOSTS and the stored setting.
    """
    stored = SettingsRepository(db).all()

    def read(key: str, default: str) -> str:
        return _checked(key, stored.get(key), default)

    return RuntimeSettings(
        download_dir=Path(read("download_dir", str(Config.DOWNLOAD_DIR.resolve()))),
        max_retries=int(read("max_retries", str(DEFAULT_MAX_RETRIES))),
        retry_backoff_seconds=float(
            read("retry_backoff_seconds", str(DEFAULT_RETRY_BACKOFF_SECONDS))
        ),
        allowed_hosts=Config.allowed_hosts() | AllowedHosts.parse(read("allowed_hosts", "")),
        min_free_space=int(read("min_free_space", default_min_free_space())),
        default_format=read("default_format", DEFAULT_FORMAT),
    )
