"""The files a finished download left in its folder, and what type each one is."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import NamedTuple

logger = logging.getLogger(__name__)

PARTIAL_DIR = ".partial"
PARTIAL_SUFFIXES = (".part", ".ytdl", ".temp", ".tmp")
VIDEO = frozenset({"mp4", "webm", "mkv", "mov", "avi", "flv", "m4v", "3gp", "ts", "mpg", "mpeg"})
AUDIO = frozenset({"m4a", "mp3", "opus", "ogg", "oga", "wav", "flac", "aac", "weba", "mka"})
IMAGE = frozenset({"jpg", "jpeg", "png", "webp", "gif", "avif", "heic", "bmp"})
METADATA = frozenset({"json", "description", "vtt", "srt", "ass", "lrc", "txt", "xml", "url"})


class FoundFile(NamedTuple):
    path: Path
    file_type: str
    size: int


def file_type(path: Path, media: Collection[str] = ()) -> str:
    """video, audio, image or metadata: by extension; else yt-dlp's media files are video."""
    extension = path.suffix.lower().lstrip(".")
    for kind, extensions in (
        ("video", VIDEO),
        ("audio", AUDIO),
        ("image", IMAGE),
        ("metadata", METADATA),
    ):
        if extension in extensions:
            return kind
    return "video" if str(path.resolve()) in media else "metadata"


def collect_files(folder: Path, media: Collection[str] = ()) -> list[FoundFile]:
    """Every finished file in ``folder`` (not partial data), sorted by path."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] == PARTIAL_DIR or not path.is_file():
            continue
        if path.name.endswith(PARTIAL_SUFFIXES):
            continue
        found.append(FoundFile(path.resolve(), file_type(path, media), path.stat().st_size))
    return found


def remove_folder(folder: Path, root: Path) -> bool:
    """Delete a job's folder and everything in it, only if it lies inside ``root``."""
    folder, root = folder.resolve(), root.resolve()
    if folder == root or root not in folder.parents:
        logger.error("refusing to remove %s: not inside %s", folder, root)
        return False
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()


def remove_partial(folder: Path) -> None:
    """Delete yt-dlp's partial data once a download succeeded."""
    shutil.rmtree(folder / PARTIAL_DIR, ignore_errors=True)
