"""bench load and bench faults: small runs of each, checked by their counts (not timings)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from collector.bench.faults import upgrade_kill, worker_kill
from collector.bench.load import LoadOptions, run_load
from collector.cli import main


def test_a_short_load_run_loses_nothing(tmp_path: Path) -> None:
    options = LoadOptions(seconds=3, workers=1, writers=1, readers=2, write_rate=10)
    result = run_load(tmp_path, options)

    writes, reads = result["writes"], result["reads"]
    assert writes["requests"] >= 10
    assert writes["statuses"] == {"201": writes["requests"]}
    assert result["acknowledged_jobs"] == writes["requests"]
    assert reads["requests"] > 0
    assert set(reads["statuses"]) == {"200"}
    assert writes["no_answer"] == reads["no_answer"] == 0
    assert result["lost_jobs"] == 0
    assert result["left_running"] == 0
    assert sum(result["jobs_by_status"].values()) == result["acknowledged_jobs"]
    assert result["jobs_by_status"].get("completed", 0) >= 1
    assert result["files"] >= result["jobs_by_status"]["completed"]
    assert result["statistics_equal_group_by"] is True
    assert result["integrity_check"] == "ok"
    assert result["clips_fetched_more_than_once"] == 0
    assert result["database_is_locked_logged"] == 0
    assert result["tracebacks_logged"] == 0
    assert set(result["exit_codes"]) == {"serve", "worker-0"}


def test_a_killed_worker_loses_no_job(tmp_path: Path) -> None:
    result = worker_kill(tmp_path, jobs=3, lease=1.0)

    assert result["running_when_killed"] == 1
    assert result["all_completed"] is True
    assert result["jobs_by_status"] == {"completed": 3}
    assert result["lost_jobs"] == 0
    assert result["jobs_retried_after_the_kill"] == 1


def test_an_upgrade_killed_anywhere_leaves_a_whole_database(tmp_path: Path) -> None:
    result = upgrade_kill(tmp_path, jobs=5_000, kills=2)

    assert result["first_upgrade_exit"] == 0
    assert [kill["integrity_check"] for kill in result["kills"]] == ["ok", "ok"]
    assert all(kill["rows_equal"] for kill in result["kills"])
    assert result["final_upgrade_exit"] == 0
    assert result["indexes_not_ok"] == []
    assert result["rows_equal_at_end"] is True
    assert result["integrity_at_end"] == "ok"


def test_an_unknown_fault_scenario_names_the_known_ones() -> None:
    result = CliRunner().invoke(main, ["bench", "faults", "nope"])

    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.output
    assert "worker-kill" in result.output
