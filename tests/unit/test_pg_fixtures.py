"""The PostgreSQL session fixture's rules: skip locally, fail under CI; URLs kept intact."""

from __future__ import annotations

import pytest

from ..pg_fixtures import DEFAULT_ADMIN_URL, admin_url, database_url, unavailable


def test_without_a_server_tests_skip_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL server for these tests: gone"):
        unavailable("gone")


def test_under_ci_a_missing_server_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI=true: gone"):
        unavailable("gone")


def test_the_admin_url_defaults_to_the_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLLECTOR_TEST_DATABASE_URL", raising=False)
    assert admin_url() == DEFAULT_ADMIN_URL == "postgresql://postgres@127.0.0.1:5432/postgres"
    monkeypatch.setenv("COLLECTOR_TEST_DATABASE_URL", "postgresql://u@db:6543/admin")
    assert admin_url() == "postgresql://u@db:6543/admin"


def test_database_url_swaps_only_the_database() -> None:
    assert (
        database_url("postgresql://u:p@h:6543/postgres?sslmode=disable", "collector_test_1_ab")
        == "postgresql://u:p@h:6543/collector_test_1_ab?sslmode=disable"
    )
    assert database_url("postgres://h", "x") == "postgres://h/x"
    with pytest.raises(ValueError, match="must be a postgresql:// URL"):
        database_url("sqlite:///x.db", "x")
