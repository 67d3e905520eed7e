"""``collector bench sse``: it runs, serves every watcher, and reports its figures;
``collector serve`` sizes waitress for the streams it allows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from collector.cli import main
from collector.cli.serve import SPARE_CONNECTIONS, WEB_THREADS, server_capacity


def test_bench_sse_reports_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "sse.json"
    result = CliRunner().invoke(
        main, ["bench", "sse", "--clients", "3", "--seconds", "1", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["clients"] == 3
    assert figures["streams_served"] == 3
    assert figures["streams_refused"] == figures["streams_unanswered"] == 0
    assert figures["threads"] == WEB_THREADS + 64
    for phase in ("without_watchers", "with_watchers"):
        assert set(figures[phase]) == {"/api/jobs", "/"}
        assert all(f["requests"] > 0 for f in figures[phase].values())
    assert "queries/s" in result.output


def test_bench_sse_beyond_the_cap_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "sse.json"
    args = ["bench", "sse", "--clients", "3", "--max-streams", "1", "--seconds", "1"]
    result = CliRunner().invoke(main, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert (figures["streams_served"], figures["streams_refused"]) == (1, 2)


def test_server_capacity_leaves_threads_for_requests() -> None:
    assert server_capacity(50) == {
        "threads": WEB_THREADS + 50,
        "connection_limit": SPARE_CONNECTIONS + 50,
    }
    with pytest.raises(ValueError, match="max_streams"):
        server_capacity(-1)
