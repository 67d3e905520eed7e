"""``COLLECTOR_DATABASE_URL`` / ``--database-url``: which engine, and where.

- ``sqlite:///relative/path.db``: a path relative to the working directory;
- ``sqlite:////absolute/path.db``: an absolute path (the fourth slash is its root);
- ``postgresql://user:password@host:port/database?option=value`` (or ``postgres://``):
  a PostgreSQL database, in libpq's URL form, handed to psycopg as given.

Any other scheme is refused with one line naming the ones there are.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

SCHEMES = ("sqlite", "postgresql")
POSTGRESQL_SCHEMES = ("postgresql", "postgres")


class DatabaseURL(NamedTuple):
    engine: str  # a dialect's name: "sqlite" or "postgresql"
    path: Path | None  # an SQLite database's file; None for a server's database
    url: str = ""  # the URL as given (a server's database is reached through it)


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
    if scheme in POSTGRESQL_SCHEMES:
        return _postgresql(text)
    if scheme not in SCHEMES:
        engine = scheme.split("+")[0]
        raise ValueError(
            f"the database engine {engine!r} is not available; "
            f"use one of {', '.join(s + '://' for s in SCHEMES)}"
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
    return DatabaseURL(scheme, Path(path), text)


def _postgresql(text: str) -> DatabaseURL:
    """A ``postgresql://`` URL: a host or a socket (``?host=/run/postgresql``) and a
    database name are all it needs; libpq reads the rest when it connects."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  # urlsplit checks the port only when it is read
    except ValueError as exc:
        raise ValueError(f"{redact(text)!r} is not a valid PostgreSQL URL: {exc}") from None
    if not parts.path.strip("/"):
        raise ValueError(
            f"{redact(text)!r} names no database; use postgresql://user@host:5432/collector"
        )
    return DatabaseURL("postgresql", None, text)


def redact(url: str) -> str:
    """``url`` with its password (if any) shown as ``***``: for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def with_search_path(url: str, schema: str) -> str:
    """A ``postgresql://`` URL whose sessions work in ``schema`` (libpq's ``options``
    gains ``-csearch_path=schema``; options already given are kept)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    given = [value for key, value in query if key == "options"]
    options = " ".join([*given, f"-csearch_path={schema}"])
    query = [(key, value) for key, value in query if key != "options"] + [("options", options)]
    return parts._replace(query=urlencode(query, quote_via=quote)).geturl()
