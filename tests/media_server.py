"""A loopback HTTP server serving media the tests generate (no network beyond 127.0.0.1).

yt-dlp's generic extractor takes a URL whose response is ``Content-Type: video/...``
as a direct link: one GET to look at the headers, one GET (with ``Range`` when it
resumes a partial file) to download. Routes:

- ``/media/<name>``: a registered file, whole or by byte range;
- ``/slow/<name>``: the same bytes dribbled ``chunk`` bytes every ``delay`` seconds
  (bounded: the delay and size are the test's, and shutdown ends every dribble);
- ``/flaky/<name>``: answers 503 to the first ``failures`` downloads, then serves;
- on every route, ``cut_after`` closes each response early (Content-Length unchanged);
- a file with ``credentials`` (``user:password``) wants them as HTTP basic auth (else 401);
- anything else: 404.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def media_bytes(size: int, seed: str = "clip") -> bytes:
    """Deterministic bytes of ``size``, distinct per seed (so a mix-up shows)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


@dataclass
class Media:
    """One served file; ``delay`` and ``failures`` may be changed while serving."""

    data: bytes
    content_type: str = "video/mp4"
    chunk: int = 4096
    delay: float = 0.0
    failures: int = 0
    cut_after: int | None = None  # close each response after this many body bytes
    redirect: str | None = None  # answer 302 to this URL instead of the data
    requests: list[str | None] = field(default_factory=list)  # each GET's Range header
    credentials: str | None = None  # "user:password" wanted as basic auth


class MediaServer(ThreadingHTTPServer):
    """Serves ``files`` by name; ``url(route, name)`` for tests to queue."""

    daemon_threads = True
    # Every dribble stops after this long even if nobody shuts the server down.
    MAX_DRIBBLE_SECONDS = 30.0

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, Media] = {}
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def add(self, name: str, data: bytes, **options: object) -> Media:
        media = Media(data, **options)  # type: ignore[arg-type]
        self.files[name] = media
        return media

    def url(self, name: str, route: str = "media") -> str:
        return f"http://127.0.0.1:{self.port}/{route}/{name}"

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: MediaServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        media = self.server.files.get(parts[1]) if len(parts) == 2 else None
        route = parts[0]
        if media is None or route not in ("media", "slow", "flaky"):
            return self._error(404, b"not found")
        if media.credentials is not None:
            wanted = "Basic " + base64.b64encode(media.credentials.encode()).decode()
            if self.headers.get("Authorization") != wanted:
                return self._error(401, b"unauthorized")
        with self.server.lock:
            media.requests.append(self.headers.get("Range"))
            if route == "flaky" and media.failures > 0:
                media.failures -= 1
                return self._error(503, b"try again later")
        if media.redirect is not None:
            self.send_response(302)
            self.send_header("Location", media.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        start, end = self._range(len(media.data))
        if start is None:
            return self._error(416, b"bad range")
        status = 206 if self.headers.get("Range") else 200
        self.send_response(status)
        self.send_header("Content-Type", media.content_type)
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(media.data)}")
        self.end_headers()
        if body:
            stop = end if media.cut_after is None else min(end, start + media.cut_after)
            self._write(media, start, stop, route == "slow")

    def _range(self, size: int) -> tuple[int | None, int]:
        header = self.headers.get("Range")
        if not header:
            return 0, size
        match = RANGE.match(header.strip())
        if not match or not (match.group(1) or match.group(2)):
            return None, 0
        if not match.group(1):  # the last N bytes
            return max(0, size - int(match.group(2))), size
        start = int(match.group(1))
        end = min(size, int(match.group(2)) + 1) if match.group(2) else size
        return (start, end) if start < end else (None, 0)

    def _write(self, media: Media, start: int, end: int, slow: bool) -> None:
        deadline = time.monotonic() + self.server.MAX_DRIBBLE_SECONDS
        position = start
        try:
            while position < end:
                pause = media.delay if slow else 0.0
                if pause and (self.server.stopping.wait(pause) or time.monotonic() > deadline):
                    break
                step = media.chunk if slow else end - position
                self.wfile.write(media.data[position : min(end, position + step)])
                self.wfile.flush()
                position += step
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (cancelled, killed): nothing to do
        self.close_connection = True

    def _error(self, status: int, message: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(message)))
        self.end_headers()
        self.wfile.write(message)


@pytest.fixture
def media_server() -> Iterator[MediaServer]:
    """A loopback media server on a free port, stopped (and every dribble ended) after."""
    server = MediaServer()
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="media-server", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(5)
