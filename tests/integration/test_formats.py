"""A format per job and the media's metadata: queue, settings, CLI, API, pages, worker.

The worker tests download real media made with ffmpeg from the loopback server: an
HLS master playlist with a 480p and a 720p rendition (yt-dlp's generic extractor
reads their heights), and an HTML page with a <video> and an og:image thumbnail.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from collector.app import create_app
from collector.cli import main
from collector.config.database import DatabaseConfig
from collector.models.file import File
from collector.models.formats import InvalidFormatError
from collector.models.job import Job
from collector.repositories import FileRepository, SettingsRepository
from collector.repositories.queue import JobQueue
from tests.media_server import MediaServer
from tests.worker_fixtures import database_option, make_worker

pytestmark = pytest.mark.both_engines

CHOICES = "best, 1080p, 720p, 480p, audio-m4a, audio-mp3"
URL = "https://www.youtube.com/watch?v=abc"


# -- the queue, settings, CLI and API ------------------------------------------------------


def test_a_job_keeps_its_format(db: DatabaseConfig, queue: JobQueue) -> None:
    job = queue.enqueue(URL, format="720p").job
    assert queue.get(job.id).format == "720p"
    other = queue.enqueue("https://example.com/v").job
    assert queue.get(other.id).format is None  # the default_format setting
    many = queue.enqueue_many(["https://example.com/a", "https://example.com/b"], "audio-mp3")
    assert [queue.get(r.job.id).format for r in many] == ["audio-mp3", "audio-mp3"]


def test_an_unknown_format_queues_nothing(db: DatabaseConfig, queue: JobQueue) -> None:
    with pytest.raises(InvalidFormatError, match=f"valid: {CHOICES}$"):
        queue.enqueue(URL, format="4k")
    with pytest.raises(InvalidFormatError):
        queue.enqueue_many([URL, "https://example.com/v"], format="4k")
    assert queue.find_queued(URL) is None


def test_the_default_format_setting(db: DatabaseConfig, database: str) -> None:
    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, [*database_option(database), *args])

    assert cli("settings", "default_format").stdout == "best\n"
    assert cli("settings", "default_format", "720p").stdout == "default_format = 720p\n"
    assert SettingsRepository(db).get("default_format") == "720p"
    refused = cli("settings", "default_format", "4k")
    assert refused.exit_code == 1
    assert f"unknown format '4k'; valid: {CHOICES}" in refused.output
    assert SettingsRepository(db).get("default_format") == "720p"


def test_cli_add_with_a_format(db: DatabaseConfig, database: str) -> None:
    runner = CliRunner()
    added = runner.invoke(main, [*database_option(database), "add", "--format", "480p", URL])
    assert added.exit_code == 0, added.output
    assert JobQueue(db).get(added.stdout.strip()).format == "480p"
    refused = runner.invoke(main, [*database_option(database), "add", "--format", "4k", URL + "x"])
    assert refused.exit_code == 2
    assert "'4k' is not one of 'best', '1080p', '720p', '480p', 'audio-m4a', 'audio-mp3'" in (
        refused.output
    )
    assert JobQueue(db).find_queued(URL + "x") is None


def test_api_queues_a_job_with_a_format(db: DatabaseConfig, database: str) -> None:
    client = create_app({"TESTING": True, "DB_PATH": database}).test_client()
    created = client.post("/api/jobs", json={"url": URL, "format": "audio-m4a"})
    assert created.status_code == 201
    assert created.get_json()["format"] == "audio-m4a"
    default = client.post("/api/jobs", json={"url": "https://example.com/v", "format": None})
    assert default.status_code == 201
    assert default.get_json()["format"] is None
    for bad in ("4k", 5, ["best"], ""):
        refused = client.post("/api/jobs", json={"url": "https://example.com/w", "format": bad})
        assert refused.status_code == 400, bad
        assert f"valid: {CHOICES}" in refused.get_json()["error"]
    assert JobQueue(db).find_queued("https://example.com/w") is None


def test_job_page_shows_metadata_and_thumbnail(db: DatabaseConfig, database: str) -> None:
    queue = JobQueue(db)
    job = queue.enqueue(URL, format="720p").job
    assert queue.claim("w1", 30) is not None
    metadata = {
        "uploader": "Some <Channel>",
        "duration": 3725,
        "upload_date": "2009-10-25",
        "extractor": "Youtube",
        "extractor_id": "abc",
    }
    files = [(Path("/d/clip [abc].mp4"), "video", 10), (Path("/d/clip [abc].jpg"), "image", 5)]
    done = queue.complete(job.id, "w1", files, title="Clip", metadata=metadata)
    assert done is not None
    assert {key: getattr(done, key) for key in metadata} == metadata
    with pytest.raises(ValueError, match="unknown metadata 'views'"):
        queue.complete(job.id, "w1", metadata={"views": 3})
    image = next(f for f in FileRepository(db).get_job_files(job.id) if f.file_type == "image")

    client = create_app({"TESTING": True, "DB_PATH": database}).test_client()
    html = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert f'<img class="thumbnail" src="/api/files/{image.id}/content"' in html
    assert '<dd class="uploader">Some &lt;Channel&gt;</dd>' in html
    assert '<dd class="duration">1:02:05</dd>' in html
    assert '<dd class="upload-date">2009-10-25</dd>' in html
    assert '<dd class="extractor">Youtube <code>abc</code></dd>' in html
    assert '<dd class="format">720p</dd>' in html
    api = client.get(f"/api/jobs/{job.id}").get_json()
    assert {key: api[key] for key in metadata} == metadata
    dashboard = client.get("/").get_data(as_text=True)
    assert '<select id="format" name="format">' in dashboard
    assert '<option value="audio-mp3">audio-mp3</option>' in dashboard


def test_the_dashboard_form_queues_with_a_format(db: DatabaseConfig, database: str) -> None:
    client = create_app({"TESTING": True, "DB_PATH": database}).test_client()

    def post(data: dict[str, str]) -> str:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(True))
        assert token is not None
        response = client.post("/jobs", data={"csrf_token": token.group(1), **data})
        assert response.status_code == 303
        return client.get("/").get_data(as_text=True)

    post({"urls": URL, "format": "audio-mp3"})
    assert JobQueue(db).find_queued(URL).format == "audio-mp3"
    post({"urls": "https://example.com/v", "format": ""})
    assert JobQueue(db).find_queued("https://example.com/v").format is None
    refused = post({"urls": "https://example.com/w", "format": "4k"})
    assert f"unknown format &#39;4k&#39;; valid: {CHOICES}" in refused
    assert JobQueue(db).find_queued("https://example.com/w") is None


# -- the worker, with real media ---------------------------------------------------------------


@dataclass(frozen=True)
class Clips:
    clip: bytes  # mp4: 320x240 video and a 440 Hz tone, 2 s
    v480: bytes  # MPEG-TS, 854x480 with the tone
    v720: bytes  # MPEG-TS, 1280x720 with the tone
    thumb: bytes  # jpg


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, timeout=60)


def probe(path: Path, entries: str) -> list[str]:
    """ffprobe's values for ``entries`` (e.g. stream=codec_type), one per stream."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout.split()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    folder = tmp_path_factory.mktemp("clips")
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"]
    video = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    for name, size, container in (
        ("clip", "320x240", "mp4"),
        ("v480", "854x480", "mpegts"),
        ("v720", "1280x720", "mpegts"),
    ):
        source = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate=10:duration=2"]
        ffmpeg(*source, *tone, *video, "-shortest", "-f", container, str(folder / name))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120", "-frames:v", "1", str(folder / "t.jpg"))
    return Clips(*((folder / n).read_bytes() for n in ("clip", "v480", "v720", "t.jpg")))


