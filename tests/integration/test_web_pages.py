"""The dashboard pages through Flask's test client: what they show, their forms, bad input."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from collector.config.database import get_db_config
from collector.models.file import File
from collector.repositories import FileRepository, JobRepository
from collector.repositories import file_repository as file_sql
from collector.web.charts import BAR_SPAN, MIN_BAR, bar_width, status_bars
from collector.web.templating import number

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def page(client: FlaskClient, path: str, code: int = 200) -> str:
    response = client.get(path, headers=HTML)
    assert response.status_code == code, response.data[:500]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def csrf(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF.search(page(client, path))
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, str], source: str = "/"):
    return client.post(path, data={"csrf_token": csrf(client, source), **data}, headers=HTML)


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+"[^>]*>([^<]*)</p>', html)


def rows(html: str, tbody_id: str) -> list[str]:
    """The data-job-id of each row of one table body."""
    body = html.split(f'id="{tbody_id}"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'data-job-id="([^"]+)"', body)


def make_orphan(db_path: Path, path: str = "/d/lost.mp4") -> File:
    """A file row whose job does not exist, as the pre-index code could leave them."""
    record = File(job_id="gone-job", file_path=path, file_type="video", file_size=3)
    conn = sqlite3.connect(db_path)  # foreign keys off, as the legacy code ran
    with conn:
        conn.execute(FileRepository.insert_sql(), record.to_row())
    conn.close()
    return record


# -- dashboard ------------------------------------------------------------------------------------


def test_dashboard_empty(client: FlaskClient) -> None:
    html = page(client, "/")
    assert "Nothing running or waiting." in html
    assert "No jobs yet" in html
    assert '<textarea id="urls" name="urls"' in html
    assert CSRF.search(html)
    assert "0 in all" in html


def test_dashboard_shows_statistics_active_and_recent(app: Flask, client: FlaskClient) -> None:
    repo = JobRepository()
    jobs = [repo.create_job(f"https://e.com/{n}", "other", title=f"Job {n}") for n in range(12)]
    repo.complete_job(jobs[0].id)
    repo.update_job_status(jobs[1].id, "running")
    repo.fail_job(jobs[2].id, "gone")

    html = page(client, "/")

    newest_first = [j.id for j in reversed(jobs)]
    assert rows(html, "recent-jobs") == newest_first[:10]
    active = [j for j in newest_first if j not in (jobs[0].id, jobs[2].id)]
    assert rows(html, "active-jobs") == active
    assert "12 in all" in html
    for bar in status_bars(repo.get_job_statistics()):
        assert f'data-status="{bar.status}"' in html
        assert f'width="{bar.width}"' in html
    assert 'aria-label="progress"' in html


def thumbnails(html: str, tbody_id: str) -> dict[str, str]:
    """job id -> the src of its row's thumbnail, in one table body."""
    body = html.split(f'id="{tbody_id}"', 1)[1].split("</tbody>", 1)[0]
    found = {}
    for row in re.findall(r"<tr data-job-id=.*?</tr>", body, flags=re.S):
        job_id = re.search(r'data-job-id="([^"]+)"', row)
        image = re.search(r'<img class="thumb" src="([^"]+)"', row)
        assert job_id
        if image:
            found[job_id.group(1)] = image.group(1)
    return found


