"""The download engine: yt-dlp used as a library, one job's URL into one folder.

yt-dlp writes partial data under ``<folder>/.partial`` and moves each finished file
into ``<folder>`` (its ``paths`` option), so once a download succeeds everything in
the folder outside ``.partial`` is a file yt-dlp left in its final place. Progress
comes from yt-dlp's progress and post-processor hooks; the caller's callback may
raise to abort the download (yt-dlp lets exceptions from hooks through).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yt_dlp.networking.exceptions import (
    CertificateVerifyError,
    HTTPError,
    IncompleteRead,
    TransportError,
)
from yt_dlp.postprocessor.metadataparser import MetadataParserPP
from yt_dlp.utils import ContentTooShortError, DownloadError, unsmuggle_url

from collector.models.entries import Entry, Listing
from collector.models.formats import AUDIO_CODECS, DEFAULT_FORMAT, MAX_HEIGHTS, check_format
from collector.models.outbound import NO_HOSTS, AllowedHosts
from collector.models.redaction import MASK, redact_text, redact_url, secret_values
from collector.models.urls import InvalidURLError, validate_url
from collector.repositories.identity import info_identity, url_identity

from .connections import StoppableYoutubeDL, StopSignal
from .errors import DownloadFailed, DownloadRefused, clean_message
from .files import PARTIAL_DIR, FoundFile, collect_files
from .outbound import OutboundGuard, OutboundRefused

logger = logging.getLogger(__name__)
ytdlp_logger = logging.getLogger("collector.worker.ytdlp")

RETRYABLE = (TransportError, IncompleteRead, ContentTooShortError, TimeoutError, ConnectionError)
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
GAVE_UP_RETRYING = "[download] Got error: "
OUTPUT_TEMPLATE = "%(title).150B [%(id).60B].%(ext)s"
NAMED_FIELDS = ("title", "id")  # the fields OUTPUT_TEMPLATE names files with
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
    """What a finished download left: its title, the files, the bytes fetched, and what
    the extracted information said of the media (``media_metadata``: the jobs columns
    uploader, duration, upload_date, extractor, extractor_id, each only when known).

    A URL that is a playlist or channel downloads nothing: ``listing`` holds its
    entries, to be queued as jobs of their own."""

    title: str | None
    files: list[FoundFile]
    bytes_downloaded: int
    metadata: dict[str, Any] = field(default_factory=dict)
    listing: Listing | None = None


ProgressCallback = Callable[[ProgressUpdate], None]


class _YtDlpLogger:
    """yt-dlp's messages into Python logging (errors are reported by the worker).

    yt-dlp names the URL it works on in its messages, and the media id it took
    from the URL (``[generic] get?token=...: Downloading webpage``): URLs are
    redacted and this download's secrets masked wherever they appear.
    """

    def __init__(self, url: str = "") -> None:
        secrets = secret_values(url)
        self.secrets = re.compile("|".join(map(re.escape, secrets))) if secrets else None

    def shown(self, message: str) -> str:
        message = redact_text(message)
        return self.secrets.sub(MASK, message) if self.secrets else message

    def debug(self, message: str) -> None:
        ytdlp_logger.debug("%s", self.shown(message))

    def info(self, message: str) -> None:
        ytdlp_logger.debug("%s", self.shown(message))

    def warning(self, message: str) -> None:
        ytdlp_logger.warning("%s", self.shown(clean_message(message)))

    def error(self, message: str) -> None:
        ytdlp_logger.debug("%s", self.shown(message))


@dataclass
class _Session:
    """The state of one download, fed by yt-dlp's hooks."""

    on_progress: ProgressCallback
    url: str = ""
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
            # A playlist's own info.json and thumbnail are not written: its entries
            # become jobs of their own, each with its files.
            "allow_playlist_files": False,
            "color": "no_color",
            "logger": _YtDlpLogger(session.url),
            "paths": {"home": str(folder), "temp": str(folder / PARTIAL_DIR)},
            "outtmpl": {"default": OUTPUT_TEMPLATE},
            "progress_hooks": [session.progress_hook],
            "postprocessor_hooks": [session.postprocessor_hook],
            "post_hooks": [session.post_hook],
        }

    def download(
        self,
        url: str,
        folder: Path,
        on_progress: ProgressCallback,
        stop: StopSignal | None = None,
        allowed: AllowedHosts = NO_HOSTS,
        format: str = DEFAULT_FORMAT,
    ) -> DownloadResult:
        """Download ``url`` into ``folder``; DownloadFailed with a short message if it fails.

        ``format`` is one of models.formats.FORMATS (see ``format_options``).

        Exceptions raised by ``on_progress`` or ``stop.check()`` propagate unchanged;
        when ``stop`` fires, the open connections are cut so a blocked read returns.
        A connection to an internal address not in ``allowed`` is refused, and the
        download fails (not transient) with the refusal as its reason.
        """
        folder.mkdir(parents=True, exist_ok=True)
        session = _Session(on_progress, url)
        on_progress(ProgressUpdate(0, 0, "extracting media information"))
        chosen = format_options(format)
        postprocessors = [*_scrub_names(url), *chosen.pop("postprocessors", [])]
        params = {**self.params(folder, session), **chosen, "postprocessors": postprocessors}
        guard = OutboundGuard(allowed)
        with _failures(guard), StoppableYoutubeDL(params, stop, guard) as ydl:
            info = _extract(ydl, url)
            if _is_playlist(info):
                listing = _listing(info, url, allowed)
                found = len(listing.entries)
                on_progress(ProgressUpdate(100, 0, f"listed {found} entries", listing.title))
                return DownloadResult(listing.title, [], 0, listing.metadata, listing)
            ydl.params["extract_flat"] = False
            info = ydl.process_ie_result(info, download=True)
        title = (info or {}).get("title") or session.title
        on_progress(ProgressUpdate(100, session.bytes, "recording files", title))
        files = collect_files(folder, session.media)
        return DownloadResult(title, files, session.bytes, media_metadata(info or {}, url))

    def list_entries(
        self, url: str, stop: StopSignal | None = None, allowed: AllowedHosts = NO_HOSTS
    ) -> Listing:
        """What ``url`` lists, without downloading anything: a playlist's or channel's
        entries (``Listing.playlist``), or, for one video, no entries. DownloadFailed
        (or DownloadRefused) if it cannot be listed."""
        session = _Session(lambda update: None, url)
        params = {
            **self.params(Path("."), session),
            "postprocessors": _scrub_names(url),
            "skip_download": True,
            "writeinfojson": False,
            "writethumbnail": False,
        }
        guard = OutboundGuard(allowed)
        with _failures(guard), StoppableYoutubeDL(params, stop, guard) as ydl:
            info = _extract(ydl, url)
            if _is_playlist(info):
                return _listing(info, url, allowed)
            return Listing(False, info.get("title"), [], media_metadata(info, url))


