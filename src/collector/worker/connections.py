"""Cutting a download's connections from another thread, so a cancel is prompt.

yt-dlp reads from a blocking socket and has no cancel of its own: a download whose
server went silent only reaches a progress hook (where the worker can stop it) when
the socket times out, and yt-dlp then retries. So every response yt-dlp opens is
remembered, and stopping the job shuts their sockets down (``shutdown``, not
``close``: it wakes a blocked ``recv`` in the other thread and frees no descriptor
under it). A request started after the stop is refused before it is sent.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

import yt_dlp
from yt_dlp.networking.exceptions import NoSupportingHandlers

from .outbound import CheckedUrllibRH, OutboundGuard

logger = logging.getLogger(__name__)


class StopSignal(Protocol):
    """What the engine needs from the worker's JobControl."""

    def check(self) -> None:
        """Raise if the download must stop."""

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) once the download must stop."""


# Attributes that lead from a response towards its socket: yt-dlp's adapter (fp), an
# urllib3 response (_fp), http.client's buffered reader (fp, raw), SocketIO (_sock).
_TOWARDS_SOCKET = ("fp", "_fp", "raw", "_sock")
_MAX_DEPTH = 8


def socket_of(response: object) -> socket.socket | None:
    """The socket under a response yt-dlp opened, or None if it cannot be found.

    Follows the wrappers down (checked with yt-dlp's urllib handler, the one
    installed here); a response it cannot see through is simply not cut, and its
    download stops at the next progress hook or socket timeout as before.
    """
    node: Any = response
    for _ in range(_MAX_DEPTH):
        if isinstance(node, socket.socket):
            return node
        node = next(
            (child for name in _TOWARDS_SOCKET if (child := getattr(node, name, None)) is not None),
            None,
        )
        if node is None:
            return None
    return None


class Connections:
    """The responses one download has opened; ``cut()`` wakes whoever reads them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._responses: list[object] = []

    def add(self, response: object) -> None:
        with self._lock:
            self._responses = [r for r in self._responses if not getattr(r, "closed", False)]
            self._responses.append(response)

    def cut(self) -> None:
        with self._lock:
            responses = list(self._responses)
        for response in responses:
            sock = socket_of(response)
            if sock is None:
                continue
            # Already closed or never connected: nothing to wake.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        logger.debug("cut %d connection(s)", len(responses))

    def close(self) -> None:
        """Close every response (yt-dlp's generic extractor leaves its first one open)."""
        with self._lock:
            responses, self._responses = self._responses, []
        for response in responses:
            with contextlib.suppress(Exception):
                response.close()  # type: ignore[attr-defined]


class StoppableYoutubeDL(yt_dlp.YoutubeDL):
    """YoutubeDL whose requests check the stop signal and can be cut when it fires.

    Its only request handler is CheckedUrllibRH with ``guard``'s checks (by default
    no internal host is allowed): see worker/outbound.py.
    """

    def __init__(
        self,
        params: dict[str, Any],
        stop: StopSignal | None,
        guard: OutboundGuard | None = None,
    ) -> None:
        self.guard = guard or OutboundGuard()  # before YoutubeDL's init may open anything
        super().__init__(params)  # type: ignore[arg-type]
        self._stop = stop
        self._connections = Connections()
        if stop is not None:
            stop.on_stop(self._connections.cut)

    def urlopen(self, req: Any) -> Any:
        if self._stop is not None:
            self._stop.check()
        try:
            response = super().urlopen(req)
        except NoSupportingHandlers as exc:  # SOCKS, FTP, websockets: only checked HTTP(S)
            why = "; ".join(dict.fromkeys(e.msg for e in exc.unsupported_errors)) or exc.msg
            raise self.guard.refuse(
                f"refused: no checked connection can make this request ({why})"
            ) from exc
        self._connections.add(response)
        if self._stop is not None:
            try:
                self._stop.check()  # stopped while connecting: cut() may have missed it
            except BaseException:
                response.close()
                raise
        return response

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        """yt-dlp's director with one handler, whatever other handlers are installed."""
        checked = functools.partial(CheckedUrllibRH, guard=self.guard)
        return super().build_request_director([checked], preferences)

    def dl(
        self, name: str, info: dict[str, Any], subtitle: bool = False, test: bool = False
    ) -> Any:
        self.guard.check_downloader(info, self.params, to_stdout=name == "-")
        return super().dl(name, info, subtitle, test)

    def close(self) -> None:
        self._connections.close()
        super().close()
