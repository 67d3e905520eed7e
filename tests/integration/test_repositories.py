"""Repositories against a real database (SQLite and PostgreSQL): what each method stores
and returns."""

from __future__ import annotations

import re
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.config.database import DatabaseConfig
from collector.models.job import Job
from collector.models.values import from_db_timestamp, to_db_timestamp
from collector.repositories import FileRepository, JobRepository, SettingsRepository
from tests.conftest import beside, raw
from tests.expected import JOB_FIELDS
from tests.legacy import ORPHAN_JOB_ID

pytestmark = pytest.mark.both_engines

ALL_STATUSES = ("pending", "running", "cancelling", "completed", "failed", "cancelled")
ACTIVE = ("pending", "running", "cancelling")
FINISHED = ("completed", "failed", "cancelled")
PLATFORMS = ("youtube", "instagram", "tiktok", "other")
FILE_TYPES = ("video", "audio", "image", "metadata")
STORED_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
BASE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE = "x' OR '1'='1"

SQL_SET_JOB_CREATED = "UPDATE jobs SET created_at = ? WHERE id = ?"
SQL_SET_FILE_CREATED = "UPDATE files SET created_at = ? WHERE id = ?"


def stamp(minutes: int) -> str:
    return to_db_timestamp(BASE + timedelta(minutes=minutes))


def raw_job(db: DatabaseConfig, job_id: str) -> dict | None:
    with beside(db) as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return dict(row) if row is not None else None


def raw_scalar(db: DatabaseConfig, sql: str, params: tuple = ()) -> object:
    with beside(db) as conn:
        return conn.execute(sql, params).fetchone()[0]


def raw_file_ids(db: DatabaseConfig) -> set[str]:
    with beside(db) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM files")}


def stored_timestamp(value: object) -> datetime:
    """A stored timestamp as an aware datetime, checking how the engine stores it:
    naive UTC text with microseconds on SQLite, timestamptz on PostgreSQL."""
    if isinstance(value, str):
        assert STORED_TIMESTAMP.match(value), value
        parsed = from_db_timestamp(value)
        assert parsed is not None
        return parsed
    assert isinstance(value, datetime) and value.tzinfo is not None, value
    return value


def make_jobs(
    db: DatabaseConfig, jobs: JobRepository, specs: list[tuple[str, str, int]]
) -> list[dict]:
    """Jobs from (status, platform, minutes after BASE); created_at set to that time."""
    made = []
    for number, (status, platform, minutes) in enumerate(specs):
        job = jobs.create_job(f"https://{platform}.example/{number}", platform, f"t{number}")
        if status != "pending":
            assert jobs.update_job_status(job.id, status) is not None
        db.execute_update(SQL_SET_JOB_CREATED, (stamp(minutes), job.id))
        made.append({"id": job.id, "status": status, "platform": platform, "minutes": minutes})
    return made


def newest_first(made: list[dict]) -> list[str]:
    return [m["id"] for m in sorted(made, key=lambda m: m["minutes"], reverse=True)]


# -- JobRepository: creating -------------------------------------------------------------------


def test_create_job_returns_pending_job_stored_as_given(jobs: JobRepository) -> None:
    job = jobs.create_job("https://youtube.com/watch?v=abc", "youtube", "A title")

    assert job.status == "pending"
    assert (job.url, job.platform, job.title) == (
        "https://youtube.com/watch?v=abc",
        "youtube",
        "A title",
    )
    assert (job.progress, job.retry_count, job.bytes_downloaded) == (0, 0, 0)
    assert job.completed_at is None and job.error_message is None
    assert job.created_at.tzinfo is not None

    stored = jobs.get_job(job.id)
    assert stored is not None
    assert stored.to_dict() == job.to_dict()

    row = raw_job(jobs.db, job.id)
    assert row is not None
    # PostgreSQL keeps the searched words in a column of its own, after the model's.
    search = jobs.db.dialect.search_column("jobs", Job.search, Job.primary_key)
    assert tuple(row) == JOB_FIELDS + (() if search is None else (search.column,))
    assert row["status"] == "pending"
    assert row["url"] == "https://youtube.com/watch?v=abc"
    assert row["title"] == "A title"
    assert stored_timestamp(row["created_at"]) == job.created_at
    assert jobs.count() == 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_create_job_accepts_each_platform(jobs: JobRepository, platform: str) -> None:
    job = jobs.create_job("https://example.com/v", platform)
    stored = jobs.get_job(job.id)
    assert stored is not None and stored.platform == platform and stored.title is None


