"""A database written by the previous release upgrades in place, on both engines.

tests/data holds what the previous release (before playlists, identities and
subscriptions) wrote: an SQLite file, and a pg_dump of a PostgreSQL database, each
with three jobs (completed with two files, running, pending) made through that
release's own queue. The current reconcile adds the new columns, tables and indexes
to it, keeps every row and value, and leaves nothing to do for a second run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS
from collector.models.job import Job
from collector.repositories import FileRepository, JobRepository
from collector.repositories.queue import JobQueue
from collector.schema.reconcile import inspect

pytestmark = pytest.mark.both_engines

DATA = Path(__file__).resolve().parent.parent / "data"
COMPLETED_URL = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
RUNNING_URL = "https://youtu.be/aaaaaaaaaaa"
PENDING_URL = "https://example.com/clip.mp4"
NEW_JOB_COLUMNS = ("identity", "entries", "parent_id", "subscription_id", "removed_at")


def previous_release(database: str, tmp_path: Path) -> str:
    """The previous release's database, in place of the test's empty one."""
    if "://" not in database:
        path = tmp_path / "previous.db"
        shutil.copyfile(DATA / "previous_release.db", path)
        return str(path)
    schema = parse_qs(urlsplit(database).query)["options"][0].removeprefix("-csearch_path=")
    dump = (DATA / "previous_release_pg.sql").read_text().replace("public.", f'"{schema}".')
    statements, current = [], []
    for line in dump.splitlines():
        if line.startswith("--"):
            continue
        current.append(line)
        if line.endswith(";"):
            statements.append("\n".join(current))
            current = []
    config = DatabaseConfig(database)
    try:
        with config.transaction() as conn:
            for statement in statements:
                conn.execute(statement)
    finally:
        config.dispose()
    return database


def rows(db: DatabaseConfig) -> dict[str, dict[str, object]]:
    return {row["url"]: dict(row) for row in db.execute_query("SELECT * FROM jobs")}


def test_the_previous_release_upgrades_in_place(database: str, tmp_path: Path) -> None:
    location = previous_release(database, tmp_path)
    before = DatabaseConfig(location)
    old = rows(before)
    old_files = before.execute_query("SELECT * FROM files ORDER BY file_path")
    assert set(old) == {COMPLETED_URL, RUNNING_URL, PENDING_URL}
    assert "identity" not in old[COMPLETED_URL]
    before.dispose()

    db = DatabaseConfig(location)
    try:
        report = db.initialize_schema()
        added = list(NEW_JOB_COLUMNS)
        if db.dialect.search_column("jobs", Job.search, Job.primary_key) is not None:
            # PostgreSQL: the stored search document is added and filled, and the
            # previous release's GIN index over an expression is rebuilt over it.
            added.append("search_document")
            fill = next(c for c in report.changes if c.action == "fill column")
            assert fill.detail.endswith("; 3 row(s) rewritten in 1 batch(es)")
            rebuild = next(c for c in report.changes if c.name == "idx_jobs_search")
            assert rebuild.action == "rebuild index"
            assert "expression to_tsvector(" in rebuild.detail
            assert report.changes.index(fill) < report.changes.index(rebuild)
        assert report.names("add column") == added
        assert set(report.names("create index")) >= {
            "idx_jobs_identity_queued",
            "idx_jobs_identity",
            "idx_jobs_parent",
            "idx_jobs_subscription",
        }
        with db.transaction() as conn:
            states = {state.name: state.state for state in inspect(conn, ALL_MODELS)}
        assert set(states.values()) == {"ok"}, states

        new = rows(db)
        for url, row in old.items():
            assert {k: new[url][k] for k in row} == row, url
            assert {new[url][k] for k in NEW_JOB_COLUMNS} == {None}, url
        assert db.execute_query("SELECT * FROM files ORDER BY file_path") == old_files

        jobs = JobRepository(db)
        assert jobs.get_job_statistics() == {
            "pending": 1,
            "running": 1,
            "cancelling": 0,
            "completed": 1,
            "failed": 0,
            "cancelled": 0,
        }
        assert [j.url for j in jobs.page(q="never gonna").items] == [COMPLETED_URL]
        completed = jobs.page(status="completed").items[0]
        assert len(FileRepository(db).get_job_files(completed.id)) == 2

        # The old queued jobs have no identity: queued again by their URL, they are
        # those jobs (the look-up falls back to the exact URL).
        queue = JobQueue(db)
        for status, url in (("pending", PENDING_URL), ("running", RUNNING_URL)):
            queued = jobs.page(status=status).items[0]
            assert queue.enqueue(url) == (queued, False)
        again = queue.enqueue(COMPLETED_URL)  # completed: a new job, with an identity
        assert again.created and again.job.identity == "Youtube:dQw4w9WgXcQ"

        second = db.initialize_schema()
        assert not second.changed, second.changes
    finally:
        db.dispose()
