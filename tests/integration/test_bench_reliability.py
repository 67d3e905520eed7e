"""bench load and bench faults: small runs of each, checked by their counts (not timings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from collector.bench.faults import upgrade_kill, worker_kill
from collector.bench.load import LoadOptions, run_load
from collector.bench.storage_faults import damaged, database_full, downloads_full
from collector.cli import main


@pytest.mark.both_engines
def test_a_short_load_run_loses_nothing(tmp_path: Path, engine: str, database: str) -> None:
    """The fleet (serve and a worker, separate processes) on a new database of each
    engine: the SQLite run makes its own file, the PostgreSQL run gets a test schema."""
    options = LoadOptions(seconds=3, workers=1, writers=1, readers=2, write_rate=10)
    result = run_load(tmp_path, options, database_url=database if engine != "sqlite" else None)

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
    if engine == "sqlite":
        assert result["integrity_check"] == "ok"
    else:
        assert result["integrity_check"].startswith("not run: ")
        assert result["engine"].startswith("PostgreSQL")
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
    assert len(result["kills"]) == 2
    assert [kill["integrity_check"] for kill in result["kills"]] == ["ok", "ok"]
    assert result["integrity_ok_after_every_kill"] is True
    assert result["rows_equal_after_every_kill"] is True
    assert result["upgrade_finished_after_every_kill"] is True
    assert [kill["next_upgrade_exit"] for kill in result["kills"]] == [0, 0]
    assert all(kill["indexes_not_ok_after_it"] == [] for kill in result["kills"])


def test_an_unknown_fault_scenario_names_the_known_ones() -> None:
    result = CliRunner().invoke(main, ["bench", "faults", "nope"])

    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.output
    assert "worker-kill" in result.output


def test_a_full_database_disk_refuses_with_507_and_loses_nothing(tmp_path: Path) -> None:
    result = database_full(tmp_path, size="2m", posts=2000)

    assert result["ran"] is True, result.get("why")  # needs root for its tmpfs, as CI has
    assert result["answers"]["201"] > 0
    assert result["answers"]["507"] == 50
    assert result["other_5xx"] == 0
    assert result["healthz_while_full"] == 503
    assert result["post_after_freeing_space"] == 201
    assert result["lost"] == 0
    assert result["kept_without_acknowledgement"] == 0
    assert result["full_lines_logged"] == 1
    assert result["tracebacks_logged"] == 0


def test_a_damaged_database_is_one_line_in_every_command_and_503_in_serve(
    tmp_path: Path,
) -> None:
    result = damaged(tmp_path, jobs=3000)

    for command, outcome in result["commands"].items():
        assert outcome["exit"] == 1, command
        assert outcome["traceback"] is False, command
        assert "damaged" in outcome["first_line"], command
    one_shot = {name: o for name, o in result["commands"].items() if not name.startswith("worker")}
    assert {o["stderr_lines"] for o in one_shot.values()} == {1}
    assert set(result["serve_answers"].values()) == {503}
    assert result["tracebacks_logged_by_serve"] == 0


def test_a_full_download_folder_holds_jobs_back_and_finishes_them_once_it_grows(
    tmp_path: Path,
) -> None:
    result = downloads_full(tmp_path, jobs=3, clip_bytes=1_500_000)

    assert result["ran"] is True, result.get("why")  # needs root for its tmpfs, as CI has
    assert result["stopped_claiming"] is True
    assert result["while_full"] == {"completed": 1, "pending": 2}
    assert result["all_completed_after_growing"] is True
    assert result["jobs_by_status"] == {"completed": 3}
    assert result["retries_spent"] == 0
    assert result["lost_jobs"] == 0
    assert result["not_claiming_lines"] == 1
    assert result["claiming_again_lines"] == 1
    assert result["tracebacks_logged"] == 0