@pytest.mark.parametrize("platform", ["vimeo", "YouTube", "", None, "youtube "])
def test_create_job_rejects_unknown_platform(jobs: JobRepository, platform: object) -> None:
    with pytest.raises(ValueError) as info:
        jobs.create_job("https://example.com/v", platform)  # type: ignore[arg-type]
    message = str(info.value)
    for valid in PLATFORMS:
        assert valid in message
    assert jobs.count() == 0


@pytest.mark.parametrize("url", ["", "   ", None, 5])
def test_create_job_rejects_empty_url(jobs: JobRepository, url: object) -> None:
    with pytest.raises(ValueError, match="url"):
        jobs.create_job(url, "youtube")  # type: ignore[arg-type]
    assert jobs.count() == 0


# -- JobRepository: statuses -------------------------------------------------------------------


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_update_job_status_sets_status_and_completed_at(jobs: JobRepository, status: str) -> None:
    job = jobs.create_job("https://example.com/v", "other")
    # Start from the opposite kind of status, so completed_at must actually change.
    start = "running" if status in FINISHED else "failed"
    before = jobs.update_job_status(job.id, start)
    assert before is not None
    assert (before.completed_at is None) == (start not in FINISHED)

    updated = jobs.update_job_status(job.id, status)

    assert updated is not None
    assert updated.id == job.id and updated.status == status
    row = raw_job(jobs.db, job.id)
    assert row is not None and row["status"] == status
    if status in FINISHED:
        assert updated.completed_at is not None
        assert stored_timestamp(row["completed_at"]) == updated.completed_at
    else:
        assert updated.completed_at is None
        assert row["completed_at"] is None
    assert row["updated_at"] >= row["created_at"]
    assert updated.to_dict() == jobs.get_job(job.id).to_dict()  # type: ignore[union-attr]


@pytest.mark.parametrize("status", ["done", "PENDING", "", None, "pending; DROP TABLE jobs"])
def test_update_job_status_rejects_unknown_status_and_changes_nothing(
    jobs: JobRepository, status: object
) -> None:
    job = jobs.create_job("https://example.com/v", "tiktok")
    before = raw_job(jobs.db, job.id)

    with pytest.raises(ValueError) as info:
        jobs.update_job_status(job.id, status)  # type: ignore[arg-type]

    message = str(info.value)
    for valid in ALL_STATUSES:
        assert valid in message
    assert raw_job(jobs.db, job.id) == before


def test_update_job_status_of_missing_job_is_none(jobs: JobRepository) -> None:
    jobs.create_job("https://example.com/v", "tiktok")
    assert jobs.update_job_status("no-such-id", "running") is None
    assert jobs.complete_job("no-such-id") is None
    assert jobs.fail_job("no-such-id", "boom") is None
    assert jobs.get_job("no-such-id") is None
    assert jobs.count() == 1


def test_complete_job_sets_progress_and_clears_error(jobs: JobRepository) -> None:
    job = jobs.create_job("https://example.com/v", "youtube")
    assert jobs.fail_job(job.id, "first try failed") is not None

    done = jobs.complete_job(job.id)

    assert done is not None
    assert (done.status, done.progress, done.error_message) == ("completed", 100, None)
    assert done.completed_at is not None
    row = raw_job(jobs.db, job.id)
    assert row is not None
    assert (row["status"], row["progress"], row["error_message"]) == ("completed", 100, None)
    assert stored_timestamp(row["completed_at"]) == done.completed_at


