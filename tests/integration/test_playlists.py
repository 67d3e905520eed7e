"""Playlists and channels as jobs, and videos deduplicated by identity, on both engines.

A playlist job lists its entries (yt-dlp's flat extraction, nothing downloaded), is
completed as listed, and queues one child job per entry the library does not have.
The worker tests serve an RSS feed of three media files from the loopback server:
yt-dlp's generic extractor reads a feed as a playlist.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from collector.app import create_app
from collector.bench.playlist import measure, prepare
from collector.cli import main
from collector.config.database import DatabaseConfig
from collector.models.entries import Entry, Listing
from collector.models.formats import InvalidFormatError
from collector.models.outbound import AllowedHosts
from collector.repositories import FileRepository, JobRepository
from collector.repositories.identity import info_identity, single_video, url_identity
from collector.repositories.queue import JobQueue, JobStateError
from collector.worker import Downloader
from collector.worker.errors import DownloadRefused
from tests.media_server import MediaServer, media_bytes
from tests.worker_fixtures import TEST_DOWNLOADER_OPTIONS, database_option, make_worker

pytestmark = pytest.mark.both_engines

VIDEO_ID = "dQw4w9WgXcQ"
SPELLINGS = (
    f"https://youtu.be/{VIDEO_ID}",
    f"https://www.youtube.com/watch?v={VIDEO_ID}",
    f"https://youtube.com/watch?v={VIDEO_ID}&t=42",
    f"https://m.youtube.com/watch?v={VIDEO_ID}",
)


def vid(name: str) -> str:
    """A YouTube video id (eleven characters) made from ``name``."""
    return name.ljust(11, "0")


def entries(*names: str, date: str | None = None) -> list[Entry]:
    return [
        Entry(f"https://www.youtube.com/watch?v={vid(n)}", f"Youtube:{vid(n)}", f"Video {n}", date)
        for n in names
    ]


# -- identity ---------------------------------------------------------------------------------


def test_identity_comes_from_the_url_without_a_network_call() -> None:
    assert {url_identity(url) for url in SPELLINGS} == {f"Youtube:{VIDEO_ID}"}
    assert url_identity("https://www.youtube.com/playlist?list=PLabc") == "YoutubeTab:PLabc"
    assert url_identity("https://vimeo.com/12345") == url_identity(
        "https://player.vimeo.com/video/12345"
    )
    # No extractor but the generic one: the exact URL is the identity.
    assert url_identity("https://example.com/a.mp4") == "url:https://example.com/a.mp4"
    assert single_video(SPELLINGS[0]) is True
    assert single_video("https://example.com/a.mp4") is None
    assert info_identity({"ie_key": "Youtube", "id": "x"}) == "Youtube:x"
    assert info_identity({"extractor_key": "Generic", "id": "a"}) is None
    assert info_identity({"id": "x"}) is None


def test_one_video_under_several_spellings_is_one_job(db: DatabaseConfig) -> None:
    queue = JobQueue(db)
    first = queue.enqueue(SPELLINGS[0])
    assert first.created
    assert first.job.identity == f"Youtube:{VIDEO_ID}"
    for url in SPELLINGS[1:]:
        again = queue.enqueue(url)
        assert (again.job.id, again.created) == (first.job.id, False)
    many = queue.enqueue_many([*SPELLINGS, "https://youtu.be/other1"])
    assert [r.job.id for r in many[:4]] == [first.job.id] * 4
    assert [r.created for r in many] == [False, False, False, False, True]
    assert JobRepository(db).count() == 2


def test_a_new_batch_with_two_spellings_makes_one_job(db: DatabaseConfig) -> None:
    queue = JobQueue(db)
    results = queue.enqueue_many(SPELLINGS[:2])
    assert results[0].created and not results[1].created
    assert results[0].job.id == results[1].job.id
    assert JobRepository(db).count() == 1


def test_retry_is_refused_while_another_spelling_is_queued(db: DatabaseConfig) -> None:
    queue = JobQueue(db)
    job = queue.enqueue(SPELLINGS[0]).job
    assert queue.claim("w1", 30) is not None
    assert queue.fail(job.id, "w1", "gone") is not None
    other = queue.enqueue(SPELLINGS[1])
    assert other.created  # the first is no longer queued
    with pytest.raises(JobStateError, match=f"already queued as job {other.job.id}"):
        queue.retry(job.id)


def test_the_database_keeps_one_queued_job_per_identity(db: DatabaseConfig) -> None:
    queue = JobQueue(db)
    job = queue.enqueue(SPELLINGS[0]).job
    twin = job.to_dict() | {"id": "twin", "url": SPELLINGS[1]}
    row = tuple(twin[name] for name in job.field_names())
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), db.transaction() as conn:
        queue.insert_rows(conn, [row])
    assert JobRepository(db).count() == 1


# -- entries ----------------------------------------------------------------------------------


def test_entries_the_library_has_are_not_queued_again(db: DatabaseConfig) -> None:
    queue = JobQueue(db)
    done = queue.enqueue(f"https://youtu.be/{vid('b')}").job
    assert queue.claim("w1", 30) is not None
    queue.fail(done.id, "w1", "members only")  # any status counts as known
    created = queue.enqueue_entries(
        [*entries("a", "b", "c"), *entries("a")], subscription_id="sub1", format="480p"
    )
    assert [job.identity for job in created] == [f"Youtube:{vid('a')}", f"Youtube:{vid('c')}"]
    assert {(j.subscription_id, j.parent_id, j.format) for j in created} == {("sub1", None, "480p")}
    assert created[0].title == "Video a"
    assert queue.enqueue_entries(entries("a", "b", "c")) == []
    with pytest.raises(InvalidFormatError):
        queue.enqueue_entries(entries("d"), format="8k")
    known = queue.known_identities([f"Youtube:{vid('a')}", f"Youtube:{vid('d')}"])
    assert known == {f"Youtube:{vid('a')}"}


def test_entries_are_claimed_in_the_listings_order(db: DatabaseConfig) -> None:
    queue = JobQueue(db)
    names = [f"v{i:02d}" for i in range(12)]
    queue.enqueue_entries(entries(*names))
    claimed = [queue.claim("w1", 30) for _ in names]
    assert [job.identity for job in claimed if job] == [f"Youtube:{vid(n)}" for n in names]


def test_a_listing_completes_its_job_and_queues_its_children(db: DatabaseConfig) -> None:
    queue = JobQueue(db)
    known = queue.enqueue(f"https://youtu.be/{vid('b')}").job
    parent = queue.enqueue("https://www.youtube.com/playlist?list=PLx", format="audio-m4a").job
    claimed = queue.claim("w1", 30)
    assert claimed is not None and claimed.id == known.id  # oldest first
    claimed = queue.claim("w1", 30)
    assert claimed is not None and claimed.id == parent.id
    listing = Listing(True, "My list", entries("a", "b", "c"), {"uploader": "Someone"})

    done = queue.complete_listing(parent.id, "w1", listing, format="audio-m4a")

    assert done is not None
    finished, children = done
    assert (finished.status, finished.entries, finished.title) == ("completed", 3, "My list")
    assert finished.uploader == "Someone"
    assert [c.identity for c in children] == [f"Youtube:{vid('a')}", f"Youtube:{vid('c')}"]
    assert {(c.parent_id, c.format, c.status) for c in children} == {
        (parent.id, "audio-m4a", "pending")
    }
    # Not running under this worker any more: nothing changes.
    assert queue.complete_listing(parent.id, "w1", listing) is None
    jobs = JobRepository(db)
    counts = jobs.children_counts(parent.id)
    assert counts["pending"] == 2 and sum(counts.values()) == 2
    page = jobs.page(parent=parent.id, limit=1)
    assert [j.identity for j in page.items] == [f"Youtube:{vid('a')}"]
    pending = jobs.page(parent=parent.id, status="pending").items
    assert [j.id for j in pending] == [c.id for c in children]
    assert jobs.page(parent=parent.id, status="failed").items == []
    with pytest.raises(ValueError, match="either parent or subscription"):
        jobs.page(parent=parent.id, subscription="s")
    rest = jobs.page(parent=parent.id, cursor=page.next_cursor)
    assert [j.identity for j in rest.items] == [f"Youtube:{vid('c')}"]
    assert rest.next_cursor is None


# -- the worker, the API and the pages ----------------------------------------------------------


FEED_ITEMS = 3


def serve_feed(server: MediaServer, names: list[str]) -> str:
    """An RSS feed whose items are media files on the server; its URL."""
    items = []
    for day, name in enumerate(names, start=1):
        server.add(f"{name}.mp4", media_bytes(4000, name))
        link = server.url(f"{name}.mp4")
        items.append(
            f"<item><title>Episode {name}</title><link>{link}</link>"
            f'<enclosure url="{link}" type="video/mp4" length="4000"/>'
            f"<pubDate>Mon, {day:02d} Jun 2026 10:00:00 GMT</pubDate><guid>{name}</guid></item>"
        )
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>The Feed</title>'
        f"<link>http://feed.invalid/</link>{''.join(items)}</channel></rss>"
    )
    server.add("feed.xml", feed.encode(), content_type="application/rss+xml")
    return server.url("feed.xml")


def test_a_feed_is_listed_and_each_entry_downloaded(
    db: DatabaseConfig, database: str, downloads: Path, media_server: MediaServer
) -> None:
    queue = JobQueue(db)
    names = ["ep1", "ep2", "ep3"]
    feed = serve_feed(media_server, names)
    parent = queue.enqueue(feed).job

    make_worker(db).run(burst=True)

    parent = queue.get(parent.id)
    assert (parent.status, parent.entries, parent.title) == ("completed", 3, "The Feed")
    assert FileRepository(db).get_job_files(parent.id) == []  # a listing downloads nothing
    assert not (downloads / parent.id).exists()
    children = JobRepository(db).page(parent=parent.id).items
    assert [c.title for c in children] == ["ep1", "ep2", "ep3"]  # the file names, once downloaded
    assert [c.url for c in children] == [media_server.url(f"{n}.mp4") for n in names]
    assert {c.status for c in children} == {"completed"}
    assert [c.upload_date for c in children] == ["2026-06-01", "2026-06-02", "2026-06-03"]
    for child in children:
        types = {f.file_type for f in FileRepository(db).get_job_files(child.id)}
        assert "video" in types

    client = create_app({"TESTING": True, "DB_PATH": database}).test_client()
    api = client.get(f"/api/jobs/{parent.id}").get_json()
    assert api["playlist"] == {
        "entries": 3,
        "queued": 3,
        "known": 0,
        "done": 3,
        "children": {
            "pending": 0,
            "running": 0,
            "cancelling": 0,
            "completed": 3,
            "failed": 0,
            "cancelled": 0,
        },
    }
    listed = client.get(f"/api/jobs?parent={parent.id}").get_json()["items"]
    assert [item["id"] for item in listed] == [c.id for c in children]
    assert client.get("/api/jobs?parent=nope").status_code == 404
    html = client.get(f"/jobs/{parent.id}").get_data(as_text=True)
    assert '<span class="done">3 of 3 done</span>' in html
    for child in children:
        assert f'data-job-id="{child.id}"' in html
    child_page = client.get(f"/jobs/{children[0].id}").get_data(as_text=True)
    assert f'<dd class="parent"><a href="/jobs/{parent.id}">The Feed</a></dd>' in child_page
    assert "playlist of 3 entries" in client.get("/jobs").get_data(as_text=True)

    # Listed again (a new job: the first is finished), every entry is known.
    again = queue.enqueue(feed)
    assert again.created
    make_worker(db).run(burst=True)
    relisted = queue.get(again.job.id)
    assert (relisted.status, relisted.entries) == ("completed", 3)
    assert JobRepository(db).children_counts(relisted.id) == dict.fromkeys(
        ("pending", "running", "cancelling", "completed", "failed", "cancelled"), 0
    )
    api = client.get(f"/api/jobs/{relisted.id}").get_json()["playlist"]
    assert (api["queued"], api["known"], api["done"]) == (0, 3, 3)


def test_list_entries_downloads_and_writes_nothing(
    media_server: MediaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    feed = serve_feed(media_server, ["a1", "a2"])
    downloader = Downloader(TEST_DOWNLOADER_OPTIONS)
    allowed = AllowedHosts.parse("127.0.0.1")

    listing = downloader.list_entries(feed, allowed=allowed)

    assert (listing.playlist, listing.title) == (True, "The Feed")
    assert [(e.url, e.title, e.upload_date) for e in listing.entries] == [
        (media_server.url("a1.mp4"), "Episode a1", "2026-06-01"),
        (media_server.url("a2.mp4"), "Episode a2", "2026-06-02"),
    ]
    assert [e.identity for e in listing.entries] == [f"url:{e.url}" for e in listing.entries]
    single = downloader.list_entries(media_server.url("a1.mp4"), allowed=allowed)
    assert (single.playlist, single.entries) == (False, [])
    assert list(tmp_path.iterdir()) == []
    # The generic extractor's one look at the headers; a download would be a second GET.
    assert len(media_server.files["a1.mp4"].requests) == 1
    with pytest.raises(DownloadRefused):
        downloader.list_entries(feed)  # the loopback host is not allowed by default


# -- the benchmark ----------------------------------------------------------------------------


def test_the_playlist_benchmark_queues_every_entry_once(db: DatabaseConfig) -> None:
    prepare(db, 30)

    figures = measure(db, 120)

    assert (figures.jobs_before, figures.entries, figures.queued) == (30, 120, 120)
    assert figures.again_queued == 0
    assert figures.first_ms > 0 and figures.again_ms > 0
    jobs = JobRepository(db)
    assert jobs.count() == 30 + 2 + 120  # the dataset, two playlist jobs, the entries
    parents = [j for j in jobs.page(status="completed", limit=200).items if j.entries]
    assert sorted(p.entries for p in parents) == [120, 120]


@pytest.mark.sqlite_only
def test_bench_playlist_prints_and_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "playlist.json"
    result = CliRunner().invoke(
        main, ["bench", "playlist", "--jobs", "10", "--entries", "40", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "SQLite, 10 jobs before"
    assert "listing of 40 new entries" in result.output
    figures = json.loads(out.read_text())
    assert (figures["entries"], figures["queued"], figures["again_queued"]) == (40, 40, 0)


def test_cli_lists_a_playlists_entries(db: DatabaseConfig, database: str) -> None:
    queue = JobQueue(db)
    parent = queue.enqueue("https://www.youtube.com/playlist?list=PLcli").job
    assert queue.claim("w1", 30) is not None
    done = queue.complete_listing(parent.id, "w1", Listing(True, "Cli list", entries("p", "q")))
    assert done is not None
    children = done[1]

    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, [*database_option(database), "jobs", *args])

    listed = cli("--parent", parent.id)
    assert listed.exit_code == 0, listed.output
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [c.id for c in children]
    assert f"{parent.id}  completed" in cli().stdout
    assert "Cli list  [playlist: 2 entries]" in cli().stdout
    missing = cli("--parent", "nope")
    assert missing.exit_code == 2
    assert "no job with id 'nope'" in missing.output
