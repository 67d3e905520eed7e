"""A fresh PostgreSQL database per test session, on the server the tests are pointed at.

``COLLECTOR_TEST_DATABASE_URL`` names a database on that server to connect to for
administration (default: the local server as user postgres). The session creates its
own database there (``collector_test_<pid>_<random>``), hands its URL to the tests
(``pg_url``) and drops it at the end, whatever the tests left connected to it.

Without a reachable server the tests that need one skip, saying why; under CI
(``CI=true``) they fail instead, so a broken service cannot pass as skipped tests.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("COLLECTOR_TEST_DATABASE_URL") or DEFAULT_ADMIN_URL


def database_url(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead (host, user and options kept)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"COLLECTOR_TEST_DATABASE_URL must be a postgresql:// URL, not {url!r}")
    return urlunsplit(parts._replace(path="/" + quote(name)))


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server for these tests: {reason}")


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The administration URL, once the server is known to answer."""
    url = admin_url()
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, ValueError) as exc:
        unavailable(f"{url}: {str(exc).strip()}")
    return url


@pytest.fixture(scope="session")
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """The URL of a database created for this session, dropped at its end."""
    name = f"collector_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(pg_admin_url, name)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def schema_url(url: str, schema: str) -> str:
    """``url`` with every session's search_path set to ``schema`` (libpq's options)."""
    parts = urlsplit(url)
    option = quote(f"-csearch_path={schema}", safe="")
    query = "&".join(filter(None, [parts.query, f"options={option}"]))
    return urlunsplit(parts._replace(query=query))


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A URL of the session's database whose sessions work in a schema of this test's
    own (created empty, dropped with everything in it at the end): a fresh database
    per test at the cost of one CREATE SCHEMA."""
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema_url(pg_url, schema)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state = 'idle in transaction'"
            )
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


PG_LARGE_JOBS = 50_000
PG_LARGE_SCHEMA = "large_db"


@pytest.fixture(scope="session")
def pg_large_db(pg_url: str) -> Iterator[Any]:
    """``large_db``'s twin on PostgreSQL: 50,000 jobs (realistic mix, seed 1) and their
    files in a schema of their own, loaded with COPY before the indexes are built, then
    ANALYZEd: large enough for the planner to prefer the indexes. Read-only."""
    from collector.bench.dataset import write_dataset
    from collector.config.database import DatabaseConfig
    from collector.models import ALL_MODELS
    from collector.schema.reconcile import reconcile

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(PG_LARGE_SCHEMA)))
    config = DatabaseConfig(schema_url(pg_url, PG_LARGE_SCHEMA))
    reconcile(config, ALL_MODELS, indexes=False)
    write_dataset(config, PG_LARGE_JOBS, files_per_job=3, mix="realistic", seed=1)
    config.initialize_schema()
    config.connection().execute("ANALYZE")
    yield config
    config.dispose()