@contextmanager
def _failures(guard: OutboundGuard) -> Iterator[None]:
    """yt-dlp's errors as DownloadFailed (transient or not), or DownloadRefused."""
    try:
        yield
    except (DownloadError, OutboundRefused) as exc:
        if guard.refused is not None:
            raise DownloadRefused(guard.refused) from exc
        raise DownloadFailed(clean_message(str(exc)), transient=_transient(exc)) from exc


def _extract(ydl: StoppableYoutubeDL, url: str) -> dict[str, Any]:
    """The URL's information as yt-dlp's extractor gives it, a playlist's entries flat.

    The extractor runs first without processing (``process=False``); a redirect or a
    playlist is then processed with ``extract_flat="in_playlist"``, which resolves the
    redirect and lists a playlist's entries as they are (their URL, id and title)
    without extracting each one. A video's information is left for the caller to
    process with the download: yt-dlp's own ``extract_info`` is these two steps.
    """
    ydl.params["extract_flat"] = "in_playlist"
    info = ydl.extract_info(url, download=False, process=False) or {}
    if info.get("_type") in ("playlist", "url", "url_transparent"):
        info = ydl.process_ie_result(info, download=False) or {}
    return info


def _is_playlist(info: Mapping[str, Any]) -> bool:
    return info.get("_type") == "playlist"


