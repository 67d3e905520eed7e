"""--database-url / COLLECTOR_DATABASE_URL on the command line, beside --db."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from collector.cli import main


@pytest.fixture(autouse=True)
def no_database_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLLECTOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("COLLECTOR_DB_PATH", raising=False)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def added_to(path: Path) -> int:
    result = invoke("--db", str(path), "jobs", "--json")
    assert result.exit_code == 0, result.output
    return len(json.loads(result.output))


def test_an_absolute_sqlite_url_is_the_database(tmp_path: Path) -> None:
    path = tmp_path / "by-url.db"
    result = invoke("--database-url", f"sqlite:///{path}", "add", "https://example.com/a")
    assert result.exit_code == 0, result.output
    assert path.exists()
    assert added_to(path) == 1


def test_a_relative_sqlite_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("--database-url", "sqlite:///sub/rel.db", "add", "https://example.com/a")
    assert result.exit_code == 0, result.output
    assert added_to(tmp_path / "sub" / "rel.db") == 1


def test_the_url_variable_wins_over_the_path_variable(tmp_path: Path) -> None:
    by_url, by_path = tmp_path / "url.db", tmp_path / "path.db"
    env = {"COLLECTOR_DATABASE_URL": f"sqlite:///{by_url}", "COLLECTOR_DB_PATH": str(by_path)}
    result = invoke("add", "https://example.com/a", env=env)
    assert result.exit_code == 0, result.output
    assert by_url.exists() and not by_path.exists()


def test_db_on_the_command_line_wins_over_the_url_variable(tmp_path: Path) -> None:
    by_url, by_db = tmp_path / "url.db", tmp_path / "db.db"
    env = {"COLLECTOR_DATABASE_URL": f"sqlite:///{by_url}"}
    result = invoke("--db", str(by_db), "add", "https://example.com/a", env=env)
    assert result.exit_code == 0, result.output
    assert by_db.exists() and not by_url.exists()


def test_db_and_database_url_together_are_refused(tmp_path: Path) -> None:
    result = invoke(
        "--db", str(tmp_path / "a.db"), "--database-url", f"sqlite:///{tmp_path}/b.db", "jobs"
    )
    assert result.exit_code == 2
    assert "give --database-url or --db, not both" in result.output
    assert not (tmp_path / "a.db").exists() and not (tmp_path / "b.db").exists()


@pytest.mark.parametrize("how", ["option", "env"])
def test_commands_work_on_postgresql(pg_schema_url: str, how: str) -> None:
    def run(*args: str) -> Any:
        if how == "option":
            return invoke("--database-url", pg_schema_url, *args)
        return invoke(*args, env={"COLLECTOR_DATABASE_URL": pg_schema_url})

    added = run("add", "https://example.com/on-postgresql")
    assert added.exit_code == 0, added.output
    listed = run("jobs")
    assert listed.exit_code == 0, listed.output
    assert "https://example.com/on-postgresql" in listed.output
    status = run("db", "status")
    assert status.exit_code == 0, status.output
    assert "Traceback" not in status.output


def test_a_postgresql_server_that_does_not_answer_is_one_line() -> None:
    url = "postgresql://postgres@127.0.0.1:1/collector?connect_timeout=2"
    result = invoke("--database-url", url, "jobs")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


def test_a_bad_url_is_refused_with_the_forms_to_use() -> None:
    result = invoke("--database-url", "collector.db", "jobs")
    assert result.exit_code == 1
    assert "sqlite:///relative/path.db or sqlite:////absolute/path.db" in result.output


def test_web_requests_on_postgresql_borrow_pooled_connections(pg_schema_url: str) -> None:
    """A server connection costs milliseconds to open: requests borrow one from the
    app's pool and give it back, so fifty requests open one connection, not fifty."""
    from collector.app import create_app
    from collector.config.database import APP_EXTENSION

    app = create_app({"TESTING": True, "DB_PATH": pg_schema_url})
    database = app.extensions[APP_EXTENSION]
    client = app.test_client()
    for _ in range(50):
        assert client.get("/api/jobs").status_code == 200
    stats = database._pool.get_stats()
    assert stats["connections_num"] == 1
    assert stats["requests_num"] >= 50
    database.dispose()
    assert database._pool is None
