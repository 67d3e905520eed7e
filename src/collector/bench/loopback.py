"""A loopback media server for the load and fault runs: any clip name, fixed bytes.

``/clip/<name>`` answers ``Content-Type: video/mp4`` with ``size`` deterministic
bytes (ranges honoured), so yt-dlp's generic extractor downloads it as a direct
link; ``delay`` seconds between chunks makes a download last long enough to be
interrupted. Every GET is counted per name, so a run can tell how often each clip
was fetched. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
CHUNK = 16_384


class LoopbackMedia(ThreadingHTTPServer):
    """Serves ``/clip/<name>`` on a free loopback port until ``stop()``."""

    daemon_threads = True

    def __init__(self, size: int = 64_000, delay: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.size = size
        self.delay = delay
        self.body = bytes(i % 251 for i in range(size))
        self.gets: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> LoopbackMedia:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/clip/{name}.mp4"


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackMedia
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if not path.startswith("/clip/"):
            self.send_error(404)
            return
        with self.server.lock:
            self.server.gets[path.removeprefix("/clip/")] += 1
        size = self.server.size
        start, end = 0, size
        match = RANGE.match(self.headers.get("Range", "").strip())
        if match:
            start = int(match.group(1))
            end = min(size, int(match.group(2)) + 1) if match.group(2) else size
        self.send_response(206 if match else 200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(max(0, end - start)))
        self.send_header("Accept-Ranges", "bytes")
        if match:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        try:
            for offset in range(start, end, CHUNK):
                if self.server.delay and self.server.stopping.wait(self.server.delay):
                    break
                self.wfile.write(self.server.body[offset : min(end, offset + CHUNK)])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the worker went away (killed, cancelled)
        self.close_connection = True