def test_fail_job_records_error_message(jobs: JobRepository) -> None:
    job = jobs.create_job("https://example.com/v", "instagram")

    failed = jobs.fail_job(job.id, "HTTP 403: it's forbidden")

    assert failed is not None
    assert (failed.status, failed.error_message) == ("failed", "HTTP 403: it's forbidden")
    assert failed.completed_at is not None
    row = raw_job(jobs.db, job.id)
    assert row is not None
    assert (row["status"], row["error_message"]) == ("failed", "HTTP 403: it's forbidden")


# -- JobRepository: listing --------------------------------------------------------------------


def test_get_active_jobs_exactly_active_newest_first(
    db: DatabaseConfig, jobs: JobRepository
) -> None:
    specs = []
    minutes = [7, 3, 11, 1, 9, 5, 12, 2, 8, 4, 10, 6]
    for position, status in enumerate(ALL_STATUSES * 2):
        specs.append((status, "youtube", minutes[position]))
    made = make_jobs(db, jobs, specs)

    active = jobs.get_active_jobs()

    expected = newest_first([m for m in made if m["status"] in ACTIVE])
    assert [j.id for j in active] == expected
    assert len(active) == 6
    assert {j.status for j in active} == set(ACTIVE)


def test_get_active_jobs_empty_when_none_active(db: DatabaseConfig, jobs: JobRepository) -> None:
    make_jobs(db, jobs, [(s, "other", n) for n, s in enumerate(FINISHED)])
    assert jobs.get_active_jobs() == []


def test_get_recent_jobs_newest_first_with_limit(db: DatabaseConfig, jobs: JobRepository) -> None:
    made = make_jobs(db, jobs, [("completed", "youtube", m) for m in (5, 1, 9, 3, 7)])
    order = newest_first(made)

    assert [j.id for j in jobs.get_recent_jobs(3)] == order[:3]
    assert [j.id for j in jobs.get_recent_jobs(1)] == order[:1]
    assert [j.id for j in jobs.get_recent_jobs()] == order
    assert [j.id for j in jobs.get_recent_jobs(10_000)] == order


@pytest.mark.parametrize("limit", [0, -1, "5", True, False, 10_001, 2.0, None])
def test_get_recent_jobs_rejects_bad_limit(jobs: JobRepository, limit: object) -> None:
    jobs.create_job("https://example.com/v", "youtube")
    with pytest.raises(ValueError, match="limit"):
        jobs.get_recent_jobs(limit)  # type: ignore[arg-type]


def test_get_job_statistics_matches_independent_count(
    db: DatabaseConfig, jobs: JobRepository
) -> None:
    statuses = ["completed"] * 4 + ["failed"] * 2 + ["pending"] * 3 + ["running"]
    make_jobs(db, jobs, [(s, "tiktok", n) for n, s in enumerate(statuses)])

    statistics = jobs.get_job_statistics()

    with beside(db) as conn:
        counted = Counter(row[0] for row in conn.execute("SELECT status FROM jobs"))
    assert set(statistics) == set(ALL_STATUSES)
    assert statistics == {status: counted.get(status, 0) for status in ALL_STATUSES}
    assert statistics == {
        "pending": 3,
        "running": 1,
        "cancelling": 0,
        "completed": 4,
        "failed": 2,
        "cancelled": 0,
    }


def test_get_job_statistics_on_empty_database_is_all_zero(jobs: JobRepository) -> None:
    assert jobs.get_job_statistics() == dict.fromkeys(ALL_STATUSES, 0)


# -- JobRepository: find_by --------------------------------------------------------------------


@pytest.fixture
def mixed_jobs(db: DatabaseConfig, jobs: JobRepository) -> list[dict]:
    specs = [
        ("completed", "youtube", 4),
        ("completed", "tiktok", 9),
        ("pending", "youtube", 2),
        ("completed", "youtube", 7),
        ("failed", "instagram", 1),
        ("pending", "other", 6),
    ]
    made = make_jobs(db, jobs, specs)
    # One job without a title, to look for by NULL.
    db.execute_update("UPDATE jobs SET title = NULL WHERE id = ?", (made[2]["id"],))
    made[2]["untitled"] = True
    return made


