"""The Flask app: schema on start, per-app database config, teardown, the JSON routes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from flask import Flask, has_app_context

from collector.app import create_app
from collector.config.database import APP_EXTENSION, DatabaseConfig, get_db, get_db_config
from collector.models import ALL_MODELS, STATUSES
from collector.repositories import JobRepository
from tests.conftest import index_names, reading, table_names
from tests.legacy import create_legacy_database

DECLARED = {spec.name for model in ALL_MODELS for spec in model.index_specs()}


def make_app(path: Path) -> Flask:
    return create_app({"TESTING": True, "DB_PATH": str(path)})


# -- start-up -----------------------------------------------------------------------------


def test_create_app_initialises_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    assert not path.exists()

    make_app(path)

    assert {"jobs", "files", "settings"} <= table_names(path)
    assert index_names(path) >= DECLARED
    with reading(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert not has_app_context()  # create_app leaves no context pushed


def test_create_app_upgrades_a_legacy_database(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    create_legacy_database(path)
    with reading(path) as conn:
        before = [tuple(r) for r in conn.execute("SELECT * FROM jobs ORDER BY rowid")]

    app = make_app(path)

    assert index_names(path) >= DECLARED
    with reading(path) as conn:
        after = [tuple(r) for r in conn.execute("SELECT * FROM jobs ORDER BY rowid")]
    # Legacy columns unchanged; the queue's three, the media's six and the collection's
    # five (identity, entries, parent, subscription, removed_at) are appended as NULL.
    assert [row[: len(before[0])] for row in after] == before
    assert {row[len(before[0]) :] for row in after} == {(None,) * 14}
    stats = app.test_client().get("/api/stats").get_json()
    assert stats["completed"] == 2
    assert sum(stats.values()) == len(before)


def test_create_app_twice_on_one_database(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    make_app(path)
    with reading(path) as conn:
        schema = conn.execute("SELECT * FROM sqlite_master ORDER BY name").fetchall()
        schema = [tuple(r) for r in schema]
    make_app(path)
    with reading(path) as conn:
        again = [tuple(r) for r in conn.execute("SELECT * FROM sqlite_master ORDER BY name")]
    assert again == schema


# -- get_db_config / get_db ---------------------------------------------------------------


def test_get_db_config_in_app_context_is_the_apps(app: Flask, db_path: Path) -> None:
    config = get_db_config()
    assert isinstance(config, DatabaseConfig)
    assert config is app.extensions[APP_EXTENSION]
    assert config.db_path == db_path
    assert JobRepository().db is config


def test_each_app_has_its_own_database(tmp_path: Path) -> None:
    first, second = make_app(tmp_path / "one.db"), make_app(tmp_path / "two.db")
    with first.app_context():
        JobRepository().create_job("https://e.com/first", "other")
        assert get_db_config().db_path == tmp_path / "one.db"
    with second.app_context():
        assert get_db_config().db_path == tmp_path / "two.db"
        assert JobRepository().count() == 0
    assert first.test_client().get("/api/stats").get_json()["pending"] == 1
    assert second.test_client().get("/api/stats").get_json()["pending"] == 0


def test_get_db_config_outside_app_context_follows_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not has_app_context()
    path = tmp_path / "outside.db"
    monkeypatch.setenv("COLLECTOR_DB_PATH", str(path))

    config = get_db_config()

    assert config.db_path == path.resolve()
    assert get_db_config() is config  # one config per path in the process
    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("COLLECTOR_DB_PATH", str(other))
    assert get_db_config().db_path == other.resolve()
    assert get_db_config() is not config


def test_get_db_config_outside_app_context_ignores_apps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(tmp_path / "app.db")
    env_path = tmp_path / "env.db"
    monkeypatch.setenv("COLLECTOR_DB_PATH", str(env_path))
    assert get_db_config().db_path == env_path.resolve()
    with app.app_context():
        assert get_db_config().db_path == tmp_path / "app.db"


def test_get_db_returns_this_threads_connection(app: Flask, db_path: Path) -> None:
    conn = get_db()
    assert isinstance(conn, sqlite3.Connection)
    assert conn is get_db()
    assert conn is get_db_config().connection()
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_app_context_teardown_closes_the_connection(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app.db")
    with app.app_context():
        conn = get_db()
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")
    with app.app_context():
        fresh = get_db()
        assert fresh is not conn
        assert fresh.execute("SELECT 1").fetchone()[0] == 1


def test_request_teardown_closes_the_connection(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app.db")
    used: list[sqlite3.Connection] = []

    @app.get("/probe")
    def probe() -> dict[str, int]:
        used.append(get_db())
        return {"jobs": used[-1].execute("SELECT COUNT(*) FROM jobs").fetchone()[0]}

    client = app.test_client()
    first = client.get("/probe")
    second = client.get("/probe")

    assert first.status_code == second.status_code == 200
    assert first.get_json() == {"jobs": 0}
    assert len(used) == 2
    assert used[0] is not used[1]
    for conn in used:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")


# -- routes -------------------------------------------------------------------------------


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {"status": "ok"}


def test_stats_has_all_six_statuses(client) -> None:
    response = client.get("/api/stats")
    assert response.status_code == 200
    assert response.get_json() == dict.fromkeys(STATUSES, 0)
    assert len(STATUSES) == 6


def test_stats_counts_jobs(app: Flask, client) -> None:
    jobs = JobRepository()
    created = [jobs.create_job(f"https://e.com/{n}", "youtube") for n in range(5)]
    jobs.complete_job(created[0].id)
    jobs.complete_job(created[1].id)
    jobs.fail_job(created[2].id, "gone")
    jobs.update_job_status(created[3].id, "cancelling")

    body = client.get("/api/stats").get_json()

    assert set(body) == set(STATUSES)
    assert body == {
        "pending": 1,
        "running": 0,
        "cancelling": 1,
        "completed": 2,
        "failed": 1,
        "cancelled": 0,
    }


def test_unknown_route_is_json_404(client) -> None:
    response = client.get("/no/such/route")
    assert response.status_code == 404
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)
    assert body["error"]


def test_wrong_method_is_json_405(client) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.is_json
    assert "error" in response.get_json()