def serve_renditions(server: MediaServer, clips: Clips) -> str:
    """An HLS master playlist of two renditions (one segment each); its URL."""
    hls = "application/vnd.apple.mpegurl"
    for height, data in ((480, clips.v480), (720, clips.v720)):
        server.add(f"v{height}.ts", data, content_type="video/mp2t")
        playlist = (
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
            f"#EXTINF:2.0,\nv{height}.ts\n#EXT-X-ENDLIST\n"
        )
        server.add(f"v{height}.m3u8", playlist.encode(), content_type=hls)
    master = (
        "#EXTM3U\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=854x480\nv480.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=1280x720\nv720.m3u8\n"
    )
    server.add("master.m3u8", master.encode(), content_type=hls)
    return server.url("master.m3u8")


def serve_page(server: MediaServer, clips: Clips) -> str:
    """An HTML page with the clip in a <video> and a thumbnail (og:image); its URL."""
    server.add("clip.mp4", clips.clip)
    server.add("thumb.jpg", clips.thumb, content_type="image/jpeg")
    page = (
        '<html><head><meta property="og:title" content="Test clip">'
        f'<meta property="og:image" content="{server.url("thumb.jpg")}"></head>'
        f'<body><video src="{server.url("clip.mp4")}"></video></body></html>'
    )
    server.add("page", page.encode(), content_type="text/html; charset=utf-8")
    return server.url("page")