def test_find_by_status_exact_newest_first(jobs: JobRepository, mixed_jobs: list[dict]) -> None:
    expected = newest_first([m for m in mixed_jobs if m["status"] == "completed"])
    assert [j.id for j in jobs.find_by(status="completed")] == expected
    assert [j.id for j in jobs.find_by(status="completed", limit=2)] == expected[:2]
    assert jobs.find_by(status="cancelling") == []


def test_find_by_platform_exact_newest_first(jobs: JobRepository, mixed_jobs: list[dict]) -> None:
    expected = newest_first([m for m in mixed_jobs if m["platform"] == "youtube"])
    assert [j.id for j in jobs.find_by(platform="youtube")] == expected
    both = newest_first(
        [m for m in mixed_jobs if m["platform"] == "youtube" and m["status"] == "completed"]
    )
    assert [j.id for j in jobs.find_by(platform="youtube", status="completed")] == both
    assert len(both) == 2


def test_find_by_none_matches_null(jobs: JobRepository, mixed_jobs: list[dict]) -> None:
    untitled = [m["id"] for m in mixed_jobs if m.get("untitled")]
    assert [j.id for j in jobs.find_by(title=None)] == untitled
    assert jobs.find_by(completed_at=None, status="completed") == []


def test_find_by_without_filters_is_every_job_newest_first(
    jobs: JobRepository, mixed_jobs: list[dict]
) -> None:
    assert [j.id for j in jobs.find_by()] == newest_first(mixed_jobs)


def test_find_by_unknown_column_names_valid_ones(jobs: JobRepository) -> None:
    with pytest.raises(ValueError) as info:
        jobs.find_by(bogus=1)
    message = str(info.value)
    assert "bogus" in message
    for column in JOB_FIELDS:
        assert column in message


@pytest.mark.parametrize("limit", [0, -1, "5", True, 10_001])
def test_find_by_rejects_bad_limit(jobs: JobRepository, limit: object) -> None:
    with pytest.raises(ValueError, match="limit"):
        jobs.find_by(status="pending", limit=limit)  # type: ignore[arg-type]


def test_find_by_unknown_status_is_rejected(jobs: JobRepository) -> None:
    with pytest.raises(ValueError, match="cancelling"):
        jobs.find_by(status="done")


@pytest.mark.parametrize("hostile", [HOSTILE, "'; DROP TABLE jobs; --", '" OR 1=1 --'])
def test_find_by_hostile_value_is_bound_not_interpolated(
    jobs: JobRepository, mixed_jobs: list[dict], hostile: str
) -> None:
    assert jobs.find_by(title=hostile) == []
    assert jobs.find_by(platform=hostile) == []
    assert jobs.find_by(url=hostile, status="pending") == []
    assert jobs.count() == len(mixed_jobs)
    assert raw_scalar(jobs.db, "SELECT COUNT(*) FROM jobs") == len(mixed_jobs)
    # A job whose title is that very text is found, and only it.
    job = jobs.create_job("https://example.com/hostile", "other", hostile)
    assert [j.id for j in jobs.find_by(title=hostile)] == [job.id]


def test_count(jobs: JobRepository, files: FileRepository) -> None:
    assert jobs.count() == 0
    created = [jobs.create_job(f"https://example.com/{n}", "other") for n in range(3)]
    files.create_file(created[0].id, "/a.mp4", "video", 10)
    assert jobs.count() == 3
    assert files.count() == 1


# -- FileRepository ----------------------------------------------------------------------------


def test_create_file_for_missing_job_is_rejected(
    jobs: JobRepository, files: FileRepository
) -> None:
    jobs.create_job("https://example.com/v", "youtube")
    with pytest.raises(ValueError, match="no-such-job"):
        files.create_file("no-such-job", "/x.mp4", "video", 1)
    assert raw_scalar(jobs.db, "SELECT COUNT(*) FROM files") == 0


