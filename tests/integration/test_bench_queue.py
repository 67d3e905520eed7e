"""bench queue: a tiny run, checked by its counts (not its timings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from collector.bench.queue import read_records
from collector.cli import main
from collector.config.database import DatabaseConfig


def test_a_tiny_queue_run_claims_each_job_once_and_finishes_them_all(tmp_path: Path) -> None:
    out = tmp_path / "queue.json"
    args = ["bench", "queue", "--workers", "2", "--seconds", "1", "--idle-samples", "3"]
    result = CliRunner().invoke(
        main, [*args, "--json", str(out), "--workdir", str(tmp_path / "run")]
    )

    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    records = read_records(tmp_path / "run")
    assert figures["queued"] > 3  # the idle jobs and at least one batch
    assert figures["job_runs"] == len(records) == figures["queued"]
    assert len({r.job_id for r in records}) == figures["queued"]
    assert figures["double_claims"] == 0
    assert figures["jobs_by_status"] == {"completed": figures["queued"]}
    assert figures["every_queued_job_completed"] is True
    assert figures["statistics_equal_group_by"] is True
    assert figures["integrity_check"] == "ok"
    assert figures["idle_claim_latency"]["samples"] == 3
    assert figures["worker_exit_codes"] == [0, 0]
    assert set(figures["runs_by_worker"]) <= {"worker-0", "worker-1"}
    assert "double claims 0" in result.output


def test_bench_queue_refuses_a_fleet_of_none() -> None:
    result = CliRunner().invoke(main, ["bench", "queue", "--workers", "0"])

    assert result.exit_code == 2
    assert "--workers" in result.output


@pytest.mark.parametrize("claim_batch", [1, 10])
def test_a_tiny_queue_run_on_postgresql_claims_each_job_once(
    tmp_path: Path, pg_url: str, claim_batch: int
) -> None:
    out = tmp_path / "queue.json"
    args = ["bench", "queue", "--workers", "2", "--seconds", "2", "--idle-samples", "3"]
    args += ["--claim-batch", str(claim_batch), "--database-url", pg_url]
    result = CliRunner().invoke(
        main, [*args, "--json", str(out), "--workdir", str(tmp_path / "run")]
    )

    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    records = read_records(tmp_path / "run")
    assert figures["engine"].startswith("PostgreSQL")
    assert figures["options"]["claim_batch"] == claim_batch
    assert figures["queued"] > 3
    assert figures["job_runs"] == len(records) == figures["queued"]
    assert figures["double_claims"] == 0
    assert figures["jobs_by_status"] == {"completed": figures["queued"]}
    assert figures["statistics_equal_group_by"] is True
    assert figures["worker_exit_codes"] == [0, 0]
    # The run's schema is gone; the database's own tables were never touched.
    db = DatabaseConfig(pg_url)
    try:
        left = db.execute_query(
            "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname LIKE ?",
            ("collector_queue_bench_%",),
        )
    finally:
        db.dispose()
    assert left == []
