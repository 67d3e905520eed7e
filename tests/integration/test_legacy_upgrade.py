"""Upgrading a database the plan's pre-index code wrote (tests/legacy.py), in place."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS, STATUSES, Job
from collector.repositories import FileRepository, JobRepository, SettingsRepository
from tests.conftest import index_names, reading, schema_rows
from tests.expected import ADDED_INDEXES, PLAN_INDEXES
from tests.legacy import LEGACY_JOBS, ORPHAN_JOB_ID

TABLES = ("jobs", "files", "settings")
QUEUE_COLUMNS = ("worker_id", "lease_expires_at", "next_attempt_at")
# A job's format and what its extracted information said (worker/engine.py).
MEDIA_COLUMNS = ("format", "uploader", "duration", "upload_date", "extractor", "extractor_id")
# The identity, the playlist and subscription a job belongs to, and when its files
# were removed by a subscription's keep rule.
COLLECTION_COLUMNS = ("identity", "entries", "parent_id", "subscription_id", "removed_at")
NEW_JOB_COLUMNS = (*QUEUE_COLUMNS, *MEDIA_COLUMNS, *COLLECTION_COLUMNS)
LEGACY_FILES = 2 * len(LEGACY_JOBS) + 2


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in rowid order, as plain tuples."""
    with reading(path) as conn:
        return {
            table: [tuple(row) for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')]
            for table in TABLES
        }


def legacy_job_ids(path: Path) -> list[str]:
    """The legacy job ids in insertion order, i.e. in the order of LEGACY_JOBS."""
    with reading(path) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM jobs ORDER BY rowid")]


def orphan_file_ids(path: Path) -> set[str]:
    with reading(path) as conn:
        rows = conn.execute("SELECT id FROM files WHERE job_id = ?", (ORPHAN_JOB_ID,))
        return {row[0] for row in rows}


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


@pytest.fixture
def upgraded(legacy_db_path: Path) -> Iterator[DatabaseConfig]:
    config = DatabaseConfig(legacy_db_path)
    config.initialize_schema()
    yield config
    config.close()


def test_the_legacy_database_is_what_the_plan_left(legacy_db_path: Path) -> None:
    # The premise of every test here, read from the file itself.
    rows = dump(legacy_db_path)
    assert [len(rows[t]) for t in TABLES] == [len(LEGACY_JOBS), LEGACY_FILES, 1]
    assert not any(name.startswith("idx_") for name in index_names(legacy_db_path))
    with reading(legacy_db_path) as conn:
        assert conn.execute("PRAGMA foreign_key_list(files)").fetchall() == []
        stamps = {row[0] for row in conn.execute("SELECT created_at FROM jobs")}
    assert "2025-02-17 10:00:00.123456" in stamps
    assert "2025-02-17 10:00:00" in stamps


def test_upgrade_keeps_every_row_unchanged(legacy_db_path: Path) -> None:
    before = dump(legacy_db_path)

    config = DatabaseConfig(legacy_db_path)
    report = config.initialize_schema()
    config.close()

    assert report.names("create table") == ["subscriptions"]  # new since the legacy schema
    # The queue's columns and the file's host are new; legacy rows get them as NULL
    # and keep every value.
    assert report.names("add column") == [*NEW_JOB_COLUMNS, "host"]
    after = dump(legacy_db_path)
    assert [row[:-1] for row in after["files"]] == before["files"]
    assert {row[-1] for row in after["files"]} == {None}
    assert after["settings"] == before["settings"]
    assert [row[: -len(NEW_JOB_COLUMNS)] for row in after["jobs"]] == before["jobs"]
    assert {row[-len(NEW_JOB_COLUMNS) :] for row in after["jobs"]} == {
        (None,) * len(NEW_JOB_COLUMNS)
    }


def test_upgrade_creates_the_plan_indexes_and_statistics(legacy_db_path: Path) -> None:
    config = DatabaseConfig(legacy_db_path)
    report = config.initialize_schema()
    config.close()

    names = index_names(legacy_db_path)
    assert names >= PLAN_INDEXES
    assert names >= ADDED_INDEXES
    assert set(report.names("create index")) == PLAN_INDEXES | ADDED_INDEXES
    # jobs and files for their new indexes; settings because it has rows and was
    # never analyzed (its only index is the primary key's); subscriptions, new and
    # empty, for its new indexes.
    assert sorted(report.names("analyze")) == ["files", "jobs", "settings", "subscriptions"]
    with reading(legacy_db_path) as conn:
        analyzed = {row[0] for row in conn.execute("SELECT idx FROM sqlite_stat1")}
    assert analyzed >= PLAN_INDEXES


def test_upgrade_is_idempotent(legacy_db_path: Path) -> None:
    config = DatabaseConfig(legacy_db_path)
    assert config.initialize_schema().changes
    schema, rows = schema_rows(legacy_db_path), dump(legacy_db_path)

    second = config.initialize_schema()
    config.close()
    third = DatabaseConfig(legacy_db_path)
    third_report = third.initialize_schema()
    third.close()

    assert second.changes == []
    assert third_report.changes == []
    assert schema_rows(legacy_db_path) == schema
    assert dump(legacy_db_path) == rows


# -- the repositories on the upgraded database ------------------------------------------


def test_legacy_timestamps_parse_to_aware_utc(
    upgraded: DatabaseConfig, legacy_db_path: Path
) -> None:
    jobs = JobRepository(upgraded)
    for job_id, (status, created) in zip(legacy_job_ids(legacy_db_path), LEGACY_JOBS, strict=True):
        job = jobs.get_job(job_id)
        assert job is not None
        assert job.status == status
        assert job.created_at == aware(created)
        assert job.updated_at == aware(created)
        assert job.created_at.utcoffset() == timedelta(0)
        assert job.created_at.microsecond == created.microsecond
        if status == "completed":
            assert job.completed_at == aware(created + timedelta(minutes=1))
        else:
            assert job.completed_at is None


def test_job_queries_on_legacy_rows(upgraded: DatabaseConfig, legacy_db_path: Path) -> None:
    jobs = JobRepository(upgraded)
    ids = legacy_job_ids(legacy_db_path)
    created = {job_id: aware(when) for job_id, (_, when) in zip(ids, LEGACY_JOBS, strict=True)}
    newest_first = sorted(ids, key=created.__getitem__, reverse=True)

    assert jobs.count() == len(LEGACY_JOBS)
    assert [j.id for j in jobs.get_recent_jobs(10)] == newest_first
    assert [j.id for j in jobs.get_recent_jobs(2)] == newest_first[:2]
    assert [j.id for j in jobs.get_active_jobs()] == [ids[3], ids[2]]  # running, then pending
    assert [j.id for j in jobs.find_by(status="completed")] == [ids[0], ids[4]]
    assert [j.id for j in jobs.find_by(platform="youtube")] == newest_first
    assert [j.id for j in jobs.find_by(title="Legacy 1")] == [ids[1]]
    assert jobs.find_by(status="cancelled") == []
    expected = dict.fromkeys(STATUSES, 0) | {"completed": 2, "failed": 1, "pending": 1}
    expected["running"] = 1
    assert jobs.get_job_statistics() == expected
    job = jobs.get_job(ids[1])
    assert job is not None
    assert (job.url, job.platform, job.title) == (
        "https://youtube.com/watch?v=1",
        "youtube",
        "Legacy 1",
    )
    assert (job.progress, job.retry_count, job.bytes_downloaded) == (0, 0, 0)
    assert jobs.get_job("no-such-id") is None


def test_job_updates_on_legacy_rows(upgraded: DatabaseConfig, legacy_db_path: Path) -> None:
    jobs = JobRepository(upgraded)
    ids = legacy_job_ids(legacy_db_path)
    pending, running = ids[2], ids[3]

    started = jobs.update_job_status(pending, "running")
    assert started is not None
    assert (started.status, started.completed_at) == ("running", None)
    assert started.created_at == aware(LEGACY_JOBS[2][1])
    assert started.updated_at > started.created_at

    done = jobs.complete_job(running)
    assert done is not None
    assert (done.status, done.progress, done.error_message) == ("completed", 100, None)
    assert done.completed_at is not None
    assert done.completed_at.tzinfo is not None

    failed = jobs.fail_job(pending, "HTTP 403: Forbidden")
    assert failed is not None
    assert (failed.status, failed.error_message) == ("failed", "HTTP 403: Forbidden")

    cancelled = jobs.update_job_status(ids[1], "cancelled")
    assert cancelled is not None
    assert cancelled.completed_at is not None

    assert jobs.get_job(running) == done
    assert jobs.get_job(running).status == "completed"
    stats = jobs.get_job_statistics()
    assert stats["completed"] == 3
    assert stats["failed"] == 1
    assert stats["cancelled"] == 1
    assert stats["pending"] == stats["running"] == 0
    assert jobs.update_job_status("no-such-id", "running") is None
    assert jobs.complete_job("no-such-id") is None
    assert jobs.fail_job("no-such-id", "x") is None
    # Untouched legacy rows keep their exact text.
    with reading(legacy_db_path) as conn:
        stamp = conn.execute("SELECT created_at FROM jobs WHERE id = ?", (ids[0],)).fetchone()[0]
    assert stamp == "2025-02-17 10:00:00.123456"


def test_file_queries_on_legacy_rows(upgraded: DatabaseConfig, legacy_db_path: Path) -> None:
    files = FileRepository(upgraded)
    ids = legacy_job_ids(legacy_db_path)

    assert files.count() == LEGACY_FILES
    first = files.get_job_files(ids[0])
    assert sorted(f.file_type for f in first) == ["metadata", "video"]
    assert {f.job_id for f in first} == {ids[0]}
    assert all(f.created_at == aware(LEGACY_JOBS[0][1]) for f in first)
    videos = files.get_files_by_type("video")
    assert len(videos) == len(LEGACY_JOBS) + 2
    assert len(files.get_files_by_type("metadata")) == len(LEGACY_JOBS)
    assert files.get_files_by_type("audio") == []
    only_video = files.get_job_files_by_type(ids[3], "video")
    assert [(f.file_path, f.file_size) for f in only_video] == [
        (f"/downloads/{ids[3]}/video", 1003)
    ]

    orphans = files.get_orphaned_files()
    assert {f.id for f in orphans} == orphan_file_ids(legacy_db_path)
    assert len(orphans) == 2
    assert {f.job_id for f in orphans} == {ORPHAN_JOB_ID}

    added = files.create_file(ids[0], "/downloads/new.jpg", "image", 42)
    assert [f.id for f in files.get_job_files(ids[0])][-1] == added.id
    assert files.count() == LEGACY_FILES + 1


def test_settings_on_legacy_rows(upgraded: DatabaseConfig) -> None:
    settings = SettingsRepository(upgraded)
    assert settings.get("download_dir") == "/srv/media"
    assert settings.all() == {"download_dir": "/srv/media"}
    assert settings.count() == 1
    settings.set("download_dir", "/srv/other")
    assert settings.get("download_dir") == "/srv/other"


def test_delete_legacy_job_removes_its_files_without_foreign_key(
    upgraded: DatabaseConfig, legacy_db_path: Path
) -> None:
    # The upgrade cannot add a foreign key in place: files.job_id still has none.
    with reading(legacy_db_path) as conn:
        assert conn.execute("PRAGMA foreign_key_list(files)").fetchall() == []
    jobs, files = JobRepository(upgraded), FileRepository(upgraded)
    ids = legacy_job_ids(legacy_db_path)
    orphans = orphan_file_ids(legacy_db_path)

    assert jobs.delete_job(ids[0]) == 2

    assert jobs.get_job(ids[0]) is None
    assert files.get_job_files(ids[0]) == []
    assert {f.id for f in files.get_orphaned_files()} == orphans
    assert files.count() == LEGACY_FILES - 2
    assert jobs.count() == len(LEGACY_JOBS) - 1
    assert jobs.delete_job(ids[0]) is None
    with reading(legacy_db_path) as conn:
        left = conn.execute("SELECT COUNT(*) FROM files WHERE job_id = ?", (ids[0],)).fetchone()
    assert left[0] == 0


# -- ordering across old and new timestamps ----------------------------------------------

# New rows placed among the legacy ones: ties, one microsecond apart, no fraction.
PLACED = [
    datetime(2025, 2, 17, 10, 0, 0, tzinfo=UTC),  # same instant as a legacy row
    datetime(2025, 2, 17, 10, 0, 0, 1, tzinfo=UTC),  # between two legacy rows
    datetime(2025, 2, 17, 9, 59, 59, tzinfo=UTC),  # before the legacy 09:59:59.999999
    datetime(2025, 2, 16, 23, 0, 0, 500000, tzinfo=UTC),
    datetime(2025, 2, 18, 10, 30, 0, 250000, tzinfo=timezone(timedelta(hours=2))),  # 08:30:00.25Z
    datetime(2025, 2, 10, 0, 0, 0, tzinfo=UTC),  # older than every legacy row
]


def test_new_and_legacy_rows_sort_in_true_time_order(
    upgraded: DatabaseConfig, legacy_db_path: Path
) -> None:
    jobs = JobRepository(upgraded)
    for number, when in enumerate(PLACED):
        job = Job(url=f"https://e.com/placed/{number}", platform="youtube", created_at=when)
        upgraded.execute_update(JobRepository.insert_sql(), job.to_row())
    fresh = [jobs.create_job(f"https://e.com/new/{n}", "youtube") for n in range(3)]

    with reading(legacy_db_path) as conn:
        stored = {row[0]: row[1] for row in conn.execute("SELECT id, created_at FROM jobs")}
    truth = {
        job_id: datetime.fromisoformat(text).replace(tzinfo=UTC) for job_id, text in stored.items()
    }
    newest_first = sorted(truth.values(), reverse=True)
    assert len(truth) == len(LEGACY_JOBS) + len(PLACED) + len(fresh)

    recent = jobs.get_recent_jobs(100)
    assert {j.id for j in recent} == set(truth)
    assert [truth[j.id] for j in recent] == newest_first
    assert [j.created_at for j in recent] == newest_first
    assert {j.id for j in recent[:3]} == {j.id for j in fresh}

    top = jobs.get_recent_jobs(4)
    assert [truth[j.id] for j in top] == newest_first[:4]

    by_platform = jobs.find_by(platform="youtube")
    assert [truth[j.id] for j in by_platform] == newest_first
    unfiltered = jobs.find_by()
    assert [truth[j.id] for j in unfiltered] == newest_first
    pending = jobs.find_by(status="pending")
    assert [truth[j.id] for j in pending] == sorted(
        (t for i, t in truth.items() if jobs.get_job(i).status == "pending"), reverse=True
    )
    active = jobs.get_active_jobs()
    assert [j.created_at for j in active] == sorted((j.created_at for j in active), reverse=True)
    assert len(active) == len(PLACED) + len(fresh) + 2  # plus legacy pending and running


def test_placed_rows_read_back_as_written(upgraded: DatabaseConfig) -> None:
    jobs = JobRepository(upgraded)
    for number, when in enumerate(PLACED):
        job = Job(url=f"https://e.com/placed/{number}", platform="other", created_at=when)
        upgraded.execute_update(JobRepository.insert_sql(), job.to_row())
        back = jobs.get_job(job.id)
        assert back is not None
        assert back.created_at == when
        assert back.created_at.tzinfo is not None
        assert back.created_at.utcoffset() == timedelta(0)


def test_upgraded_tables_have_exactly_the_declared_columns(upgraded: DatabaseConfig) -> None:
    for model in ALL_MODELS:
        rows = upgraded.execute_query(
            "SELECT name FROM pragma_table_info(?)", (model.get_table_name(),)
        )
        assert {row[0] for row in rows} == set(model.field_names())
