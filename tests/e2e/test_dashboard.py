"""In a real browser: queue a URL from the dashboard, watch it download, cancel a slow one."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from .conftest import ARTIFACTS, TOKEN
from .media import MediaServer

DOWNLOAD_TIMEOUT = 30.0
POLL_SECONDS = 0.1


def api(server: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(server + path, timeout=5) as response:
        return json.load(response)


def post(server: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(server + path, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def queue_from_form(page: Any, url: str) -> str:
    """Paste ``url`` into the dashboard's form and submit; the new job's id."""
    page.goto("/")
    page.fill("#urls", url)
    page.click("form.add button[type=submit]")
    page.wait_for_selector(".flash-ok")
    assert page.inner_text(".flash-ok") == "Queued 1 job."
    row = page.locator("#recent-jobs tr", has_text=url).first
    row.wait_for()
    return row.get_attribute("data-job-id")


def watch_progress(page: Any, job_id: str) -> list[int]:
    """Values the job's progress bar showed on the dashboard until it completed."""
    bar = f'#recent-jobs tr[data-job-id="{job_id}"] progress'
    status = f'#recent-jobs tr[data-job-id="{job_id}"] .badge'
    seen: list[int] = []
    deadline = time.monotonic() + DOWNLOAD_TIMEOUT
    while time.monotonic() < deadline:
        if page.locator(bar).count():
            value = int(page.eval_on_selector(bar, "el => el.value"))
            if not seen or seen[-1] != value:
                seen.append(value)
            if value == 100 and page.inner_text(status) == "completed":
                return seen
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"job {job_id} did not complete in {DOWNLOAD_TIMEOUT:.0f} s: {seen}")


def test_queue_a_url_and_watch_it_complete(page: Any, server: str, media: MediaServer) -> None:
    url = media.url("fast/holiday-clip.mp4")

    job_id = queue_from_form(page, url)
    seen = watch_progress(page, job_id)

    assert seen[-1] == 100
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert any(0 < value < 100 for value in seen), f"no progress between 0 and 100: {seen}"
    assert page.locator(f'#active-jobs tr[data-job-id="{job_id}"]').count() == 0

    page.click(f'#recent-jobs tr[data-job-id="{job_id}"] td.title a')
    page.wait_for_url(f"**/jobs/{job_id}")
    assert page.inner_text("dd.status") == "completed"
    assert page.inner_text("#job .percent") == "100%"
    names = page.locator("#job-files td.name").all_inner_texts()
    assert "holiday-clip [holiday-clip].mp4" in names
    row = page.locator("#job-files tr", has_text="holiday-clip [holiday-clip].mp4")
    assert row.locator("td").nth(1).inner_text() == "video"
    assert row.locator("td").nth(2).inner_text() == "390.6 KB"
    assert api(server, f"/api/jobs/{job_id}")["status"] == "completed"


def test_cancel_a_slow_download(page: Any, server: str, media: MediaServer) -> None:
    url = media.url("slow/endless-lecture.mp4")
    job_id = queue_from_form(page, url)

    page.goto(f"/jobs/{job_id}")
    page.wait_for_function(
        "() => document.querySelector('dd.status').innerText.trim() === 'running'"
        " && document.querySelector('#job .operation').innerText.startsWith('downloading')"
    )
    page.click("button.danger")
    page.wait_for_selector(".flash-ok")
    assert "Cancel" in page.inner_text(".flash-ok")
    # The page follows the job until the worker has stopped the download.
    page.wait_for_function(
        "() => document.querySelector('dd.status').innerText.trim() === 'cancelled'"
    )
    assert page.locator("button.danger").count() == 0
    assert page.locator("form[action$='/retry'] button").count() == 1
    job = api(server, f"/api/jobs/{job_id}")
    assert job["status"] == "cancelled"
    assert job["files"] == []


def test_dashboard_screenshot(page: Any, server: str, media: MediaServer) -> None:
    """The dashboard mid-download, saved as test-artifacts/dashboard.png."""
    job_id = queue_from_form(page, media.url("steady/conference-keynote.mp4"))
    bar = f'#active-jobs tr[data-job-id="{job_id}"] progress'
    page.wait_for_function(f"() => (document.querySelector('{bar}') || {{}}).value >= 30")
    page.wait_for_selector("#live.on")
    assert page.locator("svg.chart .bar").count() == 6
    running = page.locator('svg.chart .bar[data-status="running"] .count').text_content()
    assert running == "1"
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    assert post(server, f"/api/jobs/{job_id}/cancel")["status"] == "cancelling"
    page.wait_for_selector(f'#active-jobs tr[data-job-id="{job_id}"]', state="detached")


def test_the_recent_jobs_keep_their_thumbnails_when_the_lists_go_live(
    page: Any, server: str
) -> None:
    """The seeded YouTube job has an image file: its row shows it, and the script's
    re-rendering of the lists (from the stream) keeps it; the other rows have none."""
    page.goto("/")
    # Mark the rows the server rendered; the script's first rendering replaces them all.
    page.evaluate(
        "for (const r of document.querySelectorAll('#recent-jobs tr')) r.dataset.served = 1"
    )
    page.wait_for_function("() => !document.querySelector('#recent-jobs tr[data-served]')")
    pictured = page.locator("#recent-jobs tr", has_text="Big Buck Bunny (4K)")
    job_id = pictured.get_attribute("data-job-id")
    image = next(
        f for f in api(server, f"/api/jobs/{job_id}")["files"] if f["file_type"] == "image"
    )
    assert pictured.locator("img.thumb").get_attribute("src") == (
        f"/api/files/{image['id']}/content"
    )
    others = page.locator("#recent-jobs tr", has_text="Morning espresso")
    assert others.locator("img.thumb").count() == 0


def test_jobs_list_filters_in_the_browser(page: Any) -> None:
    page.goto("/jobs")
    page.select_option("select[name=status]", "failed")  # the script submits on change
    page.wait_for_url("**/jobs?*status=failed*")
    statuses = page.locator("#job-list .badge").all_inner_texts()
    assert statuses and set(statuses) == {"failed"}


def test_sign_in_with_the_token(token_page: Any, token_server: str) -> None:
    page = token_page
    page.goto("/jobs")
    assert page.url == token_server + "/login?next=/jobs"
    page.fill("#token", "not-the-token-at-all")
    page.click("form button[type=submit]")
    assert page.inner_text(".flash-error") == "That token is not right."
    # The refused sign-in answers 401, which chromium logs; that one is expected.
    assert [e for e in page.console_errors if "401" in e] == page.console_errors
    assert len(page.console_errors) == 1
    page.console_errors.clear()

    page.fill("#token", TOKEN)
    page.click("form button[type=submit]")
    page.wait_for_url("**/jobs")
    page.goto("/")
    page.wait_for_selector("#live.on")  # the script's API calls pass with the session
    page.goto("/files")  # a page that does not poll, so no request races the sign-out
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    with pytest.raises(urllib.error.HTTPError) as refused:
        api(token_server, "/api/stats")
    assert refused.value.code == 401