def _listing(info: Mapping[str, Any], url: str, allowed: AllowedHosts) -> Listing:
    """A flat playlist's entries that can be queued, in the playlist's order.

    An entry whose URL could not be queued (not http(s), an internal host not
    allowed) is left out and logged, as is an entry listed twice.
    """
    entries: list[Entry] = []
    seen: set[str] = set()
    for item in info.get("entries") or []:
        if not isinstance(item, Mapping):
            continue
        # yt-dlp may smuggle data for the entry's extractor into its URL's fragment
        # (a feed item's guid): the URL queued and shown is the plain one.
        entry_url, _ = unsmuggle_url(item.get("url") or item.get("webpage_url") or "")
        try:
            entry_url = validate_url(entry_url, allowed)
        except InvalidURLError as exc:
            logger.info("playlist %s: entry left out: %s", redact_url(url), exc)
            continue
        identity = info_identity(item) or url_identity(entry_url)
        if identity in seen:
            continue
        seen.add(identity)
        entries.append(Entry(entry_url, identity, _text(item.get("title")), _date(item)))
    metadata = media_metadata(info, url)
    metadata.pop("duration", None)
    return Listing(True, _text(info.get("title")), entries, metadata)


def _text(value: Any) -> str | None:
    return str(value).replace("\x00", "")[:500] if value not in (None, "") else None


def _date(item: Mapping[str, Any]) -> str | None:
    """An entry's upload date as YYYY-MM-DD: its upload_date, else its timestamp's day."""
    date = item.get("upload_date")
    if isinstance(date, str) and re.fullmatch(r"\d{8}", date):
        return f"{date[:4]}-{date[4:6]}-{date[6:]}"
    stamp = item.get("timestamp") or item.get("release_timestamp")
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp, UTC).date().isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    return None


def format_options(format: str) -> dict[str, Any]:
    """yt-dlp's options for one of models.formats.FORMATS (InvalidFormatError otherwise).

    Video: the best video stream with the best audio stream, merged with ffmpeg into
    mp4 (mkv when the streams do not fit mp4), else the best file holding both; a
    height cap applies to both. A format whose height is unknown (a direct link)
    is taken only when no format of a known height fits. Audio: the best audio
    stream (else the best file), its audio extracted with ffmpeg as m4a or mp3.
    """
    check_format(format)
    codec = AUDIO_CODECS.get(format)
    if codec is not None:
        return {
            "format": "ba/b",
            "postprocessors": [{"key": "FFmpegExtractAudio", "preferredcodec": codec}],
        }
    height = MAX_HEIGHTS.get(format)
    if height is None:
        selector = "bv*+ba/b"
    else:
        capped = f"[height<={height}]"
        selector = f"bv*{capped}+ba/b{capped}/b[height<=?{height}]"
    return {"format": selector, "merge_output_format": "mp4/mkv"}


def media_metadata(info: Mapping[str, Any], url: str = "") -> dict[str, Any]:
    """The jobs columns the extracted information fills: uploader (or channel),
    duration (whole seconds), upload_date (YYYY-MM-DD), extractor and its id.

    Only the fields yt-dlp knew; text is cut to 500 characters, and the URL's
    secrets are masked (a generic link's id is taken from its URL).
    """
    secrets = secret_values(url)
    pattern = re.compile("|".join(map(re.escape, secrets))) if secrets else None

    def text(value: Any) -> str | None:
        if value is None or value == "":
            return None
        shown = str(value).replace("\x00", "")[:500]
        return pattern.sub(MASK, shown) if pattern else shown

    found: dict[str, Any] = {
        "uploader": text(info.get("uploader") or info.get("channel") or info.get("creator")),
        "extractor": text(info.get("extractor_key") or info.get("extractor")),
        "extractor_id": text(info.get("id")),
    }
    duration = info.get("duration")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration >= 0:
        found["duration"] = round(duration)
    date = info.get("upload_date")
    if isinstance(date, str) and re.fullmatch(r"\d{8}", date):
        found["upload_date"] = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    return {key: value for key, value in found.items() if value is not None}


def _scrub_names(url: str) -> list[dict[str, Any]]:
    """yt-dlp post-processors masking the URL's secrets in the fields file names use.

    A generic link's id is the last segment of its URL, query string included when
    the segment has no extension (``/get?token=...``): the file would be named after
    the token. Run before the download, so no file ever bears it.
    """
    secrets = secret_values(url)
    if not secrets:
        return []
    pattern = "|".join(re.escape(secret) for secret in secrets)
    actions = [(MetadataParserPP.Actions.REPLACE, key, pattern, MASK) for key in NAMED_FIELDS]
    return [{"key": "MetadataParser", "actions": actions, "when": "pre_process"}]


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