def test_dashboard_shows_each_jobs_thumbnail_from_one_query(
    app: Flask, client: FlaskClient
) -> None:
    repo, files = JobRepository(), FileRepository()
    pictured = repo.create_job("https://e.com/pictured", "other", title="With a thumbnail")
    bare = repo.create_job("https://e.com/bare", "other", title="Without")
    running = repo.create_job("https://e.com/running", "other", title="Still running")
    files.create_file(pictured.id, "/d/pictured.mp4", "video", 100)
    image = files.create_file(pictured.id, "/d/pictured.webp", "image", 10)
    files.create_file(pictured.id, "/d/pictured-2.jpg", "image", 10)  # the first one shows
    files.create_file(bare.id, "/d/bare.mp4", "video", 100)
    repo.complete_job(pictured.id)
    repo.complete_job(bare.id)
    running_image = files.create_file(running.id, "/d/running.jpg", "image", 10)

    with get_db_config().capture() as statements:
        html = page(client, "/")

    src = f"/api/files/{image.id}/content"
    assert thumbnails(html, "recent-jobs") == {
        pictured.id: src,
        running.id: f"/api/files/{running_image.id}/content",
    }
    assert thumbnails(html, "active-jobs") == {running.id: f"/api/files/{running_image.id}/content"}
    assert rows(html, "recent-jobs") == [running.id, bare.id, pictured.id]
    images = [s.sql for s in statements if "file_type = ?" in s.sql]
    # One statement for both lists: three jobs (the running one listed twice, asked once).
    assert images == [file_sql.SQL_JOBS_IMAGES.format(ids="?, ?, ?")]


def test_counts_are_shown_with_separators() -> None:
    assert number(0) == "0"
    assert number(1_000_000) == "1,000,000"


def test_chart_bar_widths() -> None:
    assert bar_width(0, 100) == 0
    assert bar_width(100, 100) == BAR_SPAN
    assert bar_width(1, 1_000_000) == MIN_BAR
    assert bar_width(50, 100) == BAR_SPAN // 2
    assert [b.y for b in status_bars({"a": 1, "b": 2})] == [0, 28]


def test_add_urls_from_the_form(app: Flask, client: FlaskClient) -> None:
    urls = "https://www.youtube.com/watch?v=1\r\nhttps://www.tiktok.com/@a/video/2\n"

    response = post_form(client, "/jobs", {"urls": urls})

    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    queued = JobRepository().find_by()
    assert sorted(j.platform for j in queued) == ["tiktok", "youtube"]
    assert flashes(page(client, "/")) == ["Queued 2 jobs."]


def test_add_a_url_already_queued(app: Flask, client: FlaskClient) -> None:
    post_form(client, "/jobs", {"urls": "https://e.com/a"})
    page(client, "/")
    post_form(client, "/jobs", {"urls": "https://e.com/a https://e.com/b"})
    assert flashes(page(client, "/")) == ["Queued 1 job. 1 already queued."]
    assert JobRepository().count() == 2


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ("", "paste at least one URL"),
        ("   \n ", "paste at least one URL"),
        ("https://e.com/ok\nftp://e.com/file", "only http and https URLs"),
        ("not a url", "only http and https URLs"),
        (" ".join(f"https://e.com/{n}" for n in range(101)), "at most 100 URLs"),
    ],
)
def test_add_bad_urls_queues_nothing(
    app: Flask, client: FlaskClient, urls: str, message: str
) -> None:
    response = post_form(client, "/jobs", {"urls": urls})
    assert response.status_code == 303
    shown = flashes(page(client, "/"))
    assert len(shown) == 1 and message in shown[0]
    assert JobRepository().count() == 0


# -- jobs list ------------------------------------------------------------------------------------


def test_jobs_list_pages_by_keyset(app: Flask, client: FlaskClient) -> None:
    repo = JobRepository()
    ids = [repo.create_job(f"https://e.com/{n}", "other").id for n in range(5)][::-1]

    seen, path = [], "/jobs?limit=2"
    for _ in range(5):
        html = page(client, path)
        seen.extend(rows(html, "job-list"))
        following = re.search(r'<a href="([^"]+)" rel="next">', html)
        if not following:
            break
        path = following.group(1).replace("&amp;", "&")
    assert seen == ids
    assert "Newest" in html  # a later page links back to the first


