"""Online backups: a consistent copy of a live database, by the engine's dialect
(SQLite's backup API).

The copy is taken in one step, from one read snapshot. The database runs in WAL
mode, where a reader does not block writers: workers and the web app keep writing
while it is read. A copy taken in several steps would restart from the first page
whenever another connection wrote between two steps, and under steady writes
might never finish.

The copy is written beside the target under a temporary name, checked with
``PRAGMA quick_check``, synced, and only then moved into place: an interrupted
backup never leaves a half-written file under the name asked for, and an existing
file is replaced only when asked to (``force``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NamedTuple

from .database import DatabaseConfig, DatabaseError


class BackupError(DatabaseError):
    """The backup cannot be written where it was asked for."""


class BackupResult(NamedTuple):
    """Where the copy went, its size, and what its check found (empty: ok)."""

    path: Path
    pages: int
    size: int
    problems: list[str]


def backup(db: DatabaseConfig, target: str | Path, force: bool = False) -> BackupResult:
    """Copy the live database ``db`` to ``target``; refuse to replace a file unless ``force``."""
    target = Path(target)
    if target.is_dir():
        raise BackupError(f"{target} is a directory; name the backup file")
    if target.resolve() == db.db_path.resolve():
        raise BackupError(f"{target} is the database itself; name another file")
    if target.exists() and not force:
        raise BackupError(f"{target} exists; pass --force to replace it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise BackupError(f"cannot write the backup {target}: {exc}") from exc
    partial = Path(name)
    try:
        pages, problems = _copy(db, partial)
        _sync(partial)
        _place(partial, target, force)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, pages, target.stat().st_size, problems)


def _copy(db: DatabaseConfig, partial: Path) -> tuple[int, list[str]]:
    """Copy every page in one step; leave the copy one self-contained file, checked."""
    source = db.connect()
    try:
        # Pages are copied as they are, damage included: the check says so.
        return db.dialect.backup(source, partial)
    except db.dialect.DatabaseError as exc:  # the copy's side: most likely its disk is full
        raise BackupError(f"cannot copy {db.db_path} to {partial.parent}: {exc}") from exc
    finally:
        source.close()


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _place(partial: Path, target: Path, force: bool) -> None:
    """Move the finished copy to ``target``: atomically, and without replacing a file
    that appeared meanwhile unless ``force``."""
    try:
        if force:
            os.replace(partial, target)
        else:
            os.link(partial, target)  # fails if target exists, unlike a rename
    except FileExistsError as exc:
        raise BackupError(f"{target} exists; pass --force to replace it") from exc
    except OSError as exc:
        raise BackupError(f"cannot write the backup {target}: {exc}") from exc
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