def run_one(
    db: DatabaseConfig, queue: JobQueue, url: str, format: str | None
) -> tuple[Job, list[File]]:
    job = queue.enqueue(url, format=format).job
    assert make_worker(db).run(burst=True) == 1
    done = queue.get(job.id)
    assert done.status == "completed", done.error_message
    return done, FileRepository(db).get_job_files(job.id)


def test_a_480p_job_takes_the_480p_rendition_only(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    clips: Clips,
) -> None:
    url = serve_renditions(media_server, clips)
    job, files = run_one(db, queue, url, "480p")

    videos = [f for f in files if f.file_type == "video"]
    assert len(videos) == 1
    assert probe(Path(videos[0].file_path), "stream=height") == ["480"]
    assert media_server.files["v480.ts"].requests != []
    assert media_server.files["v720.ts"].requests == []  # the larger one never fetched
    assert (job.extractor, job.extractor_id, job.duration) == ("Generic", "master", 2)


def test_best_takes_the_largest_rendition(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    clips: Clips,
) -> None:
    url = serve_renditions(media_server, clips)
    _, files = run_one(db, queue, url, "best")
    (video,) = [f for f in files if f.file_type == "video"]
    assert probe(Path(video.file_path), "stream=height") == ["720"]
    assert media_server.files["v480.ts"].requests == []


def test_an_audio_job_keeps_the_audio_and_the_thumbnail(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    clips: Clips,
) -> None:
    url = serve_page(media_server, clips)
    job, files = run_one(db, queue, url, "audio-m4a")

    kinds = sorted((f.file_type, Path(f.file_path).suffix) for f in files)
    assert kinds == [("audio", ".m4a"), ("image", ".jpg"), ("metadata", ".json")]
    audio = next(f for f in files if f.file_type == "audio")
    assert probe(Path(audio.file_path), "stream=codec_type") == ["audio"]
    assert Path(audio.file_path).is_file() and audio.file_size > 0
    info = json.loads(
        Path(next(f for f in files if f.file_type == "metadata").file_path).read_text()
    )
    assert (job.title, job.extractor, job.extractor_id) == (
        info["title"],
        "HTML5MediaEmbed",
        info["id"],
    )


def test_the_default_format_setting_applies_to_a_job_without_one(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    clips: Clips,
) -> None:
    media_server.add("clip.mp4", clips.clip)
    SettingsRepository(db).set("default_format", "audio-mp3")
    job, files = run_one(db, queue, media_server.url("clip.mp4"), None)

    assert job.format is None
    (audio,) = [f for f in files if f.file_type == "audio"]
    assert Path(audio.file_path).suffix == ".mp3"
    assert probe(Path(audio.file_path), "stream=codec_name") == ["mp3"]
    assert not [f for f in files if f.file_type == "video"]
    assert (job.extractor, job.extractor_id) == ("Generic", "clip")
