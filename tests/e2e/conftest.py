"""Browser tests: Debian's chromium driven by Playwright against ``collector serve``.

The server runs as a subprocess on a free loopback port with its own database and
download folder, and one in-process worker; media come from a loopback server the
tests start. Nothing here touches the network beyond 127.0.0.1. A missing browser
or Playwright fails the tests with the command that installs it (never a skip).
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from collector.config.database import DatabaseConfig
from collector.repositories import FileRepository, JobRepository

from .media import MediaServer, media_server

CHROMIUM = os.environ.get("COLLECTOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-proxy-server",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
WAIT_MS = 30_000  # Playwright's default wait for anything in these tests
TOKEN = "e2e-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"collector serve exited with {process.returncode}:\n{err}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"collector serve did not answer {url} within {timeout:.0f} s")
            time.sleep(0.1)


def tiny_png() -> bytes:
    """A 1x1 grey PNG (the served folder's thumbnail: the page must load it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\x80")  # filter byte, one pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def seed(db_path: Path) -> None:
    """A little history, so the dashboard has finished jobs of each kind to show."""
    db = DatabaseConfig(db_path)
    db.initialize_schema()
    jobs, files = JobRepository(db), FileRepository(db)
    done = [
        ("https://www.youtube.com/watch?v=aqz-KE-bpKQ", "youtube", "Big Buck Bunny (4K)"),
        ("https://www.instagram.com/p/C0ffee/", "instagram", "Morning espresso <3"),
        ("https://vimeo.com/76979871", "other", "The New Vimeo Player"),
    ]
    for url, platform, title in done:
        job = jobs.create_job(url, platform, title=title)
        jobs.complete_job(job.id)
        files.create_file(job.id, f"/srv/downloads/{job.id}/{title}.mp4", "video", 48_000_000)
        if platform == "youtube":  # its thumbnail, as yt-dlp's writethumbnail leaves one
            thumbnail = db_path.parent / "downloads" / job.id / "thumbnail.png"
            thumbnail.parent.mkdir(parents=True)
            thumbnail.write_bytes(tiny_png())
            files.create_file(job.id, str(thumbnail), "image", thumbnail.stat().st_size)
    failed = jobs.create_job("https://www.tiktok.com/@nobody/video/1", "tiktok")
    jobs.fail_job(failed.id, "HTTP Error 404: Not Found")
    cancelled = jobs.create_job("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "youtube")
    jobs.update_job_status(cancelled.id, "cancelled")
    db.close()


@pytest.fixture(scope="session")
def media() -> Iterator[MediaServer]:
    with media_server() as server:
        yield server


@contextmanager
def serving(root: Path, **extra_env: str) -> Iterator[str]:
    """``collector serve --workers 1`` on a free loopback port; its base URL."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("COLLECTOR_TOKEN", "COLLECTOR_SECRET_KEY", "http_proxy", "HTTP_PROXY")
    }
    env.update(
        COLLECTOR_DB_PATH=str(root / "collector.db"),
        COLLECTOR_DOWNLOAD_DIR=str(root / "downloads"),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        COLLECTOR_ALLOWED_HOSTS="127.0.0.1",  # the loopback media server, nothing else internal
        **extra_env,
    )
    command = [sys.executable, "-m", "collector", "serve", "--port", str(port), "--workers", "1"]
    log = (root / "serve.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/healthz", process, START_TIMEOUT)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server most tests use: no token (loopback), a little history seeded."""
    root = tmp_path_factory.mktemp("serve")
    seed(root / "collector.db")
    with serving(root) as base:
        yield base


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that wants COLLECTOR_TOKEN (TOKEN) from the API and a sign-in for pages."""
    with serving(tmp_path_factory.mktemp("token"), COLLECTOR_TOKEN=TOKEN) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"chromium not found at {CHROMIUM}: the browser tests need Debian's chromium. "
            "Install it with `apt-get install -y chromium chromium-driver` (./test.sh does), "
            "or point COLLECTOR_CHROMIUM at a chromium binary."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]' (./test.sh does)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@contextmanager
def open_page(browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh browser page; fails the test on any console error (a CSP violation too)."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.console_errors = errors  # a test that provokes an error on purpose clears it
    try:
        yield tab
    finally:
        context.close()
    assert errors == [], f"browser console errors: {errors}"


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    with open_page(browser, server) as tab:
        yield tab


@pytest.fixture
def token_page(browser: Any, token_server: str) -> Iterator[Any]:
    with open_page(browser, token_server) as tab:
        yield tab
