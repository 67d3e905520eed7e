"""How jobs and files look to the API and the templates: plain dicts and small helpers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from collector.models.file import File
from collector.models.job import ACTIVE_STATUSES, Job
from collector.models.redaction import redact_fields, redact_text, redact_url
from collector.models.subscription import Subscription, format_every

CANCELLABLE = ("pending", "running")
RETRYABLE = ("failed", "cancelled")


def job_dict(job: Job) -> dict[str, Any]:
    """A job as the API returns it: every field, timestamps in ISO 8601.

    Credentials in its URL (and in an error message quoting it) are masked: the
    full URL stays in the database for the worker alone.
    """
    return redact_fields(job.to_dict())


def subscription_dict(sub: Subscription) -> dict[str, Any]:
    """A subscription as the API returns it: every field (``paused`` as true or false)
    and ``every`` as text (6h); credentials in its URL and error masked."""
    shown = sub.to_dict()
    shown["url"] = redact_url(sub.url)
    if sub.last_error is not None:
        shown["last_error"] = redact_text(sub.last_error)
    shown["paused"] = bool(sub.paused)
    shown["every"] = format_every(sub.every_seconds)
    return shown


def playlist_dict(job: Job, children: dict[str, int]) -> dict[str, Any]:
    """Where a playlist job's entries stand: ``entries`` listed, ``queued`` as its
    children (per status in ``children``), ``known`` (already in the library or the
    queue when listed, so not queued again), and ``done``: known or completed."""
    entries = job.entries or 0
    queued = sum(children.values())
    known = max(0, entries - queued)
    return {
        "entries": entries,
        "queued": queued,
        "known": known,
        "done": known + children.get("completed", 0),
        "children": children,
    }


def file_dict(record: File) -> dict[str, Any]:
    """A file as the API returns it, with its name for display."""
    return {**record.to_dict(), "name": PurePath(record.file_path).name}


def thumbnail(files: Sequence[File]) -> File | None:
    """The job's thumbnail: its first file of type image (yt-dlp's writethumbnail)."""
    return next((f for f in files if f.file_type == "image"), None)


def duration(seconds: int | None) -> str:
    """Seconds as a clock: 59 -> 0:59, 3725 -> 1:02:05; "" when unknown."""
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def can_cancel(job: Job) -> bool:
    return job.status in CANCELLABLE


def can_retry(job: Job) -> bool:
    return job.status in RETRYABLE


def is_active(job: Job) -> bool:
    return job.status in ACTIVE_STATUSES


def human_size(size: int | None) -> str:
    """Bytes as a short readable size: 512 B, 1.5 KB, 20.0 MB."""
    value = float(size or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
