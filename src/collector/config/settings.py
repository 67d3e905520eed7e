"""Config: where collector keeps things, read from the environment when asked."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from collector import dialects
from collector.dialects import DatabaseURL, Dialect
from collector.models.outbound import AllowedHosts

DEFAULT_DATA_DIR = Path("data")


class _EnvPath:
    """A class attribute that reads an environment variable each time it is read."""

    def __init__(self, env: str, default: Path) -> None:
        self.env = env
        self.default = default

    def __get__(self, instance: object, owner: type) -> Path:
        value = os.environ.get(self.env)
        return Path(value) if value else self.default


class _DatabasePath:
    """The database file: ``COLLECTOR_DATABASE_URL``'s path when set, else ``COLLECTOR_DB_PATH``."""

    def __init__(self, default: Path) -> None:
        self.default = default

    def __get__(self, instance: object, owner: type) -> Path:
        url = Config.database_url()
        if url is not None and url.path is not None:
            return url.path
        value = os.environ.get("COLLECTOR_DB_PATH")
        return Path(value) if value else self.default


class Config:
    """Paths collector uses. Environment variables win over the defaults.

    - ``COLLECTOR_DATABASE_URL``: the database as a URL (``sqlite:///data/collector.db``,
      ``postgresql://user@host/collector``); when set it wins over ``COLLECTOR_DB_PATH``.
    - ``COLLECTOR_DB_PATH``: the SQLite database (default ``./data/collector.db``).
    - ``COLLECTOR_DOWNLOAD_DIR``: where downloads land (default ``./data/downloads``).
    - ``COLLECTOR_ALLOWED_HOSTS``: internal hosts downloads may reach (default none).
    - ``COLLECTOR_HOST_NAME``: this machine's name on file rows (default its host name).
    """

    DB_PATH = _DatabasePath(DEFAULT_DATA_DIR / "collector.db")
    # The plan's name for the same path.
    SCRAPER_DB_PATH = _DatabasePath(DEFAULT_DATA_DIR / "collector.db")
    DOWNLOAD_DIR = _EnvPath("COLLECTOR_DOWNLOAD_DIR", DEFAULT_DATA_DIR / "downloads")

    MAX_BUSY_TIMEOUT_MS = 600_000
    # Longer than one step of an upgrade (one index built on a million-job database
    # took about 8 s on a loaded two-core machine), so writers wait, not fail.
    DEFAULT_BUSY_TIMEOUT_MS = 30_000

    @staticmethod
    def database_url() -> DatabaseURL | None:
        """``COLLECTOR_DATABASE_URL`` parsed, None when unset; ValueError naming the variable."""
        raw = os.environ.get("COLLECTOR_DATABASE_URL", "").strip()
        if not raw:
            return None
        try:
            return dialects.parse_database_url(raw)
        except ValueError as exc:
            raise ValueError(f"COLLECTOR_DATABASE_URL: {exc}") from None

    @staticmethod
    def database() -> str | Path:
        """The configured database: ``COLLECTOR_DATABASE_URL`` for a server database
        (``postgresql://...``), else the SQLite file (DB_PATH)."""
        url = Config.database_url()
        if url is not None and url.path is None:
            return url.url
        return Config.DB_PATH

    @staticmethod
    def dialect() -> Dialect:
        """The configured engine's dialect (SQLite without a URL)."""
        url = Config.database_url()
        return dialects.DEFAULT if url is None else dialects.get_dialect(url.engine)

    @staticmethod
    def host_name() -> str:
        """``COLLECTOR_HOST_NAME``, else the machine's name: recorded with every file a
        worker writes, so a fleet's dashboard says where each file is."""
        return os.environ.get("COLLECTOR_HOST_NAME", "").strip() or socket.gethostname()

    @staticmethod
    def busy_timeout_ms() -> int:
        """``COLLECTOR_BUSY_TIMEOUT_MS`` (default 30000): how long a writer waits for a lock."""
        raw = os.environ.get("COLLECTOR_BUSY_TIMEOUT_MS", str(Config.DEFAULT_BUSY_TIMEOUT_MS))
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"COLLECTOR_BUSY_TIMEOUT_MS must be an integer, not {raw!r}") from None
        if not 0 <= value <= 600_000:
            raise ValueError("COLLECTOR_BUSY_TIMEOUT_MS must be between 0 and 600000")
        return value

    @staticmethod
    def allowed_hosts() -> AllowedHosts:
        """``COLLECTOR_ALLOWED_HOSTS``: names, addresses and networks, comma-separated.

        An invalid entry is a ValueError naming the variable: an operator's typo must
        stop the start, not silently allow nothing (or more than meant).
        """
        try:
            return AllowedHosts.parse(os.environ.get("COLLECTOR_ALLOWED_HOSTS", ""))
        except ValueError as exc:
            raise ValueError(f"COLLECTOR_ALLOWED_HOSTS: {exc}") from None
