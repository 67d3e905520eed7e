"""A library file's bytes, for the browser's player and download links.

Only a file recorded in the library is served, looked up by its id: no path a client
sends ever reaches the file system. The recorded path must lie inside the download
folder (the ``download_dir`` setting), both as written and once every symbolic link
in it is resolved, so a row or a link pointing elsewhere is refused before anything
is opened. Ranges, If-Range, ETag and Last-Modified are werkzeug's
(``send_file(conditional=True)``): one range per request gets a 206; a range that
starts past the end, several ranges, or a Range header that does not parse a 416.
"""

from __future__ import annotations

import logging
import mimetypes
import os
from pathlib import Path, PurePath

from flask import Response, abort, jsonify, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header

from collector.config.database import get_db_config
from collector.config.settings import Config
from collector.models.file import File
from collector.models.values import quoted
from collector.repositories import FileRepository
from collector.repositories.settings_repository import load_settings

from . import params

logger = logging.getLogger(__name__)

# The types of the extensions the worker sorts files by (worker/files.py), fixed here:
# the system's mime.types differs between hosts (some map .ts to a translation file).
CONTENT_TYPES = {
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
    "flv": "video/x-flv",
    "3gp": "video/3gpp",
    "ts": "video/mp2t",
    "mpg": "video/mpeg",
    "mpeg": "video/mpeg",
    "m4a": "audio/mp4",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "weba": "audio/webm",
    "mka": "audio/x-matroska",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "avif": "image/avif",
    "heic": "image/heic",
    "bmp": "image/bmp",
    "json": "application/json",
    "description": "text/plain",
    "txt": "text/plain",
    "lrc": "text/plain",
    "vtt": "text/vtt",
    "srt": "text/plain",
    "ass": "text/plain",
    "xml": "application/xml",
    "url": "text/plain",
}
FALLBACK_TYPE = "application/octet-stream"
SERVED_FAMILIES = frozenset({"video", "audio", "image", "text", "application"})
# Shown in the browser when asked (inline): media, raster images and plain text. Anything
# else (HTML, SVG, XML: a document that could run script on this site) is an attachment.
INLINE_PREFIXES = ("video/", "audio/", "image/")
INLINE_TYPES = frozenset({"text/plain", "text/vtt", "application/json"})
NOT_INLINE = frozenset({"image/svg+xml"})
# A file opened on its own runs nothing and loads nothing (sandbox: no script, no forms).
FILE_POLICY = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


UNSATISFIABLE = (
    "ask for one range within the file: bytes=<first>-[<last>] or bytes=-<suffix length>"
)