def test_create_file_stores_row(jobs: JobRepository, files: FileRepository) -> None:
    job = jobs.create_job("https://example.com/v", "youtube")
    record = files.create_file(job.id, "/downloads/a.mp4", "video", 1234)
    with beside(files.db) as conn:
        row = dict(conn.execute("SELECT * FROM files WHERE id = ?", (record.id,)).fetchone())
    assert row["job_id"] == job.id
    assert (row["file_path"], row["file_type"], row["file_size"]) == (
        "/downloads/a.mp4",
        "video",
        1234,
    )
    assert stored_timestamp(row["created_at"]) == record.created_at
    assert [f.to_dict() for f in files.get_job_files(job.id)] == [record.to_dict()]


@pytest.mark.parametrize(
    ("file_type", "size", "path", "match"),
    [
        ("movie", 1, "/x", "metadata"),
        ("VIDEO", 1, "/x", "audio"),
        ("video", -1, "/x", "file_size"),
        ("video", True, "/x", "file_size"),
        ("video", 1.5, "/x", "file_size"),
        ("video", "10", "/x", "file_size"),
        ("video", 1, "", "file_path"),
    ],
)
def test_create_file_rejects_bad_values(
    jobs: JobRepository,
    files: FileRepository,
    file_type: str,
    size: object,
    path: str,
    match: str,
) -> None:
    job = jobs.create_job("https://example.com/v", "youtube")
    with pytest.raises(ValueError, match=match):
        files.create_file(job.id, path, file_type, size)  # type: ignore[arg-type]
    assert raw_scalar(jobs.db, "SELECT COUNT(*) FROM files") == 0


@pytest.fixture
def two_jobs_files(
    db: DatabaseConfig, jobs: JobRepository, files: FileRepository
) -> dict[str, list[dict]]:
    """Two jobs, files of every type, created_at set out of insertion order."""
    first = jobs.create_job("https://example.com/1", "youtube")
    second = jobs.create_job("https://example.com/2", "tiktok")
    layout = {
        first.id: [("video", 30), ("metadata", 10), ("audio", 20), ("video", 5), ("image", 40)],
        second.id: [("video", 15), ("audio", 25), ("metadata", 1)],
    }
    made: dict[str, list[dict]] = {}
    for job_id, entries in layout.items():
        made[job_id] = []
        for number, (file_type, minutes) in enumerate(entries):
            record = files.create_file(job_id, f"/d/{job_id}/{number}", file_type, number)
            db.execute_update(SQL_SET_FILE_CREATED, (stamp(minutes), record.id))
            made[job_id].append({"id": record.id, "type": file_type, "minutes": minutes})
    return made


def oldest_first(entries: list[dict]) -> list[str]:
    return [e["id"] for e in sorted(entries, key=lambda e: e["minutes"])]


def test_get_job_files_oldest_first(
    files: FileRepository, two_jobs_files: dict[str, list[dict]]
) -> None:
    for job_id, entries in two_jobs_files.items():
        listed = files.get_job_files(job_id)
        assert [f.id for f in listed] == oldest_first(entries)
        assert {f.job_id for f in listed} == {job_id}
    assert files.get_job_files("no-such-job") == []


@pytest.mark.parametrize("file_type", FILE_TYPES)
def test_get_files_by_type_and_shortcuts(
    files: FileRepository, two_jobs_files: dict[str, list[dict]], file_type: str
) -> None:
    expected = {
        e["id"] for entries in two_jobs_files.values() for e in entries if e["type"] == file_type
    }
    shortcut = {
        "video": files.get_video_files,
        "audio": files.get_audio_files,
        "image": files.get_image_files,
        "metadata": files.get_metadata_files,
    }[file_type]

    by_type = files.get_files_by_type(file_type)
    assert {f.id for f in by_type} == expected
    assert len(by_type) == len(expected)
    assert {f.file_type for f in by_type} == {file_type}
    assert sorted(f.id for f in shortcut()) == sorted(expected)


def test_get_files_by_type_rejects_unknown_type(files: FileRepository) -> None:
    with pytest.raises(ValueError) as info:
        files.get_files_by_type("movie")
    for valid in FILE_TYPES:
        assert valid in str(info.value)
    with pytest.raises(ValueError, match="video"):
        files.get_job_files_by_type("any", "movie")


