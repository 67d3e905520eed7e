"""Credentials in URLs: shown masked everywhere, kept whole for the download alone."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from collector.cli import main
from collector.config.database import DatabaseConfig
from collector.repositories import FileRepository
from collector.repositories.queue import JobQueue
from collector.worker import Downloader, DownloadFailed, DownloadResult
from tests.media_server import MediaServer, media_bytes
from tests.worker_fixtures import TEST_DOWNLOADER_OPTIONS, files_under, make_worker

SECRETS = ("s3cret", "t0ken", "user:")
URL = "https://user:s3cret@media.example/v/clip?id=7&token=t0ken"
SHOWN = "https://***@media.example/v/clip?id=7&token=***"
ERROR = "Unsupported URL: " + URL
HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture
def jobs_with_secrets(app: Flask) -> dict[str, str]:
    """A pending job and a failed one (its error quoting the URL), both with secrets."""
    queue = JobQueue()
    pending = queue.enqueue(URL).job
    failed = queue.enqueue(URL + "&other=1").job
    claimed = queue.claim("w1", 60)
    assert claimed is not None and claimed.id == pending.id
    queue.fail(pending.id, "w1", ERROR)  # as an older worker may have stored it
    return {"failed": pending.id, "pending": failed.id}


def test_pages_show_no_secret(client: FlaskClient, jobs_with_secrets: dict[str, str]) -> None:
    paths = ["/", "/jobs", "/jobs?status=failed", "/files", "/maintenance"]
    paths += [f"/jobs/{job_id}" for job_id in jobs_with_secrets.values()]
    for path in paths:
        response = client.get(path, headers=HTML)
        assert response.status_code == 200, path
        assert_no_secret(response.get_data(as_text=True))
    page = client.get(f"/jobs/{jobs_with_secrets['failed']}").get_data(as_text=True)
    assert SHOWN.replace("&", "&amp;") in page
    assert f'href="{SHOWN}' not in page.replace("&amp;", "&")  # a masked URL is not a link
    assert "Unsupported URL: https://***@media.example" in page


def test_a_url_without_secrets_stays_a_link(client: FlaskClient) -> None:
    job = JobQueue().enqueue("https://media.example/v?id=1").job
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert 'href="https://media.example/v?id=1"' in page


def test_a_refused_url_is_shown_masked(client: FlaskClient) -> None:
    bad = "ftp://user:s3cret@media.example/v?token=t0ken"
    response = client.post("/api/jobs", json={"url": bad})
    assert response.status_code == 400
    assert "ftp://***@media.example/v?token=***" in response.get_json()["error"]
    csrf = CSRF.search(client.get("/", headers=HTML).get_data(as_text=True))
    assert csrf is not None
    form = client.post(
        "/jobs",
        data={"urls": bad, "csrf_token": csrf.group(1)},
        follow_redirects=True,
        headers=HTML,
    )
    text = form.get_data(as_text=True)
    assert "ftp://***@media.example" in text
    assert_no_secret(text)


def test_api_shows_no_secret(
    app: Flask, client: FlaskClient, jobs_with_secrets: dict[str, str]
) -> None:
    created = client.post("/api/jobs", json={"url": URL + "&third=1"})
    assert created.status_code == 201
    assert created.get_json()["url"] == SHOWN + "&third=1"
    again = client.post("/api/jobs", json={"url": URL + "&third=1"})
    assert again.status_code == 200 and again.get_json()["id"] == created.get_json()["id"]
    responses = [created, again, client.get("/api/jobs"), client.get("/api/jobs?status=failed")]
    responses += [client.get(f"/api/jobs/{job_id}") for job_id in jobs_with_secrets.values()]
    responses.append(client.post(f"/api/jobs/{jobs_with_secrets['pending']}/cancel"))
    responses.append(client.post(f"/api/jobs/{jobs_with_secrets['failed']}/retry"))
    for response in responses:
        assert response.status_code in (200, 201)
        assert_no_secret(response.get_data(as_text=True))
    one = client.get(f"/api/jobs/{jobs_with_secrets['failed']}").get_json()
    assert one["url"] == SHOWN
    # The database keeps the URL whole: the worker downloads from it.
    assert JobQueue().get(jobs_with_secrets["failed"]).url == URL


def test_a_retry_refused_for_a_queued_twin_names_it_masked(client: FlaskClient) -> None:
    queue = JobQueue()
    first = queue.enqueue(URL).job
    queue.cancel(first.id)
    queue.enqueue(URL)
    response = client.post(f"/api/jobs/{first.id}/retry")
    assert response.status_code == 409
    assert response.get_json()["error"].startswith(SHOWN + " is already queued")


def invoke(db_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--db", str(db_path), *args])
    return result.exit_code, result.stdout + result.stderr


def test_cli_shows_no_secret(db: DatabaseConfig, db_path: Path) -> None:
    code, out = invoke(db_path, "add", URL)
    assert code == 0
    job_id = out.strip()
    code, out = invoke(db_path, "add", URL)  # already queued: says so, masked
    assert code == 0 and f"already queued: {SHOWN} (pending)" in out
    code, out = invoke(db_path, "add", "--json", URL + "&x=1")
    assert code == 0 and json.loads(out)[0]["url"] == SHOWN + "&x=1"
    JobQueue(db).claim("w1", 60)
    JobQueue(db).fail(job_id, "w1", ERROR)
    outputs = [out]
    for args in (("jobs",), ("jobs", "--json"), ("jobs", "--status", "failed")):
        code, out = invoke(db_path, *args)
        assert code == 0
        outputs.append(out)
    assert SHOWN in outputs[1] and f"Unsupported URL: {SHOWN}" in outputs[3]
    assert json.loads(outputs[2])[0]["url"] == SHOWN + "&x=1"
    code, out = invoke(db_path, "add", "ftp://user:s3cret@media.example/v")
    assert code == 1 and "ftp://***@media.example/v" in out
    outputs.append(out)
    for out in outputs:
        assert_no_secret(out)


def test_the_worker_downloads_with_the_credentials_and_shows_none(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = media_bytes(20_000, "private")
    media = media_server.add("private", data, credentials="user:s3cret")
    url = media_server.url("private").replace("://", "://user:s3cret@") + "?token=t0ken"
    job = queue.enqueue(url).job
    caplog.set_level(logging.DEBUG)

    assert make_worker(db).run(burst=True) == 1

    done = queue.get(job.id)
    assert done.status == "completed"  # the server wants basic auth: yt-dlp had the password
    assert media.requests  # served (401s are not recorded)
    files = FileRepository(db).get_job_files(job.id)
    video = next(f for f in files if f.file_type == "video")
    assert Path(video.file_path).read_bytes() == data
    for path in files_under(downloads):
        assert_no_secret(path.name)  # the generic id would carry ?token=... into names
    assert caplog.records
    for record in caplog.records:
        assert_no_secret(record.getMessage())
    assert any("downloading http://***@127.0.0.1" in r.getMessage() for r in caplog.records)


def test_a_failed_download_stores_and_logs_no_secret(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    media_server.add("page", b"<html><body>no media</body></html>", content_type="text/html")
    url = media_server.url("page").replace("://", "://user:s3cret@") + "?token=t0ken"
    job = queue.enqueue(url).job
    caplog.set_level(logging.DEBUG)

    make_worker(db).run(burst=True)

    failed = queue.get(job.id)
    assert failed.status == "failed"
    assert failed.error_message == "Unsupported URL: " + url.replace("user:s3cret", "***").replace(
        "t0ken", "***"
    )
    for record in caplog.records:
        assert_no_secret(record.getMessage())


def test_the_downloader_is_handed_the_full_url(
    db: DatabaseConfig, queue: JobQueue, downloads: Path
) -> None:
    handed: list[str] = []

    class Recording(Downloader):
        def download(self, url: str, *args: Any, **kwargs: Any) -> DownloadResult:
            handed.append(url)
            raise DownloadFailed("recorded", transient=False)

    queue.enqueue(URL)
    make_worker(db, downloader=Recording(TEST_DOWNLOADER_OPTIONS)).run(burst=True)
    assert handed == [URL]


def test_file_names_carry_no_token(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, media_server: MediaServer
) -> None:
    # A link whose last segment has no extension: yt-dlp's generic id is "get?token=...".
    media_server.add("get", media_bytes(10_000, "get"))
    job = queue.enqueue(media_server.url("get") + "?token=t0ken").job

    make_worker(db).run(burst=True)

    assert queue.get(job.id).status == "completed"
    names = [path.name for path in files_under(downloads)]
    assert len(names) == 2 and all("token=" in name for name in names)
    for name in names:
        assert_no_secret(name)
