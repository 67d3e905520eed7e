"""Every page and API call runs indexed, paginated queries; the benchmark runs end to end.

Plans are read on the session's large database (20,000 jobs, with statistics), from
the statements each request actually ran. No timing is asserted here.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from collector.app import create_app
from collector.config.database import APP_EXTENSION, DatabaseConfig
from collector.schema.plans import explain, format_plan, plan_problems
from collector.web import benchmark

DERIVED = frozenset({"jobs_status_counts", "files_file_type_counts", "files_orphan_job_id"})


@pytest.fixture(scope="module")
def large_app(large_db: DatabaseConfig):
    """The app on the large database; the secret key given, so nothing is written."""
    return create_app({"TESTING": True, "DB_PATH": str(large_db.db_path), "SECRET_KEY": "x"})


def test_every_route_runs_only_indexed_queries(large_app, large_db: DatabaseConfig) -> None:
    app_db: DatabaseConfig = large_app.extensions[APP_EXTENSION]
    client = large_app.test_client()
    checked = 0
    for path in benchmark.routes(large_app):
        with app_db.capture() as statements:
            response = client.get(path)
        assert response.status_code == 200, path
        assert statements, path
        for statement in statements:
            assert not re.search(r"COUNT\(", statement.sql, re.I), (path, statement.sql)
            if statement.sql.strip().upper() == "SELECT 1":
                continue
            steps = explain(large_db.connection(), statement.sql, statement.params)
            problems = plan_problems(steps, None, scans_ok=DERIVED)
            assert problems == [], f"{path}: {statement.sql}\n{format_plan(steps)}"
            checked += 1
    assert checked >= 20


def test_lists_are_limited(large_app, large_db: DatabaseConfig) -> None:
    """Each list query carries a LIMIT: no request reads a whole status or table."""
    app_db: DatabaseConfig = large_app.extensions[APP_EXTENSION]
    client = large_app.test_client()
    for path in ("/", "/jobs", "/files", "/api/jobs?status=completed", "/api/files"):
        with app_db.capture() as statements:
            client.get(path)
        lists = [s for s in statements if "ORDER BY created_at DESC" in s.sql]
        assert lists, path
        assert all(s.sql.rstrip().endswith("LIMIT ?") for s in lists), path


def test_benchmark_builds_and_times_a_small_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bench.db"
    with caplog.at_level(logging.INFO, logger="collector.web.benchmark"):
        code = benchmark.main(["--db", str(path), "--jobs", "300"])

    lines = [r.getMessage() for r in caplog.records if r.name == "collector.web.benchmark"]
    assert any(line.endswith(": 300 jobs") for line in lines)
    timed = [line for line in lines if re.match(r"\s*\d+\.\d\d ms  200  /", line)]
    assert len(timed) == 15
    # The exit code follows the figures it printed (a busy machine may miss the target).
    headline = {line.split()[-1]: float(line.split()[0]) for line in timed}
    slow = [route for route in ("/", "/api/jobs") if headline[route] > benchmark.TARGET_MS]
    assert code == (1 if slow else 0)
    assert any(line.startswith("over the") for line in lines) == bool(slow)
    assert any(line.endswith("  /") for line in timed)
    assert any(line.endswith("  /api/jobs") for line in timed)