def test_jobs_list_pages_keep_their_size_and_filters(app: Flask, client: FlaskClient) -> None:
    repo = JobRepository()
    ids = [repo.create_job(f"https://e.com/{n}", "other").id for n in range(5)][::-1]
    repo.create_job("https://www.youtube.com/watch?v=1", "youtube")

    sizes, seen, path = [], [], "/jobs?platform=other&limit=2"
    for _ in range(5):
        html = page(client, path)
        sizes.append(len(rows(html, "job-list")))
        seen.extend(rows(html, "job-list"))
        following = re.search(r'<a href="([^"]+)" rel="next">', html)
        if not following:
            break
        path = following.group(1).replace("&amp;", "&")
    assert sizes == [2, 2, 1]
    assert seen == ids
    newest = re.search(r'<a href="([^"]+)">&larr; Newest</a>', html)
    assert (
        newest
        and rows(page(client, newest.group(1).replace("&amp;", "&")), "job-list") == (ids[:2])
    )


def test_jobs_list_filters(app: Flask, client: FlaskClient) -> None:
    repo = JobRepository()
    tiktok = repo.create_job("https://www.tiktok.com/@a/video/1", "tiktok")
    youtube = repo.create_job("https://www.youtube.com/watch?v=1", "youtube")
    repo.complete_job(youtube.id)

    assert rows(page(client, "/jobs?platform=tiktok"), "job-list") == [tiktok.id]
    assert rows(page(client, "/jobs?status=completed"), "job-list") == [youtube.id]
    assert rows(page(client, "/jobs?status=active"), "job-list") == [tiktok.id]
    assert rows(page(client, "/jobs?status=failed&platform=youtube"), "job-list") == []
    html = page(client, "/jobs?status=completed&platform=")
    assert '<option value="completed" selected>' in html
    assert rows(html, "job-list") == [youtube.id]


@pytest.mark.parametrize(
    "query",
    [
        "status=nope",
        "platform=nope",
        "limit=0",
        "limit=x",
        "cursor=garbage",
        "cursor=WyJcdWQ4MDAiLCAieCJd",  # ["\\ud800", "x"]: a lone surrogate
    ],
)
def test_jobs_list_bad_query_is_400(client: FlaskClient, query: str) -> None:
    html = page(client, "/jobs?" + query, code=400)
    assert "400 Bad Request" in html
    response = client.get("/jobs?" + query)  # without Accept: text/html, JSON
    assert response.status_code == 400
    assert "error" in response.get_json()


# -- one job --------------------------------------------------------------------------------------


def test_job_page_with_files_and_cancel(app: Flask, client: FlaskClient) -> None:
    job = JobRepository().create_job("https://e.com/v", "other", title="Holiday")
    FileRepository().create_file(job.id, "/downloads/x/Holiday.mp4", "video", 2 * 1024 * 1024)

    html = page(client, f"/jobs/{job.id}")

    assert "Holiday" in html
    assert "Holiday.mp4" in html and "2.0 MB" in html
    assert f'action="/jobs/{job.id}/cancel"' in html
    assert f'action="/jobs/{job.id}/retry"' not in html


def test_job_page_of_failed_job_offers_retry(app: Flask, client: FlaskClient) -> None:
    job = JobRepository().create_job("https://e.com/v", "other")
    JobRepository().fail_job(job.id, "HTTP Error 404: Not Found")
    html = page(client, f"/jobs/{job.id}")
    assert "HTTP Error 404: Not Found" in html
    assert f'action="/jobs/{job.id}/retry"' in html
    assert f'action="/jobs/{job.id}/cancel"' not in html
    assert "No files." in html


def test_cancel_and_retry_from_the_job_page(app: Flask, client: FlaskClient) -> None:
    job = JobRepository().create_job("https://e.com/v", "other")
    source = f"/jobs/{job.id}"

    cancelled = post_form(client, f"/jobs/{job.id}/cancel", {}, source)
    assert cancelled.status_code == 303 and cancelled.headers["Location"] == source
    assert JobRepository().get_job(job.id).status == "cancelled"
    assert flashes(page(client, source)) == ["Cancelled."]

    post_form(client, f"/jobs/{job.id}/retry", {}, source)
    assert JobRepository().get_job(job.id).status == "pending"
    assert flashes(page(client, source)) == ["Queued again."]


