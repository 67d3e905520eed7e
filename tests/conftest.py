"""Shared fixtures: each test its own database; one large database per session."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from collector.app import create_app
from collector.bench.dataset import write_dataset
from collector.config.database import DatabaseConfig
from collector.dialects import Connection
from collector.models.base import BaseModel
from collector.models.values import from_db_timestamp
from collector.repositories import FileRepository, JobRepository, SettingsRepository

from .legacy import create_legacy_database

# The queue and worker tests' fixtures (media server, download folder, workers), and a
# PostgreSQL database per session (pg_url).
pytest_plugins = ["tests.worker_fixtures", "tests.pg_fixtures"]

LARGE_JOBS = 20_000

# The tests download kilobytes: they must not depend on how much the machine running
# them has free (the default minimum is 1 GiB, more than a small CI disk may hold).
# Workers started in this process or as subprocesses read it; the tests of the
# free-space check set min_free_space themselves.
os.environ.setdefault("COLLECTOR_MIN_FREE_SPACE", "0")


ENGINES = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_engines: run the test on SQLite and on PostgreSQL (fixture engine)"
    )
    config.addinivalue_line(
        "markers", "sqlite_only: a test of a both_engines module that looks behind SQLite's back"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``engine`` is "sqlite", and also "postgresql" for a test marked both_engines."""
    if "engine" not in metafunc.fixturenames:
        return
    node = metafunc.definition
    both = node.get_closest_marker("both_engines") and not node.get_closest_marker("sqlite_only")
    metafunc.parametrize("engine", ENGINES if both else ENGINES[:1], scope="function")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "collector.db"


@pytest.fixture
def database(engine: str, db_path: Path, request: pytest.FixtureRequest) -> str:
    """Where this test's database is: an SQLite file, or a PostgreSQL URL whose sessions
    work in a schema of this test's own."""
    if engine == "postgresql":
        return request.getfixturevalue("pg_schema_url")
    return str(db_path)


def with_schema(location: str | Path) -> Iterator[DatabaseConfig]:
    """The database at ``location`` with the schema in place, disposed of afterwards."""
    config = DatabaseConfig(location)
    config.initialize_schema()
    yield config
    config.dispose()


@pytest.fixture
def db(database: str) -> Iterator[DatabaseConfig]:
    """A fresh database with the schema in place, on each engine the test runs on."""
    yield from with_schema(database)


@pytest.fixture
def pg_db(pg_schema_url: str) -> Iterator[DatabaseConfig]:
    """A PostgreSQL database (a schema of this test's own) with the schema in place."""
    yield from with_schema(pg_schema_url)


@pytest.fixture
def jobs(db: DatabaseConfig) -> JobRepository:
    return JobRepository(db)


@pytest.fixture
def files(db: DatabaseConfig) -> FileRepository:
    return FileRepository(db)


@pytest.fixture
def settings(db: DatabaseConfig) -> SettingsRepository:
    return SettingsRepository(db)


@pytest.fixture
def app(db_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The Flask app on its own database (the plan's tests take ``app``)."""
    monkeypatch.setenv("COLLECTOR_DB_PATH", str(db_path))
    application = create_app({"TESTING": True, "DB_PATH": str(db_path)})
    with application.app_context():
        yield application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def large_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseConfig]:
    """20,000 jobs (realistic mix) and their files, with statistics. Read-only."""
    config = DatabaseConfig(dataset_database(tmp_path_factory.mktemp("large") / "large.db", 1))
    yield config
    config.close()


@pytest.fixture
def legacy_db_path(tmp_path: Path) -> Path:
    """A database as the plan's pre-index code left it (see tests/legacy.py)."""
    path = tmp_path / "legacy.db"
    create_legacy_database(path)
    return path


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, for looking behind the application's back."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    return conn


@contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection (raw), closed when the block ends."""
    conn = raw(path)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def beside(db: DatabaseConfig) -> Iterator[Connection]:
    """A second connection to ``db``, of its own engine, opened beside the application's
    (autocommit, rows readable by name, ``?`` placeholders on both engines): for looking
    behind the application's back on SQLite and on PostgreSQL alike. Closed at the end."""
    conn = db.dialect.open(db.location)
    try:
        yield conn
    finally:
        conn.close()


def as_stored(model: type[BaseModel], names: Sequence[str], row: Sequence[Any]) -> tuple:
    """``row`` (values of ``model``'s columns ``names``) with its timestamps as aware
    datetimes: SQLite stores them as text, PostgreSQL as timestamptz."""
    return tuple(
        from_db_timestamp(value) if model.field(name).type == "TIMESTAMP" else value
        for name, value in zip(names, row, strict=True)
    )


def schema_rows(path: Path) -> list[tuple]:
    """Every schema object (type, name, table, root page, SQL), in a stable order."""
    with reading(path) as conn:
        rows = conn.execute(
            "SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    return [tuple(row) for row in rows]


def index_names(path: Path) -> set[str]:
    with reading(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return {row[0] for row in rows}


def table_names(path: Path) -> set[str]:
    """The tables, without SQLite's own (sqlite_stat1, sqlite_sequence)."""
    with reading(path) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    return {row[0] for row in rows}


def copy_database(source: Path, target: Path) -> Path:
    """A consistent copy of ``source`` at ``target`` (SQLite's online backup)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


def dataset_database(path: Path, seed: int, jobs: int = LARGE_JOBS, analyze: bool = True) -> Path:
    """A database built empty, then filled with a realistic dataset; ANALYZEd if asked."""
    config = DatabaseConfig(path)
    config.initialize_schema()
    write_dataset(config, jobs, files_per_job=3, mix="realistic", seed=seed)
    if analyze:
        config.connection().execute("ANALYZE")
    config.close()
    return path