def test_get_job_files_by_type_oldest_first(
    files: FileRepository, two_jobs_files: dict[str, list[dict]]
) -> None:
    first, second = two_jobs_files
    videos = [e for e in two_jobs_files[first] if e["type"] == "video"]
    assert len(videos) == 2
    assert [f.id for f in files.get_job_files_by_type(first, "video")] == oldest_first(videos)
    assert files.get_job_files_by_type(first, "image")[0].id == next(
        e["id"] for e in two_jobs_files[first] if e["type"] == "image"
    )
    assert files.get_job_files_by_type(second, "image") == []


# -- orphans and deleting jobs -------------------------------------------------------------------


@pytest.fixture
def legacy_db(legacy_db_path: Path):
    config = DatabaseConfig(legacy_db_path)
    config.initialize_schema()
    yield config
    config.close()


def orphans_by_left_join(db: DatabaseConfig) -> set[str]:
    """Orphaned file ids, computed without the repository."""
    with beside(db) as conn:
        rows = conn.execute(
            "SELECT f.id FROM files f LEFT JOIN jobs j ON f.job_id = j.id WHERE j.id IS NULL"
        )
        return {row[0] for row in rows}


@pytest.mark.sqlite_only
def test_get_orphaned_files_in_legacy_database(legacy_db: DatabaseConfig) -> None:
    """A legacy database is an SQLite file the pre-index code left (tests/legacy.py)."""
    expected = orphans_by_left_join(legacy_db)
    assert len(expected) == 2

    orphans = FileRepository(legacy_db).get_orphaned_files()

    assert {f.id for f in orphans} == expected
    assert len(orphans) == 2
    assert {f.job_id for f in orphans} == {ORPHAN_JOB_ID}


@pytest.mark.sqlite_only
def test_delete_orphaned_files_removes_exactly_them(legacy_db: DatabaseConfig) -> None:
    """A legacy database is an SQLite file the pre-index code left (tests/legacy.py)."""
    before = raw_file_ids(legacy_db)
    orphans = orphans_by_left_join(legacy_db)
    repo = FileRepository(legacy_db)

    assert repo.delete_orphaned_files() == 2

    assert raw_file_ids(legacy_db) == before - orphans
    assert repo.get_orphaned_files() == []
    assert orphans_by_left_join(legacy_db) == set()
    assert repo.delete_orphaned_files() == 0


def test_no_orphans_on_clean_database(
    files: FileRepository, two_jobs_files: dict[str, list[dict]]
) -> None:
    assert files.get_orphaned_files() == []
    assert files.delete_orphaned_files() == 0
    assert files.count() == 8
    assert orphans_by_left_join(files.db) == set()


def test_delete_job_removes_job_and_its_files(
    jobs: JobRepository,
    files: FileRepository,
    two_jobs_files: dict[str, list[dict]],
) -> None:
    first, second = two_jobs_files
    kept = {e["id"] for e in two_jobs_files[second]}

    assert jobs.delete_job(first) == 5

    assert jobs.get_job(first) is None
    assert jobs.get_job(second) is not None
    assert files.get_job_files(first) == []
    assert raw_file_ids(jobs.db) == kept
    assert files.get_orphaned_files() == []
    assert jobs.delete_job(first) is None


def test_delete_job_of_unknown_id_is_none_and_changes_nothing(
    jobs: JobRepository, two_jobs_files: dict[str, list[dict]]
) -> None:
    before = raw_file_ids(jobs.db)
    assert jobs.delete_job("no-such-job") is None
    assert raw_file_ids(jobs.db) == before
    assert jobs.count() == 2


@pytest.mark.sqlite_only
def test_delete_job_in_legacy_database_leaves_no_new_orphans(
    legacy_db: DatabaseConfig, legacy_db_path: Path
) -> None:
    """A legacy database is an SQLite file the pre-index code left (tests/legacy.py);
    its foreign keys are read from SQLite's pragma_foreign_key_list."""
    # The legacy files table has no foreign key: nothing cascades, the repository must.
    with closing(raw(legacy_db_path)) as conn:
        assert (
            conn.execute("SELECT COUNT(*) FROM pragma_foreign_key_list('files')").fetchone()[0] == 0
        )
        job_id = conn.execute("SELECT id FROM jobs ORDER BY created_at LIMIT 1").fetchone()[0]
    orphans_before = orphans_by_left_join(legacy_db)
    files_before = raw_file_ids(legacy_db)

    assert JobRepository(legacy_db).delete_job(job_id) == 2

    assert raw_job(legacy_db, job_id) is None
    assert orphans_by_left_join(legacy_db) == orphans_before
    assert len(raw_file_ids(legacy_db)) == len(files_before) - 2