def test_cancel_a_finished_job_from_its_page_says_why(app: Flask, client: FlaskClient) -> None:
    job = JobRepository().create_job("https://e.com/v", "other")
    JobRepository().complete_job(job.id)
    source = f"/jobs/{job.id}"
    assert "/cancel" not in page(client, source)  # a stale tab still has the button
    response = post_form(client, f"/jobs/{job.id}/cancel", {})
    assert response.status_code == 303
    assert "only pending or running jobs can be cancelled" in flashes(page(client, source))[0]
    assert JobRepository().get_job(job.id).status == "completed"


def test_unknown_job_pages_are_404(client: FlaskClient) -> None:
    assert "no job with id" in page(client, "/jobs/nope", code=404)
    token = csrf(client)
    for action in ("cancel", "retry"):
        response = client.post(f"/jobs/nope/{action}", data={"csrf_token": token})
        assert response.status_code == 404
        assert response.get_json() == {"error": "no job with id 'nope'"}


# -- files ----------------------------------------------------------------------------------------


def test_files_page_by_type_with_pages(app: Flask, client: FlaskClient) -> None:
    job = JobRepository().create_job("https://e.com/v", "other")
    repo = FileRepository()
    for n in range(3):
        repo.create_file(job.id, f"/d/clip{n}.mp4", "video", 10)
    repo.create_file(job.id, "/d/clip.info.json", "metadata", 1)

    first = page(client, "/files?type=video&limit=2")
    following = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert following
    second = page(client, following.group(1).replace("&amp;", "&"))

    assert "clip2.mp4" in first and "clip1.mp4" in first and "clip0.mp4" not in first
    assert "clip0.mp4" in second and 'rel="next"' not in second
    assert "clip.info.json" not in first + second
    assert re.search(r"video <span class=\"muted\">3</span>", first)
    assert "clip.info.json" in page(client, "/files")


def test_files_pages_keep_their_size(app: Flask, client: FlaskClient) -> None:
    job = JobRepository().create_job("https://e.com/v", "other")
    for n in range(5):
        FileRepository().create_file(job.id, f"/d/clip{n}.mp4", "video", 10)

    sizes, path = [], "/files?type=video&limit=2"
    for _ in range(5):
        html = page(client, path)
        sizes.append(len(re.findall(r"clip\d\.mp4</", html)))
        following = re.search(r'<a href="([^"]+)" rel="next">', html)
        if not following:
            break
        path = following.group(1).replace("&amp;", "&")
    assert sizes == [2, 2, 1]
    assert '<a href="/files?type=video&amp;limit=2">&larr; Newest</a>' in html


@pytest.mark.parametrize("query", ["type=movie", "limit=999", "cursor=@@"])
def test_files_page_bad_query_is_400(client: FlaskClient, query: str) -> None:
    assert "400 Bad Request" in page(client, "/files?" + query, code=400)


# -- maintenance ----------------------------------------------------------------------------------


def test_maintenance_healthy_database(client: FlaskClient) -> None:
    html = page(client, "/maintenance")
    assert "None. Every file record belongs to a job." in html
    states = re.findall(r'<tr data-state="(\w+)">', html)
    assert states and set(states) == {"ok"}
    assert "idx_jobs_status_created" in html


def test_maintenance_reports_missing_drifted_and_unmanaged_indexes(
    app: Flask, client: FlaskClient, db_path: Path
) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("DROP INDEX idx_jobs_platform")
    conn.execute("DROP INDEX idx_files_created_at")
    conn.execute('CREATE INDEX idx_files_created_at ON files ("file_size")')
    conn.execute("CREATE INDEX my_own_index ON jobs (url)")
    conn.commit()
    conn.close()

    html = page(client, "/maintenance")

    found = {
        name: state
        for state, name in re.findall(r'<tr data-state="(\w+)"><td>\w+</td><td><code>(\w+)<', html)
    }
    assert found["idx_jobs_platform"] == "missing"
    assert found["idx_files_created_at"] == "drifted"
    assert found["my_own_index"] == "unmanaged"
    assert found["idx_jobs_status_created"] == "ok"
    assert '<span class="badge badge-missing">1 missing</span>' in html
    assert '<span class="badge badge-drifted">1 drifted</span>' in html
    assert '<span class="badge badge-unmanaged">1 unmanaged</span>' in html


