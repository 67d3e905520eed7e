"""A file row records the host whose worker wrote it; the pages show it."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.app import create_app
from collector.config.database import DatabaseConfig
from collector.repositories import FileRepository
from collector.repositories.queue import JobQueue

pytestmark = pytest.mark.both_engines


def finished_job(db: DatabaseConfig, host_name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLLECTOR_HOST_NAME", host_name)
    queue = JobQueue(db)
    job = queue.enqueue("https://example.com/video").job
    claimed = queue.claim("worker-1", 30)
    assert claimed is not None and claimed.id == job.id
    done = queue.complete(job.id, "worker-1", [(Path("/srv/downloads/v.mp4"), "video", 42)])
    assert done is not None
    return job.id


def test_a_finished_job_s_files_name_the_worker_s_host(
    db: DatabaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = finished_job(db, "download-host-7", monkeypatch)
    [stored] = FileRepository(db).get_job_files(job_id)
    assert stored.host == "download-host-7"
    assert stored.to_dict()["host"] == "download-host-7"


def test_a_file_recorded_without_a_host_has_none(db: DatabaseConfig) -> None:
    job = JobQueue(db).enqueue("https://example.com/other").job
    FileRepository(db).create_file(job.id, "/x.mp4", "video", 1)
    [stored] = FileRepository(db).get_job_files(job.id)
    assert stored.host is None


@pytest.mark.parametrize("host", ["", "   ", 7])
def test_a_blank_host_is_refused(db: DatabaseConfig, host: object) -> None:
    job = JobQueue(db).enqueue("https://example.com/third").job
    with pytest.raises(ValueError, match="host must be a non-empty string or None"):
        FileRepository(db).create_file(job.id, "/x.mp4", "video", 1, host)  # type: ignore[arg-type]  # the bad value is the test
    assert FileRepository(db).get_job_files(job.id) == []


def test_the_pages_and_the_api_show_the_host(
    database: str, db: DatabaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = finished_job(db, "download-host-7", monkeypatch)
    app = create_app({"TESTING": True, "DB_PATH": database})
    client = app.test_client()
    for page in (f"/jobs/{job_id}", "/files"):
        response = client.get(page)
        assert response.status_code == 200
        assert '<td class="host">download-host-7</td>' in response.get_data(as_text=True)
    files = client.get(f"/api/jobs/{job_id}").get_json()["files"]
    assert [f["host"] for f in files] == ["download-host-7"]