@pytest.mark.sqlite_only
def test_delete_job_of_unknown_id_leaves_orphan_rows_alone(legacy_db: DatabaseConfig) -> None:
    """None means "no such job": the call must not have deleted anything either.
    (A legacy database is an SQLite file the pre-index code left, tests/legacy.py.)

    delete_job runs DELETE FROM files WHERE job_id = ? and DELETE FROM jobs WHERE
    id = ? in one transaction and commits both; for an id with orphaned file rows
    and no job, the file rows are gone yet the caller is told nothing was there.
    """
    orphans = orphans_by_left_join(legacy_db)
    assert len(orphans) == 2

    assert JobRepository(legacy_db).delete_job(ORPHAN_JOB_ID) is None

    assert orphans_by_left_join(legacy_db) == orphans


# -- SettingsRepository ------------------------------------------------------------------------


def test_settings_get_set_overwrite_delete_all(settings: SettingsRepository) -> None:
    assert settings.get("download_dir") is None
    assert settings.get("download_dir", "fallback") == "fallback"
    assert settings.all() == {}

    settings.set("download_dir", "/srv/media")
    settings.set("concurrency", 3)  # type: ignore[arg-type]
    assert settings.get("download_dir") == "/srv/media"
    assert settings.get("concurrency") == "3"
    assert settings.all() == {"concurrency": "3", "download_dir": "/srv/media"}
    assert list(settings.all()) == ["concurrency", "download_dir"]

    with beside(settings.db) as conn:
        first = dict(conn.execute("SELECT * FROM settings WHERE key = 'download_dir'").fetchone())
    settings.set("download_dir", "/mnt/other")
    with beside(settings.db) as conn:
        second = dict(conn.execute("SELECT * FROM settings WHERE key = 'download_dir'").fetchone())
        assert conn.execute("SELECT COUNT(*) FROM settings").fetchone()[0] == 2
    assert settings.get("download_dir") == "/mnt/other"
    assert second["created_at"] == first["created_at"]
    assert second["updated_at"] >= first["updated_at"]

    settings.set("concurrency", None)
    assert settings.get("concurrency", "fallback") is None
    assert settings.all() == {"concurrency": None, "download_dir": "/mnt/other"}

    assert settings.delete("concurrency") is True
    assert settings.delete("concurrency") is False
    assert settings.all() == {"download_dir": "/mnt/other"}
    assert settings.count() == 1


@pytest.mark.parametrize("key", ["", None, 3])
def test_settings_reject_bad_key(settings: SettingsRepository, key: object) -> None:
    with pytest.raises(ValueError, match="key"):
        settings.set(key, "v")  # type: ignore[arg-type]
    assert settings.all() == {}


def test_settings_hostile_key_is_bound(settings: SettingsRepository) -> None:
    settings.set("a", "1")
    assert settings.get(HOSTILE) is None
    assert settings.delete(HOSTILE) is False
    settings.set(HOSTILE, "2")
    assert settings.all() == {HOSTILE: "2", "a": "1"}


def test_page_status_active_is_the_active_filter(db: DatabaseConfig, jobs: JobRepository) -> None:
    specs = [(s, "youtube", minutes) for minutes, s in enumerate(ALL_STATUSES * 2)]
    made = make_jobs(db, jobs, specs)
    active = [m for m in made if m["status"] in ACTIVE]

    by_name = jobs.page(limit=50, status="active")

    assert [job.id for job in by_name.items] == newest_first(active)
    assert [job.id for job in jobs.page(limit=50, active=True).items] == newest_first(active)
    with pytest.raises(ValueError, match="unknown status 'done'"):
        jobs.page(status="done")
