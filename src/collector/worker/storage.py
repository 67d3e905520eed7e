"""Whether the download folder can take another download, and what to do when it cannot.

Before each claim the worker checks the folder (it exists or can be created, a file
can be written there, at least ``min_free_space`` bytes are free). A folder that
fails the check stops claiming; the worker logs one line when that starts and one
when it ends, and looks again every few seconds, so downloads resume by themselves
once the folder is usable. A download that runs out of space (or finds the folder
read-only) hands its job back to the queue and stops claiming in the same way; the
free space must then grow past what it was after the cleanup before claiming
resumes, or the same download would fill the disk again and again.
"""

from __future__ import annotations

import errno
import logging
import shutil
import tempfile
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

# The errors that say "this folder cannot take files now", not "this download is bad".
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES})
SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# After a download ran out of space, how much the free space must grow before claiming.
SPACE_RETURNED = 1024 * 1024
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(count: int) -> str:
    """``120.5 MiB``: a size for a log line."""
    size = float(count)
    for unit in _UNITS[:-1]:
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} {_UNITS[-1]}"


def storage_error(error: BaseException | None) -> OSError | None:
    """The OSError behind ``error`` that says the folder is full or unwritable, if any.

    yt-dlp wraps the OSError of a failed write in a DownloadError (its ``exc_info``)
    or raises UnavailableVideoError while handling it (its ``__context__``).
    """
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
            return error
        exc_info = getattr(error, "exc_info", None)
        inner = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
        if not isinstance(inner, BaseException):
            inner = error.__cause__ or error.__context__
        error = inner
        seen += 1
    return None


def free_bytes(folder: Path) -> int:
    """Bytes free for an unprivileged user on the file system of ``folder``."""
    return shutil.disk_usage(folder).free


def check_folder(folder: Path, min_free_space: int) -> tuple[str | None, int]:
    """Why ``folder`` cannot take a download now (one line, None if it can), and its free bytes."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        free = free_bytes(folder)
    except OSError as exc:
        return f"cannot write to {folder}: {exc.strerror or exc}", 0
    if free < min_free_space:
        problem = (
            f"{folder} has {human_bytes(free)} free, below min_free_space "
            f"{human_bytes(min_free_space)}"
        )
        return problem, free
    return None, free


def folder_is_the_cause(folder: Path, error: OSError) -> bool:
    """Whether ``error`` was the folder's (full, read-only), not one download's own."""
    return error.errno in SPACE_ERRNOS or check_folder(folder, 0)[0] is not None


class FolderGate:
    """Whether the worker may claim, shared by its slots; logs only when that changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reason: str | None = None
        self._free_after_error: int | None = None  # set after a download ran out of space

    def open(self, folder: Path, min_free_space: int) -> bool:
        """Check the folder now: True if a job may be claimed."""
        problem, free = check_folder(folder, min_free_space)
        with self._lock:
            after_error = self._free_after_error
            if problem is None and after_error is not None and free < after_error + SPACE_RETURNED:
                return False  # still as full as when the download failed
            if problem is None:
                if self.reason is not None:
                    logger.warning("claiming again: %s is usable", folder)
                self.reason, self._free_after_error = None, None
                return True
            if self.reason is None:
                logger.warning("not claiming: %s", problem)
            self.reason = problem
            return False

    def close_after(self, folder: Path, error: OSError) -> None:
        """A download failed with ``error`` on ``folder``: stop claiming until it recovers.

        Called once the job's partial files are gone.
        """
        reason = f"a download into {folder} failed: {error.strerror or error}"
        with self._lock:
            if error.errno in SPACE_ERRNOS:
                try:
                    self._free_after_error = free_bytes(folder)
                except OSError:
                    self._free_after_error = 0
            if self.reason is None:
                logger.warning("not claiming: %s", reason)
            self.reason = reason
