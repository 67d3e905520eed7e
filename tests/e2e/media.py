"""A loopback media server for the browser tests: direct .mp4 links, fast or dribbling.

``/fast/<name>.mp4`` sends a small generated file in about four seconds (so a progress
bar has something to show), ``/steady/<name>.mp4`` a larger one in about ten, and
``/slow/<name>.mp4`` dribbles one for far longer than any test runs (something to
cancel). All are served as video/mp4 with a length, the way a CDN serves a direct
link. Every dribble ends when the server stops. ``/feed/<name>.xml`` is an RSS feed
whose items link ``/fast/<name>-<n>.mp4`` (something to subscribe to).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple


class Route(NamedTuple):
    size: int
    chunk: int
    delay: float


ROUTES = {
    "fast": Route(size=400_000, chunk=10_000, delay=0.1),  # about 4 s
    "steady": Route(size=2_000_000, chunk=20_000, delay=0.1),  # about 10 s
    "slow": Route(size=50_000_000, chunk=2_000, delay=0.2),  # hours
}


def payload(size: int) -> bytes:
    """Deterministic bytes that start like an MP4 file (an 'ftyp' box)."""
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    return (head + bytes(range(256)) * (size // 256 + 1))[:size]


class MediaServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), MediaHandler)
        self.stopping = threading.Event()
        self.requests: list[str] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{path.lstrip('/')}"


class MediaHandler(BaseHTTPRequestHandler):
    server: MediaServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        kind, _, name = self.path.lstrip("/").partition("/")
        if kind == "feed" and name.endswith(".xml"):
            self._feed(name.removesuffix(".xml"))
            return
        route = ROUTES.get(kind)
        if route is None or not name.endswith(".mp4"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(route.size))
        self.end_headers()
        self._dribble(payload(route.size), route)

    def _feed(self, name: str, items: int = 2) -> None:
        entries = "".join(
            f"<item><title>{name} {n}</title><link>{self.server.url(f'fast/{name}-{n}.mp4')}</link>"
            f"<guid>{name}-{n}</guid><pubDate>Mon, 0{n} Jun 2026 10:00:00 GMT</pubDate></item>"
            for n in range(1, items + 1)
        )
        body = (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {name}</title>'
            f"<link>http://feed.invalid/</link>{entries}</channel></rss>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dribble(self, data: bytes, route: Route) -> None:
        try:
            for start in range(0, len(data), route.chunk):
                if self.server.stopping.wait(route.delay):
                    return
                self.wfile.write(data[start : start + route.chunk])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return  # the downloader stopped reading: cancelled

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def media_server() -> Iterator[MediaServer]:
    server = MediaServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
