"""What this process has seen go wrong under a database: a damaged file, or no space.

Many requests and writes meet such a condition while it lasts; the log gets one
line when it starts and one when it clears, not a traceback per request. ``/healthz``
reports the current one.

A damaged file stays damaged for the life of the process (restoring a backup means
stopping the processes first). "Full" clears on a successful write once no write
has been refused for ``FULL_CLEARS_AFTER`` seconds: on a nearly full disk some
writes fit while others do not, and the log must not flap with them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DAMAGED, FULL = "damaged", "full"
FULL_CLEARS_AFTER = 30.0


@dataclass
class Condition:
    """One condition of one database file, as this process met it."""

    kind: str  # DAMAGED or FULL
    reason: str  # SQLite's own words ("database disk image is malformed")
    started: float  # time.time() of the first occurrence
    last_seen: float  # time.monotonic() of the latest occurrence
    occurrences: int = 1

    def describe(self) -> str:
        """What a client may be told (no path): the condition and what it means."""
        if self.kind == DAMAGED:
            return (
                f"the database is damaged ({self.reason}); the operator must check it "
                "(`collector db check`) and restore a backup"
            )
        return f"no space left for the database ({self.reason}); writes are refused"


_lock = threading.Lock()
_current: dict[str, Condition] = {}


def _key(path: str | Path) -> str:
    """A database's key: its file, resolved, or a server database's URL (as given)."""
    return str(path.resolve()) if isinstance(path, Path) else path


def report(path: str | Path, kind: str, reason: str) -> None:
    """Note that an operation on ``path`` met ``kind``; log it if it is new."""
    if kind not in (DAMAGED, FULL):
        raise ValueError(f"kind must be one of {DAMAGED!r}, {FULL!r}, not {kind!r}")
    key = _key(path)
    with _lock:
        current = _current.get(key)
        if current is not None and (current.kind == kind or current.kind == DAMAGED):
            current.occurrences += 1
            current.last_seen = time.monotonic()
            return
        _current[key] = Condition(kind, reason, time.time(), time.monotonic())
    if kind == DAMAGED:
        logger.error(
            "the database %s is damaged (%s): run `collector db check` and restore a backup",
            path,
            reason,
        )
    else:
        logger.error("no space left for the database %s (%s): writes are refused", path, reason)


def write_succeeded(path: str | Path) -> None:
    """A write to ``path`` committed: clear "full" if none was refused for a while."""
    if not _current:  # read without the lock: the common case, on every commit
        return
    key = _key(path)
    with _lock:
        current = _current.get(key)
        if current is None or current.kind != FULL:
            return
        if time.monotonic() - current.last_seen < FULL_CLEARS_AFTER:
            return
        del _current[key]
    logger.warning(
        "the database %s accepts writes again (%d refused while its disk was full)",
        path,
        current.occurrences,
    )


def current(path: str | Path) -> Condition | None:
    """The condition ``path`` is in, as far as this process knows, or None."""
    return _current.get(_key(path))


def forget(path: str | Path) -> None:
    """Drop what is known about ``path`` (tests; a file replaced while stopped)."""
    with _lock:
        _current.pop(_key(path), None)