class NotServed(Exception):
    """Why a recorded file is not served: the message, and the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def content_type(name: str) -> str:
    """The Content-Type of a file name: the table above, else mimetypes, else bytes."""
    extension = PurePath(name).suffix.lower().lstrip(".")
    known = CONTENT_TYPES.get(extension)
    if known:
        return known
    guessed, _ = mimetypes.guess_type(name, strict=True)
    # Kept to the families the API document lists (a host's mime.types has others).
    if guessed and guessed.split("/")[0] in SERVED_FAMILIES:
        return guessed
    return FALLBACK_TYPE


def shown_inline(mimetype: str) -> bool:
    """Whether a type may be shown by the browser (else it is always an attachment)."""
    if mimetype in NOT_INLINE:
        return False
    return mimetype.startswith(INLINE_PREFIXES) or mimetype in INLINE_TYPES


def _inside(path: Path, folders: tuple[Path, ...]) -> bool:
    return any(path != folder and path.is_relative_to(folder) for folder in folders)


def located(record: File, download_dir: Path) -> Path:
    """The real path of a recorded file inside ``download_dir``; NotServed if it is not.

    The recorded path is checked as written (normalised, ``..`` removed) before the file
    system is asked anything, then again once resolved: a symbolic link inside the folder
    that points out of it is refused as well.
    """
    folder = Path(os.path.abspath(download_dir))
    root = folder.resolve()
    recorded = Path(record.file_path)
    if not recorded.is_absolute():
        recorded = folder / recorded
    written = Path(os.path.normpath(recorded))
    name = quoted(PurePath(record.file_path).name)
    outside = NotServed(f"file {name} is outside the download folder: not served", 403)
    if not _inside(written, (folder, root)):
        raise outside
    try:
        real = written.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise _missing(record, name) from None
    except (OSError, RuntimeError, ValueError) as exc:  # a link loop, no permission, a NUL
        logger.warning("file %s cannot be resolved: %s", record.id, exc)
        raise _unreadable(name) from None
    if not _inside(real, (root,)):
        raise outside
    if not real.is_file():
        raise _missing(record, name)
    return real


def _unreadable(name: str) -> NotServed:
    return NotServed(f"file {name} cannot be read on this host", 404)


def _missing(record: File, name: str) -> NotServed:
    here = Config.host_name()
    if record.host and record.host != here:
        return NotServed(
            f"file {name} is not on this host ({quoted(here)}): it was downloaded on "
            f"{quoted(record.host)}",
            404,
        )
    return NotServed(f"file {name} is no longer on disk", 404)


def _whole_for_a_long_suffix(path: Path) -> None:
    """``bytes=-N`` with N past the size means the whole file (RFC 9110, 14.1.2), which
    werkzeug answers with a 416: asked as ``bytes=0-`` instead."""
    asked = parse_range_header(request.environ.get("HTTP_RANGE"))
    if asked is None or asked.units != "bytes" or len(asked.ranges) != 1:
        return
    start, end = asked.ranges[0]
    if end is None and start < 0 and -start > path.stat().st_size:
        request.environ["HTTP_RANGE"] = "bytes=0-"


def _range_to_the_server(response: Response, path: Path) -> None:
    """A 206's bytes sent by the server's ``wsgi.file_wrapper``, not by a request thread.

    werkzeug cuts a range out of the file with an iterator the request thread runs to
    the end; a player that stops reading once it has buffered enough (a paused video)
    then holds that thread, and eight paused players held every thread of `collector
    serve` (the dashboard stopped answering). PEP 3333 has a server's file wrapper send
    from the file's position, Content-Length bytes: waitress does so from its event loop,
    with no thread held. Without a file wrapper (the test client) werkzeug's iterator stays.
    """
    file_wrapper = request.environ.get("wsgi.file_wrapper")
    content_range = response.content_range
    if (
        response.status_code != 206
        or file_wrapper is None
        or request.method == "HEAD"
        or content_range is None
        or content_range.start is None
    ):
        return
    file = path.open("rb")
    try:
        file.seek(content_range.start)
        body = file_wrapper(file)
    except BaseException:
        file.close()
        raise
    response.close()  # werkzeug's iterator and the file it opened
    response.response = body
    response.direct_passthrough = True


def serve(file_id: str, download: bool) -> Response:
    """The response for ``GET /api/files/<file_id>/content``; 4xx (JSON) if not served."""
    record = FileRepository().get_file(file_id) if params.can_be_an_id(file_id) else None
    if record is None:
        abort(404, f"no file with id {quoted(file_id)}")
    settings = load_settings(get_db_config())
    try:
        path = located(record, settings.download_dir)
    except NotServed as exc:
        abort(exc.status, str(exc))
    name = PurePath(record.file_path).name
    mimetype = content_type(name)
    _whole_for_a_long_suffix(path)
    try:
        response = send_file(
            path,
            mimetype=mimetype,
            as_attachment=download or not shown_inline(mimetype),
            download_name=name,
            conditional=True,
            etag=True,
        )
    except RequestedRangeNotSatisfiable as exc:
        response = jsonify(error=f"range not satisfiable: {UNSATISFIABLE}")
        response.status_code = 416
        response.headers["Content-Range"] = f"bytes */{exc.length}"
        return response
    except OSError as exc:  # gone or unreadable since it was located
        logger.warning("file %s cannot be read: %s", record.id, exc)
        abort(404, str(_unreadable(quoted(name))))
    _range_to_the_server(response, path)
    response.cache_control.private = True
    response.headers["Content-Security-Policy"] = FILE_POLICY
    return response
