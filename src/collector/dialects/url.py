"""``COLLECTOR_DATABASE_URL`` / ``--database-url``: which engine, and where.

- ``sqlite:///relative/path.db``: a path relative to the working directory;
- ``sqlite:////absolute/path.db``: an absolute path (the fourth slash is its root).

Any other scheme is refused with one line: only SQLite is available in this version.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

SCHEMES = ("sqlite",)


class DatabaseURL(NamedTuple):
    engine: str  # a dialect's name: "sqlite"
    path: Path


def parse_database_url(url: str) -> DatabaseURL:
    """Parse a database URL; ValueError with the accepted forms if it is not one."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("the database URL is empty; use sqlite:///path/to/collector.db")
    text = url.strip()
    scheme, sep, _ = text.partition("://")
    if not sep or not scheme:
        raise ValueError(
            f"{text!r} is not a database URL; use sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db"
        )
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        engine = scheme.split("+")[0]
        raise ValueError(
            f"the database engine {engine!r} is not available yet; "
            f"this version supports {', '.join(s + '://' for s in SCHEMES)} only"
        )
    parts = urlsplit(text)
    if parts.netloc:
        raise ValueError(
            f"{text!r}: an SQLite URL names a file, not a host; "
            "use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{text!r}: an SQLite URL takes no options (?...) or fragment (#...)")
    # urlsplit keeps the path's leading slash: "/rel.db" is relative, "//abs.db" absolute.
    path = unquote(parts.path)[1:]
    if not path or path.endswith("/"):
        raise ValueError(f"{text!r} names no database file; use sqlite:///path/to/collector.db")
    return DatabaseURL(scheme, Path(path))
