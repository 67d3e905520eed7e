"""Subscriptions on the web: /api/subscriptions and the Subscriptions page, both engines."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from collector.app import create_app
from collector.config.database import DatabaseConfig
from collector.models.entries import Entry
from collector.models.job import Job
from collector.models.values import utcnow
from collector.repositories.queue import JobQueue
from collector.repositories.subscriptions import SubscriptionRepository

pytestmark = pytest.mark.both_engines

CHANNEL = "https://www.youtube.com/@SomeChannel"
PLAYLIST = "https://www.youtube.com/playlist?list=PL0123456789abcdef"
VIDEO = "https://www.youtube.com/watch?v=abcdefghijk"
CHOICES = "best, 1080p, 720p, 480p, audio-m4a, audio-mp3"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def client(db: DatabaseConfig, database: str) -> Iterator[FlaskClient]:
    app = create_app({"TESTING": True, "DB_PATH": database})
    yield app.test_client()


# -- the API ----------------------------------------------------------------------------------


def test_api_create_list_get_patch_delete(client: FlaskClient, db: DatabaseConfig) -> None:
    created = client.post(
        "/api/subscriptions",
        json={"url": CHANNEL, "every": "1d", "format": "480p", "after_date": "2024-01-01"},
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    sub_id = body["id"]
    assert created.headers["Location"] == f"/api/subscriptions/{sub_id}"
    assert (body["url"], body["every"], body["every_seconds"], body["format"]) == (
        CHANNEL,
        "1d",
        86400,
        "480p",
    )
    assert (body["after_date"], body["keep_newest"], body["paused"], body["queued"]) == (
        "2024-01-01",
        None,
        False,
        0,
    )
    assert client.get("/api/subscriptions").get_json() == {"items": [body]}
    assert client.get(f"/api/subscriptions/{sub_id}").get_json() == body

    paused = client.patch(f"/api/subscriptions/{sub_id}", json={"paused": True})
    assert (paused.status_code, paused.get_json()["paused"]) == (200, True)
    changed = client.patch(
        f"/api/subscriptions/{sub_id}",
        json={"paused": False, "every": 1800, "keep_newest": 3, "format": None},
    ).get_json()
    assert (changed["paused"], changed["every"], changed["keep_newest"], changed["format"]) == (
        False,
        "30m",
        3,
        None,
    )
    assert client.patch(f"/api/subscriptions/{sub_id}", json={}).get_json() == changed

    removed = client.delete(f"/api/subscriptions/{sub_id}")
    assert (removed.status_code, removed.get_json()["id"]) == (200, sub_id)
    assert client.get(f"/api/subscriptions/{sub_id}").status_code == 404
    assert SubscriptionRepository(db).list_all() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": VIDEO}, f"{VIDEO} is a single video, not a playlist or channel"),
        ({"url": "nope"}, "only http and https URLs can be queued, not 'nope'"),
        ({"url": "http://10.0.0.1/list"}, "refused: 10.0.0.1 is an internal address"),
        ({"url": CHANNEL, "format": "4k"}, f"unknown format '4k'; valid: {CHOICES}"),
        ({"url": CHANNEL, "every": "1m"}, "every must be from 5m to 365d"),
        ({"url": CHANNEL, "every": "often"}, "as 30m, 6h or 1d; not 'often'"),
        ({"url": CHANNEL, "every": None}, "as 30m, 6h or 1d; not NoneType"),
        ({"url": CHANNEL, "after_date": "2024-02-30"}, "after must be a date as YYYY-MM-DD"),
        ({"url": CHANNEL, "keep_newest": 0}, "keep must be a whole number from 1 to 100000"),
        ({"url": CHANNEL, "keep_newest": "5"}, "keep must be a whole number"),
        ({"every": "6h"}, 'missing "url"'),
        ({"url": CHANNEL, "title": "x"}, "unknown field 'title'; the body takes only \"url\""),
        ([CHANNEL], "the request body must be a JSON object"),
    ],
)
def test_api_refuses_bad_input(
    client: FlaskClient, db: DatabaseConfig, body: object, message: str
) -> None:
    refused = client.post("/api/subscriptions", json=body)
    assert refused.status_code == 400
    assert message in refused.get_json()["error"]
    assert SubscriptionRepository(db).list_all() == []


def test_api_conflicts_and_missing(client: FlaskClient) -> None:
    first = client.post("/api/subscriptions", json={"url": PLAYLIST}).get_json()
    again = client.post("/api/subscriptions", json={"url": PLAYLIST, "every": "1h"})
    assert again.status_code == 409
    assert f"already followed as subscription {first['id']}" in again.get_json()["error"]
    for bad in ({"format": "8k"}, {"paused": "yes"}, {"url": CHANNEL}, {"every": "0m"}):
        refused = client.patch(f"/api/subscriptions/{first['id']}", json=bad)
        assert refused.status_code == 400, bad
    assert (
        "valid: " + CHOICES
        in client.patch(f"/api/subscriptions/{first['id']}", json={"format": "8k"}).get_json()[
            "error"
        ]
    )
    for missing in ("nope", "a%00b"):
        path = f"/api/subscriptions/{missing}"
        assert client.get(path).status_code == 404
        assert client.patch(path, json={"paused": True}).status_code == 404
        assert client.delete(path).status_code == 404
    assert client.get("/api/subscriptions/nope").get_json() == {
        "error": "no subscription with id 'nope'"
    }


# -- the page -----------------------------------------------------------------------------------


def page(client: FlaskClient, path: str = "/subscriptions") -> str:
    response = client.get(path, headers=HTML)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def post(client: FlaskClient, path: str, data: dict[str, str]) -> str:
    token = CSRF.search(page(client))
    assert token
    response = client.post(
        path, data={"csrf_token": token.group(1), **data}, headers=HTML, follow_redirects=True
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+"[^>]*>([^<]*)</p>', html)


def row_ids(html: str) -> list[str]:
    return re.findall(r'data-subscription-id="([^"]+)"', html)


def test_the_page_is_linked_and_starts_empty(client: FlaskClient) -> None:
    assert '<a href="/subscriptions" >Subscriptions</a>' in page(client, "/")
    html = page(client)
    assert '<a href="/subscriptions" aria-current="page">Subscriptions</a>' in html
    assert "No subscriptions yet." in html
    assert row_ids(html) == []


def test_the_form_subscribes_and_the_buttons_work(client: FlaskClient, db: DatabaseConfig) -> None:
    html = post(
        client,
        "/subscriptions",
        {"url": CHANNEL, "every": "1h", "format": "720p", "after_date": "", "keep_newest": "4"},
    )
    assert flashes(html) == [f"Subscribed: the first check of {CHANNEL} is due now."]
    (sub,) = SubscriptionRepository(db).list_all()
    assert (sub.every_seconds, sub.format, sub.after_date, sub.keep_newest) == (
        3600,
        "720p",
        None,
        4,
    )
    assert row_ids(html) == [sub.id]
    assert '<td class="every">1h</td>' in html
    assert '<td class="format">720p</td>' in html
    assert "keep newest 4" in html
    assert '<td class="last-check">never</td>' in html

    html = post(client, f"/subscriptions/{sub.id}/pause", {})
    assert flashes(html) == ["Paused: no checks until resumed."]
    assert '<td class="next-check">paused</td>' in html
    assert SubscriptionRepository(db).get(sub.id).paused == 1
    html = post(client, f"/subscriptions/{sub.id}/resume", {})
    assert flashes(html) == ["Resumed."]
    assert SubscriptionRepository(db).get(sub.id).paused == 0
    html = post(client, f"/subscriptions/{sub.id}/remove", {})
    assert flashes(html) == ["Removed: the videos it queued and their files stay."]
    assert row_ids(html) == []


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"url": VIDEO}, f"{VIDEO} is a single video, not a playlist or channel"),
        ({"url": CHANNEL, "every": "2m"}, "every must be from 5m to 365d"),
        ({"url": CHANNEL, "format": "4k"}, f"valid: {CHOICES}"),
        ({"url": CHANNEL, "keep_newest": "0"}, "keep must be a whole number from 1 to 100000"),
        ({"url": CHANNEL, "keep_newest": "many"}, "keep must be a whole number"),
        ({"url": ""}, "a URL must be a non-empty string"),
    ],
)
def test_the_form_refuses_bad_input(
    client: FlaskClient, db: DatabaseConfig, form: dict[str, str], message: str
) -> None:
    html = post(client, "/subscriptions", form)
    (shown,) = flashes(html)
    assert message in shown.replace("&#39;", "'")
    assert SubscriptionRepository(db).list_all() == []


def test_the_page_shows_a_failed_check(client: FlaskClient, db: DatabaseConfig) -> None:
    repo = SubscriptionRepository(db)
    sub = repo.create(CHANNEL)
    assert repo.claim_due("w1", 60) is not None
    assert '<td class="next-check">checking now</td>' in page(client)
    repo.finish_check(sub.id, "w1", error="HTTP Error 429: <Too Many Requests>")
    html = page(client)
    assert "failed (1 in a row): HTTP Error 429: &lt;Too Many Requests&gt;" in html


def test_buttons_need_the_form_token_and_an_existing_subscription(
    client: FlaskClient, db: DatabaseConfig
) -> None:
    sub = SubscriptionRepository(db).create(CHANNEL)
    forged = client.post(f"/subscriptions/{sub.id}/remove", data={}, headers=HTML)
    assert forged.status_code == 400
    assert SubscriptionRepository(db).get(sub.id).paused == 0
    token = CSRF.search(page(client))
    assert token
    missing = client.post(
        "/subscriptions/nope/pause", data={"csrf_token": token.group(1)}, headers=HTML
    )
    assert missing.status_code == 404


def test_a_job_whose_files_were_removed_says_so(client: FlaskClient, db: DatabaseConfig) -> None:
    kept = Job(url=VIDEO, platform="youtube", status="completed")
    removed = Job(url=VIDEO, platform="youtube", status="completed", removed_at=utcnow())
    for job in (kept, removed):
        db.execute_update(JobQueue.insert_sql(), job.to_row())
    assert "keep-newest rule" not in page(client, f"/jobs/{kept.id}")
    assert '<dt>Files removed</dt><dd class="removed">' in page(client, f"/jobs/{removed.id}")


def test_a_subscriptions_jobs_are_listed_and_linked(
    client: FlaskClient, db: DatabaseConfig
) -> None:
    subs = SubscriptionRepository(db)
    sub = subs.create(CHANNEL)
    queue = JobQueue(db)
    entries = [
        Entry(f"https://www.youtube.com/watch?v={v}", f"Youtube:{v}", f"Video {v}")
        for v in ("aaaaaaaaaa1", "aaaaaaaaaa2")
    ]
    jobs = queue.enqueue_entries(entries, subscription_id=sub.id)
    other = queue.enqueue("https://youtu.be/bbbbbbbbbbb").job  # queued by hand

    listed = client.get(f"/api/jobs?subscription={sub.id}").get_json()["items"]
    assert [item["id"] for item in listed] == [jobs[1].id, jobs[0].id]  # newest first
    assert client.get("/api/jobs?subscription=nope").status_code == 404
    assert client.get("/api/jobs?subscription=").status_code == 400
    both = client.get(f"/api/jobs?subscription={sub.id}&parent={other.id}")
    assert both.status_code == 400
    assert "either parent or subscription" in both.get_json()["error"]

    page = client.get(f"/jobs?subscription={sub.id}").get_data(as_text=True)
    assert f'<input type="hidden" name="subscription" value="{sub.id}">' in page
    assert "queued by the subscription to" in page
    assert f'data-job-id="{jobs[0].id}"' in page and f'data-job-id="{other.id}"' not in page
    assert client.get("/jobs?subscription=nope").status_code == 404
    listing = client.get("/subscriptions").get_data(as_text=True)
    # The count is the checks' (none ran here: the jobs were queued directly).
    assert f'<a href="/jobs?subscription={sub.id}">0</a>' in listing

    job_page = client.get(f"/jobs/{jobs[0].id}").get_data(as_text=True)
    assert f'<dd class="subscription"><a href="/jobs?subscription={sub.id}">' in job_page
    subs.remove(sub.id)
    after = client.get(f"/jobs/{jobs[0].id}").get_data(as_text=True)
    assert '<dd class="subscription">removed</dd>' in after
