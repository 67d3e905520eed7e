"""In a real browser: a downloaded video plays on its job page, seeks by byte range, and
the bytes the browser receives are the file's.

The video is made here with ffmpeg (Debian's package; ./test.sh installs it), placed in
the server's download folder and recorded in its library, as a worker would have.
Without ffmpeg these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from collector.config.database import DatabaseConfig
from collector.repositories import FileRepository, JobRepository

from .conftest import ARTIFACTS, open_page, serving

FFMPEG = os.environ.get("COLLECTOR_FFMPEG") or shutil.which("ffmpeg")
SECONDS = 20
SEEK_TO = 15.0
NAME = "Été au lac — clip.mp4"


class Served(NamedTuple):
    base: str
    job_id: str
    file_id: str
    data: bytes


def make_video(path: Path, seconds: int = SECONDS) -> bytes:
    """An H.264/AAC MP4 of ``seconds`` (about 260 KB a second, a key frame every second,
    the index first as a streaming site's files have it); its bytes."""
    if FFMPEG is None:
        message = "ffmpeg not found: install it with `apt-get install -y ffmpeg` (./test.sh does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        FFMPEG,
        *("-hide_banner", "-loglevel", "error", "-y"),
        *("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25,noise=alls=30:allf=t"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"),
        *("-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
        *("-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M", "-g", "25"),
        *("-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", str(path)),
    ]
    subprocess.run(command, check=True, timeout=120)
    return path.read_bytes()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``collector serve`` whose library holds one finished job with a video."""
    root = tmp_path_factory.mktemp("playback")
    db = DatabaseConfig(root / "collector.db")
    db.initialize_schema()
    jobs = JobRepository(db)
    job = jobs.create_job("https://example.com/lake", "other", title="A day at the lake")
    path = (root / "downloads" / job.id / NAME).resolve()
    data = make_video(path)
    jobs.complete_job(job.id)
    file = FileRepository(db).create_file(job.id, str(path), "video", len(data))
    db.close()
    with serving(root) as base:
        yield Served(base, job.id, file.id, data)


def fetch_range(page: Any, url: str, header: str) -> tuple[int, str | None, bytes]:
    """The status, Content-Range and body of a fetch with ``Range: header``, in the page."""
    status, content_range, body = page.evaluate(
        """async ([url, range]) => {
            const response = await fetch(url, { headers: { Range: range } });
            const bytes = new Uint8Array(await response.arrayBuffer());
            return [response.status, response.headers.get("content-range"), Array.from(bytes)];
        }""",
        [url, header],
    )
    return status, content_range, bytes(body)


def test_the_video_plays_seeks_by_range_and_its_bytes_are_the_file_s(
    browser: Any, served: Served
) -> None:
    content = f"/api/files/{served.file_id}/content"
    size = len(served.data)
    answers: list[tuple[int, str | None, str | None]] = []
    with open_page(browser, served.base) as page:

        def seen(response: Any) -> None:
            if response.url.endswith(content):
                answers.append(
                    (
                        response.status,
                        response.request.headers.get("range"),
                        response.headers.get("content-range"),
                    )
                )

        page.on("response", seen)
        page.goto(f"/jobs/{served.job_id}")
        video = page.locator(f'figure.player[data-file-id="{served.file_id}"] video')
        assert video.get_attribute("preload") == "metadata"
        assert video.get_attribute("src") == content
        handle = video.element_handle()
        assert page.evaluate('() => document.createElement("video").canPlayType("video/mp4")')

        # preload="metadata": the duration is known before anything plays.
        page.wait_for_function("v => v.readyState >= 1 && v.duration > 0", arg=handle)
        duration = page.evaluate("v => v.duration", handle)
        assert abs(duration - SECONDS) < 0.5
        assert answers and all(status == 206 for status, _, _ in answers)
        assert answers[0][1] == "bytes=0-"  # the browser asks by range from the start

        # Seek far into the file before playing, then play on from there.
        page.evaluate(
            """([v, to]) => new Promise((resolve) => {
                v.addEventListener("seeked", () => resolve(), { once: true });
                v.currentTime = to;
            })""",
            [handle, SEEK_TO],
        )
        page.evaluate("v => { v.muted = true; return v.play(); }", handle)
        page.wait_for_function(
            f"v => v.readyState >= 3 && v.currentTime > {SEEK_TO + 0.5}", arg=handle
        )
        state = page.evaluate(
            "v => ({ time: v.currentTime, paused: v.paused, error: v.error && v.error.code })",
            handle,
        )
        assert state["error"] is None and not state["paused"]
        assert SEEK_TO < state["time"] < SECONDS
        # The seek was served by a range that starts past the first part of the file.
        starts = [int(r.split(" ")[1].split("-")[0]) for _, _, r in answers if r]
        assert max(starts) > size // 2, answers
        for status, _, content_range in answers:
            assert status == 206
            assert content_range is not None and content_range.endswith(f"/{size}")

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "job-player.png"), full_page=True)

        # The bytes a range request receives are the file's, exactly.
        for header, start, end in (
            ("bytes=0-1023", 0, 1023),
            (f"bytes={size // 2}-{size // 2 + 65_535}", size // 2, size // 2 + 65_535),
            ("bytes=-4096", size - 4096, size - 1),
        ):
            status, content_range, body = fetch_range(page, content, header)
            assert status == 206
            assert content_range == f"bytes {start}-{end}/{size}"
            assert body == served.data[start : end + 1]
        whole = page.evaluate(
            """async (url) => {
                const body = await (await fetch(url)).arrayBuffer();
                const digest = await crypto.subtle.digest("SHA-256", body);
                return [body.byteLength, Array.from(new Uint8Array(digest))];
            }""",
            content,
        )
        assert whole == [size, list(hashlib.sha256(served.data).digest())]


def test_the_download_link_saves_the_file_under_its_name(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    with open_page(browser, served.base) as page:
        page.goto(f"/jobs/{served.job_id}")
        link = page.locator(f'#job-files tr[data-file-id="{served.file_id}"] a.download')
        with page.expect_download() as saving:
            link.click()
        download = saving.value
        target = tmp_path / "saved.mp4"
        download.save_as(target)

    assert download.suggested_filename == NAME
    assert target.read_bytes() == served.data
