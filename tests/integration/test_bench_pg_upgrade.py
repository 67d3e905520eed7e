"""bench pg-upgrade on a small table: the build is online and the writer never fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from collector.cli import main


def test_pg_upgrade_builds_online_while_the_writer_inserts(pg_url: str, tmp_path: Path) -> None:
    out = tmp_path / "pg-upgrade.json"
    result = CliRunner().invoke(
        main,
        [
            "bench", "pg-upgrade", "--database-url", pg_url, "--jobs", "2000",
            "--schema", "bench_pg_upgrade_test", "--json", str(out),
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["concurrently"] is True
    assert figures["upgrade_exit_code"] == 0
    assert figures["writer_errors"] == 0
    assert figures["index_ok_after"] is True
    assert figures["during_build"]["inserts"] > 0
    assert figures["plain"]["writer_errors"] == 0
    assert "writer during the build:" in result.output


def test_pg_upgrade_refuses_an_unknown_index(pg_url: str) -> None:
    result = CliRunner().invoke(
        main, ["bench", "pg-upgrade", "--database-url", pg_url, "--index", "nope"]
    )
    assert result.exit_code != 0
    assert "the jobs table declares: idx_jobs_status" in result.output


@pytest.mark.parametrize("url", ["sqlite:///x.db"])
def test_pg_upgrade_needs_a_server_url(url: str) -> None:
    result = CliRunner().invoke(main, ["bench", "pg-upgrade", "--database-url", url])
    assert result.exit_code == 2
    assert "postgresql://" in result.output
