"""Subscriptions in the browser: subscribe from the page, the in-process worker checks the
feed and downloads its entries, then pause and remove with the page's buttons."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from .media import MediaServer

CHECK_TIMEOUT = 60.0  # the worker looks every few seconds; two 4-second downloads follow


def api(server: str, path: str) -> Any:
    with urllib.request.urlopen(server + path, timeout=5) as response:
        return json.load(response)


def wait_for(server: str, path: str, done: Any, what: str) -> Any:
    """GET ``path`` until ``done(answer)``; fail after CHECK_TIMEOUT seconds."""
    deadline = time.monotonic() + CHECK_TIMEOUT
    while True:
        answer = api(server, path)
        if done(answer):
            return answer
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {answer}"
        time.sleep(0.25)


def test_subscribe_check_pause_and_remove(page: Any, server: str, media: MediaServer) -> None:
    feed = media.url("feed/show.xml")
    page.goto("/subscriptions")
    assert page.get_attribute("nav a[aria-current=page]", "href") == "/subscriptions"
    page.fill("#sub-url", feed)
    page.fill("#sub-every", "1h")
    page.select_option("#sub-format", "best")
    page.click("form.subscribe button[type=submit]")
    page.wait_for_url("**/subscriptions")
    assert page.inner_text(".flash-ok") == f"Subscribed: the first check of {feed} is due now."
    rows = page.locator("#subscription-list tr[data-subscription-id]")
    assert rows.count() == 1
    sub_id = rows.first.get_attribute("data-subscription-id")
    path = f"/api/subscriptions/{sub_id}"

    checked = wait_for(server, path, lambda s: s["last_checked_at"], "the first check")
    assert (checked["title"], checked["queued"], checked["last_error"]) == ("Feed show", 2, None)
    jobs = api(server, "/api/jobs?limit=200")["items"]
    mine = [job for job in jobs if job["subscription_id"] == sub_id]
    assert sorted(job["url"] for job in mine) == [
        media.url("fast/show-1.mp4"),
        media.url("fast/show-2.mp4"),
    ]
    for job in mine:
        wait_for(server, f"/api/jobs/{job['id']}", lambda j: j["status"] == "completed", job["url"])

    page.reload()
    row = page.locator(f'tr[data-subscription-id="{sub_id}"]')
    assert row.locator(".title").inner_text() == "Feed show"
    assert row.locator(".every").inner_text() == "1h"
    assert row.locator(".queued").inner_text() == "2"
    assert "2 new" in row.locator(".last-check").inner_text()

    row.locator("button", has_text="Pause").click()
    page.wait_for_url("**/subscriptions")
    assert page.inner_text(".flash-ok") == "Paused: no checks until resumed."
    assert page.locator(f'tr[data-subscription-id="{sub_id}"] .next-check').inner_text() == (
        "paused"
    )
    assert api(server, path)["paused"] is True

    page.locator(f'tr[data-subscription-id="{sub_id}"] button', has_text="Remove").click()
    page.wait_for_url("**/subscriptions")
    assert page.inner_text(".flash-ok") == "Removed: the videos it queued and their files stay."
    assert page.locator("#subscription-list tr[data-subscription-id]").count() == 0
    assert api(server, "/api/subscriptions") == {"items": []}
