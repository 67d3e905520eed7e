"""The download engine: yt-dlp used as a library, one job's URL into one folder.

yt-dlp writes partial data under ``<folder>/.partial`` and moves each finished file
into ``<folder>`` (its ``paths`` option), so once a download succeeds everything in
the folder outside ``.partial`` is a file yt-dlp left in its final place. Progress
comes from yt-dlp's progress and post-processor hooks; the caller's callback may
raise to abort the download (yt-dlp lets exceptions from hooks through).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yt_dlp.networking.exceptions import (
    CertificateVerifyError,
    HTTPError,
    IncompleteRead,
    TransportError,
)
from yt_dlp.utils import ContentTooShortError, DownloadError

from .connections import StoppableYoutubeDL, StopSignal
from .errors import DownloadFailed, clean_message
from .files import PARTIAL_DIR, FoundFile, collect_files

logger = logging.getLogger(__name__)
ytdlp_logger = logging.getLogger("collector.worker.ytdlp")

RETRYABLE = (TransportError, IncompleteRead, ContentTooShortError, TimeoutError, ConnectionError)
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
GAVE_UP_RETRYING = "[download] Got error: "
OUTPUT_TEMPLATE = "%(title).150B [%(id).60B].%(ext)s"
DEFAULT_OPTIONS: dict[str, Any] = {
    "socket_timeout": 20,
    "retries": 3,
    "fragment_retries": 3,
    "writeinfojson": True,
    "writethumbnail": True,
}


@dataclass(frozen=True)
class ProgressUpdate:
    """Where a download stands: percent of the current file (None: unknown), bytes so far."""

    percent: int | None
    bytes_downloaded: int
    operation: str
    title: str | None = None


@dataclass
class DownloadResult:
    """What a finished download left: its title, the files, the bytes fetched."""

    title: str | None
    files: list[FoundFile]
    bytes_downloaded: int


ProgressCallback = Callable[[ProgressUpdate], None]


class _YtDlpLogger:
    """yt-dlp's messages into Python logging (errors are reported by the worker)."""

    def debug(self, message: str) -> None:
        ytdlp_logger.debug("%s", message)

    def info(self, message: str) -> None:
        ytdlp_logger.debug("%s", message)

    def warning(self, message: str) -> None:
        ytdlp_logger.warning("%s", clean_message(message))

    def error(self, message: str) -> None:
        ytdlp_logger.debug("%s", message)


@dataclass
class _Session:
    """The state of one download, fed by yt-dlp's hooks."""

    on_progress: ProgressCallback
    done_bytes: int = 0
    current_bytes: int = 0
    title: str | None = None
    media: set[str] = field(default_factory=set)

    def progress_hook(self, status: Mapping[str, Any]) -> None:
        info = status.get("info_dict") or {}
        self.title = info.get("title") or self.title
        name = Path(status.get("filename") or "").name
        downloaded = int(status.get("downloaded_bytes") or 0)
        if status.get("status") == "finished":
            self.done_bytes += int(status.get("total_bytes") or downloaded)
            self.current_bytes = 0
            self.on_progress(ProgressUpdate(100, self.done_bytes, f"downloaded {name}", self.title))
            return
        self.current_bytes = downloaded
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        percent = min(100, int(downloaded * 100 / total)) if total else None
        self.on_progress(
            ProgressUpdate(percent, self.bytes, f"downloading {name}".strip(), self.title)
        )

    def postprocessor_hook(self, status: Mapping[str, Any]) -> None:
        if status.get("status") == "started":
            step = status.get("postprocessor") or "post-processing"
            self.on_progress(ProgressUpdate(None, self.bytes, f"post-processing: {step}"))

    def post_hook(self, filename: str) -> None:
        """Called by yt-dlp with each media file's final path, after every postprocessor."""
        self.media.add(str(Path(filename).resolve()))

    @property
    def bytes(self) -> int:
        return self.done_bytes + self.current_bytes


class Downloader:
    """Downloads one URL into a folder with yt-dlp.

    ``options`` override yt-dlp's parameters (tests lower ``retries`` and
    ``socket_timeout``); the hooks, paths, output template and logger are always ours.
    """

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = {**DEFAULT_OPTIONS, **(options or {})}

    def params(self, folder: Path, session: _Session) -> dict[str, Any]:
        return {
            **self.options,
            "quiet": True,
            "noprogress": True,
            "color": "no_color",
            "logger": _YtDlpLogger(),
            "paths": {"home": str(folder), "temp": str(folder / PARTIAL_DIR)},
            "outtmpl": {"default": OUTPUT_TEMPLATE},
            "progress_hooks": [session.progress_hook],
            "postprocessor_hooks": [session.postprocessor_hook],
            "post_hooks": [session.post_hook],
            # yt-dlp's urllib handler, even where the requests package is installed (a
            # dev tool brings it): connections.py sees through its responses to cut them,
            # and its errors are the ones the worker reports.
            "compat_opts": {*self.options.get("compat_opts", ()), "prefer-legacy-http-handler"},
        }

    def download(
        self,
        url: str,
        folder: Path,
        on_progress: ProgressCallback,
        stop: StopSignal | None = None,
    ) -> DownloadResult:
        """Download ``url`` into ``folder``; DownloadFailed with a short message if it fails.

        Exceptions raised by ``on_progress`` or ``stop.check()`` propagate unchanged;
        when ``stop`` fires, the open connections are cut so a blocked read returns.
        """
        folder.mkdir(parents=True, exist_ok=True)
        session = _Session(on_progress)
        on_progress(ProgressUpdate(0, 0, "extracting media information"))
        try:
            with StoppableYoutubeDL(self.params(folder, session), stop) as ydl:
                info = ydl.extract_info(url, download=True)
        except DownloadError as exc:
            raise DownloadFailed(clean_message(str(exc)), transient=_transient(exc)) from exc
        title = (info or {}).get("title") or session.title
        on_progress(ProgressUpdate(100, session.bytes, "recording files", title))
        return DownloadResult(title, collect_files(folder, session.media), session.bytes)


def _transient(error: DownloadError) -> bool:
    """Whether the error yt-dlp gave up on is worth another try later."""
    cause = error.exc_info[1] if error.exc_info else None
    if cause is None:
        # yt-dlp's downloaders report what they stopped retrying (dropped connection,
        # short read, 5xx) as text only, without the exception.
        return GAVE_UP_RETRYING in str(error)
    return is_transient(cause)


def is_transient(error: BaseException | None) -> bool:
    """Whether an error is worth retrying later: timeouts, dropped connections, 5xx, 429."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, HTTPError):
            return error.status in TRANSIENT_HTTP
        if isinstance(error, CertificateVerifyError):
            return False
        if isinstance(error, RETRYABLE):
            return True
        cause = getattr(error, "cause", None)
        error = cause if isinstance(cause, BaseException) else error.__cause__
        seen += 1
    return False
