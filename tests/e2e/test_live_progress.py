"""In a real browser: the dashboard's and the job page's bars move by the event stream,
not by polling the JSON API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.config.database import DatabaseConfig
from collector.repositories.queue import JobQueue

from .conftest import open_page, serving

URL = "https://www.youtube.com/watch?v=live-progress"
WORKER = "e2e-stand-in"  # a worker that is this test: it writes the job's progress


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, DatabaseConfig, str]]:
    """A server whose database has one running job, claimed by the test itself."""
    db = DatabaseConfig(tmp_path / "collector.db")
    db.initialize_schema()
    queue = JobQueue(db)
    job, _ = queue.enqueue(URL)
    assert queue.claim(WORKER, 3600) is not None  # before serve's own worker could
    with serving(tmp_path) as base:
        yield base, db, job.id
    db.dispose()


def report(db: DatabaseConfig, job_id: str, progress: int) -> None:
    JobQueue(db).report_progress(
        job_id, WORKER, 3600, progress=progress, bytes_downloaded=progress, operation="downloading"
    )


def api_requests(tab: Any) -> list[str]:
    """The URLs of the page's requests to the JSON API (polling), as they happen."""
    seen: list[str] = []
    tab.on("request", lambda r: seen.append(r.url) if "/api/" in r.url else None)
    return seen


def test_the_dashboard_bar_moves_by_the_stream(browser: Any, live) -> None:
    base, db, job_id = live
    with open_page(browser, base) as tab:
        requested = api_requests(tab)
        tab.goto("/")
        tab.wait_for_selector('#dashboard[data-transport="sse"]')
        bar = f'#active-jobs tr[data-job-id="{job_id}"] progress'
        for progress in (37, 81):
            report(db, job_id, progress)
            tab.wait_for_function(
                "([sel, value]) => document.querySelector(sel)?.value === value",
                arg=[bar, progress],
            )
        assert tab.inner_text(f'#active-jobs tr[data-job-id="{job_id}"] .percent') == "81%"
        assert [url for url in requested if "/api/events" in url] == [base + "/api/events"]
        assert [url for url in requested if "/api/events" not in url] == []  # no polling


def test_the_job_page_bar_moves_by_the_stream(browser: Any, live) -> None:
    base, db, job_id = live
    with open_page(browser, base) as tab:
        requested = api_requests(tab)
        tab.goto(f"/jobs/{job_id}")
        tab.wait_for_selector('#job[data-transport="sse"]')
        report(db, job_id, 55)
        tab.wait_for_function("() => document.querySelector('#job progress').value === 55")
        assert tab.inner_text("#job .percent") == "55%"
        assert all("/api/events?job=" in url for url in requested), requested