def test_orphan_clean_up_asks_first(app: Flask, client: FlaskClient, db_path: Path) -> None:
    job = JobRepository().create_job("https://e.com/v", "other")
    kept = FileRepository().create_file(job.id, "/d/kept.mp4", "video", 1)
    make_orphan(db_path, "/d/lost-one.mp4")
    make_orphan(db_path, "/d/lost-two.mp4")

    overview = page(client, "/maintenance")
    assert "lost-one.mp4" in overview and "lost-two.mp4" in overview
    assert 'href="/maintenance/orphans"' in overview

    confirm = page(client, "/maintenance/orphans")
    assert "Remove 2 records" in confirm
    assert len(FileRepository().get_orphaned_files()) == 2  # looking changes nothing

    response = post_form(client, "/maintenance/orphans", {"confirm": "yes"}, "/maintenance/orphans")
    assert response.status_code == 303
    assert FileRepository().get_orphaned_files() == []
    assert [f.id for f in FileRepository().get_job_files(job.id)] == [kept.id]
    assert flashes(page(client, "/maintenance")) == ["Removed 2 orphaned file records."]


def test_many_orphans_show_the_first_hundred(
    app: Flask, client: FlaskClient, db_path: Path
) -> None:
    for n in range(103):
        make_orphan(db_path, f"/d/lost-{n:03}.mp4")

    overview = page(client, "/maintenance")
    confirm = page(client, "/maintenance/orphans")

    assert 'Orphaned files <span class="muted">103</span>' in overview
    assert overview.count('<td class="path">/d/lost-') == 100
    assert "Showing the first 100 of 103; the clean-up removes them all." in overview
    assert "Remove 103 records" in confirm
    assert confirm.count('<li class="path">') == 100
    post_form(client, "/maintenance/orphans", {"confirm": "yes"}, "/maintenance/orphans")
    assert FileRepository().get_orphaned_files() == []
    assert flashes(page(client, "/maintenance")) == ["Removed 103 orphaned file records."]


def test_orphan_clean_up_without_confirmation_is_refused(
    app: Flask, client: FlaskClient, db_path: Path
) -> None:
    make_orphan(db_path)
    response = post_form(client, "/maintenance/orphans", {}, "/maintenance/orphans")
    assert response.status_code == 400
    assert len(FileRepository().get_orphaned_files()) == 1


def test_clean_up_page_with_nothing_to_do(client: FlaskClient) -> None:
    html = page(client, "/maintenance/orphans")
    assert "There is nothing to clean up." in html
    assert 'name="confirm"' not in html


# -- every page -----------------------------------------------------------------------------------


def test_every_page_route_is_covered(app: Flask) -> None:
    """A new page must join the lists of this module and of test_web_security."""
    pages = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if rule.endpoint.split(".")[0] in ("pages", "maintenance", "auth")
    }
    assert pages == {
        ("/", "GET"),
        ("/jobs", "GET"),
        ("/jobs", "POST"),
        ("/jobs/<job_id>", "GET"),
        ("/jobs/<job_id>/cancel", "POST"),
        ("/jobs/<job_id>/retry", "POST"),
        ("/files", "GET"),
        ("/subscriptions", "GET"),
        ("/subscriptions", "POST"),
        ("/subscriptions/<subscription_id>/pause", "POST"),
        ("/subscriptions/<subscription_id>/resume", "POST"),
        ("/subscriptions/<subscription_id>/remove", "POST"),
        ("/maintenance", "GET"),
        ("/maintenance/orphans", "GET"),
        ("/maintenance/orphans", "POST"),
        ("/login", "GET"),
        ("/login", "POST"),
        ("/logout", "POST"),
    }


def test_static_files_are_served(client: FlaskClient) -> None:
    for name, mimetype in (("app.js", "text/javascript"), ("style.css", "text/css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        assert response.mimetype == mimetype
        response.close()
