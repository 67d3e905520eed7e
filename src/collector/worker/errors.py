"""The worker's errors, and turning yt-dlp's messages into one short readable line."""

from __future__ import annotations

import re

from collector.models.redaction import redact_text

MAX_MESSAGE = 300
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_PREFIXES = (
    re.compile(r"^(?:ERROR|WARNING):\s*"),
    # "[generic] clip: ..." / "[youtube] abc123: ...": the extractor and the media id
    re.compile(r"^\[[\w:.-]+\]\s+(?:[^\s:]+:\s+)?"),
    re.compile(r"^Unable to (?:download|extract) [\w ]+?:\s+"),
    re.compile(r"^Got error:\s+"),
    re.compile(r"^<urlopen error\s*"),
)
_SUFFIXES = (
    re.compile(r"\s*\(caused by .*\)\.?$"),
    re.compile(r";\s*please report this issue.*$", re.IGNORECASE),
)
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")


class DownloadFailed(Exception):
    """A download ended in an error; ``transient`` ones are worth retrying later."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class DownloadRefused(DownloadFailed):
    """A download the outbound policy refused (an internal address): never worth a retry."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class DownloadStopped(Exception):
    """The worker stopped a download on purpose: cancelled, lease lost, or shutting down."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def clean_message(text: str) -> str:
    """The first line of an error, without colours, log prefixes, causes or errno codes.

    URLs in it are redacted: the message is stored as the job's error and shown
    everywhere, and yt-dlp quotes the URL it failed on, credentials and all.
    """
    # yt-dlp starts some errors with a carriage return (a terminal artefact), not a new line.
    text = _ANSI.sub("", text or "").replace("\r", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    message = lines[0] if lines else ""
    for pattern in _PREFIXES:
        message = pattern.sub("", message)
    for pattern in _SUFFIXES:
        message = pattern.sub("", message)
    message = redact_text(_ERRNO.sub("", message)).strip()
    if not message:
        return "download failed"
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return message
