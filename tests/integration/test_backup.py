"""``collector db backup``: a consistent copy of a live database, and restoring it."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

from click.testing import CliRunner, Result

from collector.cli import main
from collector.config import conditions
from collector.config.database import DatabaseConfig
from collector.repositories.queue import JobQueue
from tests.conftest import dataset_database

from .test_storage_faults import deep_pages, overwrite_pages, root_page


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", str(path), *args])


def ids_in(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM jobs")}


class Writer:
    """Queues jobs through the repository, one transaction each, until stopped."""

    def __init__(self, path: Path) -> None:
        self.db = DatabaseConfig(path)
        self.committed: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        queue = JobQueue(self.db)
        n = 0
        try:
            while not self.stop.is_set():
                job = queue.enqueue(f"https://example.com/live/{n}").job
                with self.lock:
                    self.committed.append(job.id)
                n += 1
        except BaseException as exc:
            self.error = exc
        finally:
            self.db.close()

    def snapshot(self) -> list[str]:
        with self.lock:
            return list(self.committed)

    def wait_for(self, count: int) -> None:
        from tests.worker_fixtures import wait_until

        wait_until(lambda: len(self.snapshot()) >= count, what=f"{count} jobs written")


def test_a_backup_under_concurrent_writes_is_whole_and_consistent(tmp_path: Path) -> None:
    path = dataset_database(tmp_path / "collector.db", 3, jobs=5_000)
    target = tmp_path / "backups" / "copy.db"
    writer = Writer(path)
    writer.thread.start()
    try:
        writer.wait_for(50)
        before = writer.snapshot()  # committed before the backup began
        result = invoke(path, "db", "backup", str(target))
        writer.wait_for(len(before) + 50)  # the writer went on after it
    finally:
        writer.stop.set()
        writer.thread.join(10)
    assert writer.error is None

    assert result.exit_code == 0, result.output
    assert f"backed up {path} to {target}" in result.output
    copied = ids_in(target)
    assert set(before) <= copied
    assert len(copied) >= 5_000 + len(before)
    assert copied <= ids_in(path)  # nothing the live database does not have
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.db"]  # no partial, no -wal
    assert DatabaseConfig(target).initialize_schema().changes == []  # up to date


def test_a_backup_does_not_replace_a_file_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    DatabaseConfig(path).initialize_schema()
    invoke(path, "add", "https://example.com/a")
    target = tmp_path / "existing.db"
    target.write_bytes(b"keep me")

    refused = invoke(path, "db", "backup", str(target))

    assert refused.exit_code == 1
    assert refused.output.strip() == f"Error: {target} exists; pass --force to replace it"
    assert target.read_bytes() == b"keep me"

    forced = invoke(path, "db", "backup", str(target), "--force")

    assert forced.exit_code == 0, forced.output
    assert len(ids_in(target)) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_a_backup_onto_the_database_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    DatabaseConfig(path).initialize_schema()

    result = invoke(path, "db", "backup", str(path), "--force")

    assert result.exit_code == 1
    assert "is the database itself" in result.output
    assert invoke(path, "db", "check").exit_code == 0


def test_a_backup_of_a_damaged_database_says_the_copy_is_damaged(tmp_path: Path) -> None:
    path = dataset_database(tmp_path / "collector.db", 7, jobs=3_000)
    overwrite_pages(path, deep_pages(path))
    target = tmp_path / "copy.db"

    result = invoke(path, "db", "backup", str(target))

    assert result.exit_code == 1
    assert f"Error: the copy at {target} is damaged, so the database is too" in result.output
    conditions.forget(path)


def test_restoring_a_backup_as_the_readme_says(tmp_path: Path) -> None:
    """In processes of their own, as an operator would: a command's connections end with it."""

    def run(db: Path, *args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "collector", "--db", str(db), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    path = tmp_path / "collector.db"
    assert run(path, "add", "https://example.com/kept").returncode == 0
    backup = tmp_path / "backup.db"
    assert run(path, "db", "backup", str(backup)).returncode == 0
    assert run(path, "add", "https://example.com/after-the-backup").returncode == 0
    overwrite_pages(path, [root_page(path, "jobs")])  # then the file is damaged
    assert run(path, "jobs").returncode == 1

    assert run(backup, "db", "check").returncode == 0  # check the backup first
    shutil.copyfile(backup, path)
    for side in ("-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)

    listed = run(path, "jobs")
    assert listed.returncode == 0, listed.stderr
    assert "https://example.com/kept" in listed.stdout
    assert "after-the-backup" not in listed.stdout
