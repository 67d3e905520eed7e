"""COLLECTOR_DATABASE_URL / --database-url: parsed in one place (collector.dialects.url)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector import dialects
from collector.config.database import DatabaseConfig
from collector.config.settings import Config
from collector.dialects import DatabaseURL, parse_database_url


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/collector.db", Path("data/collector.db")),
        ("sqlite:///collector.db", Path("collector.db")),
        ("sqlite:////var/lib/collector/c.db", Path("/var/lib/collector/c.db")),
        ("SQLite:///x.db", Path("x.db")),
        ("  sqlite:///x.db  ", Path("x.db")),
        ("sqlite:///with%20space.db", Path("with space.db")),
    ],
)
def test_sqlite_urls(url: str, path: Path) -> None:
    parsed = parse_database_url(url)
    assert (parsed.engine, parsed.path) == ("sqlite", path)
    assert parsed == DatabaseURL("sqlite", path, url.strip())


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user@db.example/collector",
        "postgres://localhost/collector",
        "postgresql://u:secret@127.0.0.1:5432/collector?sslmode=disable",
        "postgresql:///collector?host=/run/postgresql",
    ],
)
def test_postgresql_urls_name_a_server_database(url: str) -> None:
    parsed = parse_database_url(url)
    assert parsed == DatabaseURL("postgresql", None, url)
    engine, where = dialects.locate(url)
    assert (engine, where) == (dialects.POSTGRESQL, url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://localhost", "names no database"),
        ("postgresql://localhost/", "names no database"),
        ("postgresql://u:secret@localhost:99999/c", "not a valid PostgreSQL URL"),
    ],
)
def test_bad_postgresql_urls_say_why_without_the_password(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        parse_database_url(url)
    assert "secret" not in str(caught.value)


def test_a_password_is_hidden_where_a_database_is_named() -> None:
    url = "postgresql://collector:s3cret@db.example:5432/collector"
    db = DatabaseConfig(url)
    assert db.dialect is dialects.POSTGRESQL
    assert db.name == "postgresql://collector:***@db.example:5432/collector"
    assert "s3cret" not in repr(db)
    assert db.location == url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://localhost/collector",
        "mysql://localhost/collector",
    ],
)
def test_other_engines_are_refused_in_one_line(url: str) -> None:
    with pytest.raises(ValueError, match="is not available") as caught:
        parse_database_url(url)
    message = str(caught.value)
    assert "\n" not in message
    assert "sqlite://, postgresql://" in message  # says what is supported


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("data/collector.db", "not a database URL"),
        ("://x.db", "not a database URL"),
        ("sqlite:x.db", "not a database URL"),
        ("sqlite://host/x.db", "names a file, not a host"),
        ("sqlite:///", "names no database file"),
        ("sqlite:////", "names no database file"),
        ("sqlite:///data/", "names no database file"),
        ("sqlite:///x.db?mode=ro", "takes no options"),
        ("sqlite:///x.db#frag", "takes no options"),
    ],
)
def test_bad_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_database_url(url)


def test_unknown_engine_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"choose one of \['postgresql', 'sqlite'\]"):
        dialects.get_dialect("mysql")


def test_config_reads_the_url_over_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_DB_PATH", "from-path.db")
    monkeypatch.delenv("COLLECTOR_DATABASE_URL", raising=False)
    assert Path("from-path.db") == Config.DB_PATH
    assert Config.database_url() is None
    assert Config.dialect() is dialects.SQLITE

    monkeypatch.setenv("COLLECTOR_DATABASE_URL", "sqlite:////srv/from-url.db")
    assert Path("/srv/from-url.db") == Config.DB_PATH
    assert Config.dialect() is dialects.SQLITE


def test_config_names_the_variable_of_a_bad_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_DATABASE_URL", "mysql://localhost/collector")
    with pytest.raises(ValueError, match=r"^COLLECTOR_DATABASE_URL: .*not available"):
        Config.dialect()
    monkeypatch.setenv("COLLECTOR_DATABASE_URL", "postgresql://localhost/collector")
    assert Config.dialect() is dialects.POSTGRESQL
    assert Config.database() == "postgresql://localhost/collector"


def test_database_config_from_url(tmp_path: Path) -> None:
    db = DatabaseConfig.from_url(f"sqlite:///{tmp_path}/c.db")
    assert db.db_path == tmp_path / "c.db"
    assert db.dialect is dialects.SQLITE
