"""Subscriptions: the repository (create, options, claim, finish) and the workers' check."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from collector.config.database import DatabaseConfig, Statement
from collector.config.runtime import RuntimeSettings
from collector.models.entries import Listing
from collector.models.formats import InvalidFormatError
from collector.models.job import Job
from collector.models.quoting import quote_identifier
from collector.models.subscription import (
    InvalidOptionError,
    Subscription,
    format_every,
    parse_every,
)
from collector.models.urls import InvalidURLError
from collector.models.values import to_db_timestamp, utcnow
from collector.repositories import FileRepository
from collector.repositories.queue import JobQueue
from collector.repositories.subscriptions import (
    SQL_ANY_DUE,
    SQL_FAILED,
    SQL_FINISHED,
    SQL_HELD,
    NotAPlaylistError,
    SubscriptionExistsError,
    SubscriptionNotFoundError,
    SubscriptionRepository,
    backoff_seconds,
)
from collector.schema.plans import explain
from collector.worker.errors import DownloadFailed
from collector.worker.subscriptions import NOT_A_PLAYLIST, SubscriptionChecker
from tests.integration.test_playlists import serve_feed
from tests.media_server import MediaServer
from tests.subscription_fixtures import FakeLister, entry
from tests.worker_fixtures import make_worker

pytestmark = pytest.mark.both_engines

CHANNEL = "https://www.youtube.com/@SomeChannel"
PLAYLIST = "https://www.youtube.com/playlist?list=PL0123456789abcdef"
VIDEO = "https://www.youtube.com/watch?v=abcdefghijk"
CHOICES = "best, 1080p, 720p, 480p, audio-m4a, audio-mp3"


@pytest.fixture
def subs(db: DatabaseConfig) -> SubscriptionRepository:
    return SubscriptionRepository(db)


def set_column(db: DatabaseConfig, sub_id: str, column: str, value: object) -> None:
    """Move a subscription in time (the column is one of a fixed few, named here)."""
    assert column in ("next_check_at", "check_expires_at")
    sql = f"UPDATE subscriptions SET {quote_identifier(column)} = ? WHERE id = ?"
    assert db.execute_update(sql, (value, sub_id)) == 1


def ago(seconds: float) -> str:
    return to_db_timestamp(utcnow() - timedelta(seconds=seconds))


def within(moment: datetime | None, low: datetime, high: datetime) -> bool:
    assert moment is not None
    return low <= moment <= high


# -- options ------------------------------------------------------------------------------


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300),
        ("30m", 1800),
        ("99999m", 5999940),
        ("6h", 21600),
        ("999h", 3596400),
        ("1d", 86400),
        ("365d", 31536000),
        (600, 600),
        (600.0, 600),
    ],
)
def test_every_reads_a_number_and_a_unit(text: object, seconds: int) -> None:
    assert parse_every(text) == seconds


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4m", "every must be from 5m to 365d (at most 99999m or 999h), not '4m'"),
        ("366d", "not '366d'"),
        ("1000h", "not '1000h'"),
        ("05m", "not '05m'"),
        (299, "not 299s"),
        (" 2d", "as 30m, 6h or 1d; not ' 2d'"),
        ("6H", "as 30m, 6h or 1d; not '6H'"),
        ("6", "as 30m, 6h or 1d; not '6'"),
        ("h", "as 30m, 6h or 1d; not 'h'"),
        ("1.5h", "as 30m, 6h or 1d; not '1.5h'"),
        ("-1h", "as 30m, 6h or 1d; not '-1h'"),
        (True, "as 30m, 6h or 1d; not bool"),
        (600.5, "as 30m, 6h or 1d; not float"),
        (None, "as 30m, 6h or 1d; not NoneType"),
    ],
)
def test_bad_every_is_refused(text: object, message: str) -> None:
    with pytest.raises(InvalidOptionError) as refused:
        parse_every(text)
    assert str(refused.value).endswith(message)


@pytest.mark.sqlite_only
def test_every_is_shown_as_it_is_read() -> None:
    assert [format_every(s) for s in (300, 1800, 21600, 86400, 90)] == [
        "5m",
        "30m",
        "6h",
        "1d",
        "90s",
    ]


@pytest.mark.sqlite_only
def test_backoff_doubles_from_five_minutes_up_to_every() -> None:
    assert [backoff_seconds(1800, n) for n in range(6)] == [300, 600, 1200, 1800, 1800, 1800]
    assert backoff_seconds(86400, 100) == 86400  # no overflow after many failures


# -- create, list, change, remove ----------------------------------------------------------


def test_create_keeps_the_options_and_is_due_at_once(subs: SubscriptionRepository) -> None:
    before = utcnow()
    sub = subs.create(CHANNEL, every="1d", format="720p", after_date="2024-02-29", keep_newest=5)
    stored = subs.get(sub.id)
    assert (stored.url, stored.identity, stored.every_seconds) == (
        CHANNEL,
        "YoutubeTab:@SomeChannel",
        86400,
    )
    assert (stored.format, stored.after_date, stored.keep_newest) == ("720p", "2024-02-29", 5)
    assert (stored.paused, stored.failures, stored.queued, stored.last_error) == (0, 0, 0, None)
    assert within(stored.next_check_at, before, utcnow())
    assert stored.last_checked_at is None and stored.checking_by is None
    default = subs.create(PLAYLIST)
    assert (default.every_seconds, default.format, default.keep_newest) == (21600, None, None)
    assert [s.id for s in subs.list_all()] == [default.id, sub.id]


@pytest.mark.parametrize(
    ("url", "options", "error", "message"),
    [
        (VIDEO, {}, NotAPlaylistError, f"{VIDEO} is a single video, not a playlist or channel"),
        ("ftp://example.com/x", {}, InvalidURLError, "http"),
        ("http://127.0.0.1/list", {}, InvalidURLError, "127.0.0.1"),
        (CHANNEL, {"format": "4k"}, InvalidFormatError, f"valid: {CHOICES}"),
        (CHANNEL, {"every": "1m"}, InvalidOptionError, "every must be from 5m to 365d"),
        (CHANNEL, {"after_date": "2024-02-30"}, InvalidOptionError, "YYYY-MM-DD"),
        (CHANNEL, {"keep_newest": 0}, InvalidOptionError, "keep must be a whole number"),
    ],
)
def test_bad_input_follows_nothing(
    subs: SubscriptionRepository, url: str, options: dict, error: type, message: str
) -> None:
    with pytest.raises(error) as refused:
        subs.create(url, **options)
    assert message in str(refused.value)
    assert subs.list_all() == []


def test_a_channel_is_followed_once(subs: SubscriptionRepository) -> None:
    first = subs.create(CHANNEL)
    with pytest.raises(
        SubscriptionExistsError, match=f"already followed as subscription {first.id}"
    ):
        subs.create(CHANNEL + "/", every="1h")  # another spelling, the same channel
    assert [s.id for s in subs.list_all()] == [first.id]


def test_options_change_and_every_counts_from_the_last_check(
    subs: SubscriptionRepository,
) -> None:
    sub = subs.create(CHANNEL, every="6h", format="480p", keep_newest=3)
    changed = subs.update(
        sub.id, {"every": "1d", "format": None, "after_date": "2025-01-01", "keep_newest": None}
    )
    assert (changed.every_seconds, changed.format, changed.after_date) == (
        86400,
        None,
        "2025-01-01",
    )
    assert changed.keep_newest is None
    assert changed.next_check_at == sub.created_at + timedelta(days=1)
    assert subs.pause(sub.id).paused == 1
    assert subs.resume(sub.id).paused == 0
    with pytest.raises(ValueError, match="unknown option 'url'; valid: every, format"):
        subs.update(sub.id, {"url": VIDEO})
    with pytest.raises(ValueError, match="paused must be true or false"):
        subs.update(sub.id, {"paused": "yes"})
    with pytest.raises(InvalidFormatError):
        subs.update(sub.id, {"format": "8k"})
    assert subs.get(sub.id).format is None  # nothing of a refused change is kept


def test_missing_subscription(subs: SubscriptionRepository) -> None:
    for action in (subs.get, subs.pause, subs.resume, subs.remove):
        with pytest.raises(SubscriptionNotFoundError, match="no subscription with id 'nope'"):
            action("nope")


def test_remove_keeps_the_jobs(db: DatabaseConfig, subs: SubscriptionRepository) -> None:
    sub = subs.create(CHANNEL)
    job = Job(url=VIDEO, platform="youtube", identity="Youtube:abcdefghijk", subscription_id=sub.id)
    db.execute_update(JobQueue.insert_sql(), job.to_row())
    assert subs.remove(sub.id).id == sub.id
    assert subs.list_all() == []
    assert JobQueue(db).get(job.id).subscription_id == sub.id


# -- claims and results -------------------------------------------------------------------


def test_claim_takes_the_most_overdue_and_one_check_at_a_time(
    db: DatabaseConfig, subs: SubscriptionRepository
) -> None:
    newer, older = subs.create(CHANNEL), subs.create(PLAYLIST)
    set_column(db, older.id, "next_check_at", ago(3600))
    set_column(db, newer.id, "next_check_at", ago(60))

    first = subs.claim_due("w1", 60)
    assert first is not None and first.id == older.id
    assert first.checking_by == "w1"
    assert subs.claim_due("w2", 60) is None  # w1's lease is live: nobody else checks

    set_column(db, older.id, "check_expires_at", ago(1))  # w1 died: its lease ran out
    again = subs.claim_due("w2", 60)
    assert again is not None and (again.id, again.checking_by) == (older.id, "w2")
    assert subs.finish_check(older.id, "w1", queued=5) is None  # w1 lost it: no change
    assert subs.finish_check(older.id, "w2", queued=1) is not None
    last = subs.claim_due("w1", 60)
    assert last is not None and last.id == newer.id


def test_concurrent_claimers_get_one_check(database: str, subs: SubscriptionRepository) -> None:
    for url in (CHANNEL, PLAYLIST):
        subs.create(url)
    barrier = threading.Barrier(4)
    got: list[str | None] = []
    lock = threading.Lock()

    def claim(name: str) -> None:
        own = DatabaseConfig(database)
        try:
            barrier.wait(10)
            sub = SubscriptionRepository(own).claim_due(name, 60)
            with lock:
                got.append(sub.id if sub else None)
        finally:
            own.dispose()

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(got) == 4
    assert len([g for g in got if g is not None]) == 1


def test_paused_and_future_checks_are_never_claimed(
    db: DatabaseConfig, subs: SubscriptionRepository
) -> None:
    paused = subs.create(CHANNEL)
    subs.pause(paused.id)
    later = subs.create(PLAYLIST)
    set_column(db, later.id, "next_check_at", to_db_timestamp(utcnow() + timedelta(hours=1)))
    assert subs.any_due() is False
    assert subs.claim_due("w1", 60) is None
    subs.resume(paused.id)
    assert subs.any_due() is True
    claimed = subs.claim_due("w1", 60)
    assert claimed is not None and claimed.id == paused.id


def test_a_look_with_nothing_due_takes_no_write_lock(
    db: DatabaseConfig, subs: SubscriptionRepository, tmp_path: Path
) -> None:
    sub = subs.create(CHANNEL)
    set_column(db, sub.id, "next_check_at", to_db_timestamp(utcnow() + timedelta(hours=1)))
    checker = SubscriptionChecker(JobQueue(db), FakeLister())
    with db.capture() as statements:
        assert checker.check_once("w1", settings_for(tmp_path)) is False
    assert [s.sql for s in statements] == [SQL_ANY_DUE]
    assert checker.downloader.calls == []


def test_success_schedules_the_next_check(subs: SubscriptionRepository) -> None:
    sub = subs.create(CHANNEL, every="1h")
    assert subs.claim_due("w1", 60) is not None
    before = utcnow()
    done = subs.finish_check(sub.id, "w1", queued=4, title="Some <Channel>")
    after = utcnow()
    assert done is not None
    assert within(done.next_check_at, before + timedelta(hours=1), after + timedelta(hours=1))
    assert within(done.last_checked_at, before, after)
    assert (done.failures, done.last_error, done.last_queued, done.queued) == (0, None, 4, 4)
    assert (done.title, done.checking_by, done.check_expires_at) == ("Some <Channel>", None, None)


def test_failures_back_off_and_a_success_resets_them(
    db: DatabaseConfig, subs: SubscriptionRepository
) -> None:
    sub = subs.create(CHANNEL, every="30m")
    for failures, wait in ((1, 300), (2, 600), (3, 1200), (4, 1800)):
        set_column(db, sub.id, "next_check_at", ago(1))
        assert subs.claim_due("w1", 60) is not None
        before = utcnow()
        failed = subs.finish_check(sub.id, "w1", error=f"HTTP Error 429 #{failures}")
        after = utcnow()
        assert failed is not None
        assert (failed.failures, failed.last_error) == (failures, f"HTTP Error 429 #{failures}")
        low, high = before + timedelta(seconds=wait), after + timedelta(seconds=wait)
        assert within(failed.next_check_at, low, high)
    set_column(db, sub.id, "next_check_at", ago(1))
    assert subs.claim_due("w1", 60) is not None
    ok = subs.finish_check(sub.id, "w1", queued=0)
    assert ok is not None and (ok.failures, ok.last_error) == (0, None)


# -- the check ------------------------------------------------------------------------------


def settings_for(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(download_dir=tmp_path / "downloads")


def add_job(db: DatabaseConfig, **fields: object) -> Job:
    job = Job(url=VIDEO, platform="youtube", **fields)
    db.execute_update(JobQueue.insert_sql(), job.to_row())
    return job


def test_a_check_queues_only_new_entries(
    db: DatabaseConfig, subs: SubscriptionRepository, tmp_path: Path
) -> None:
    sub = subs.create(CHANNEL, format="audio-m4a")
    known = entry(1)
    add_job(db, identity=known.identity, status="completed")  # collected earlier, by hand
    lister = FakeLister({CHANNEL: Listing(True, "The Channel", [entry(3), entry(2), known])})
    checker = SubscriptionChecker(JobQueue(db), lister)

    assert checker.check_once("w1", settings_for(tmp_path)) is True
    queued = db.execute_query(
        "SELECT identity, subscription_id, format FROM jobs WHERE subscription_id = ?", (sub.id,)
    )
    assert sorted(tuple(row) for row in queued) == [
        (entry(2).identity, sub.id, "audio-m4a"),
        (entry(3).identity, sub.id, "audio-m4a"),
    ]
    checked = subs.get(sub.id)
    assert (checked.title, checked.queued, checked.last_queued, checked.failures) == (
        "The Channel",
        2,
        2,
        0,
    )
    assert lister.calls == [(CHANNEL, settings_for(tmp_path).allowed_hosts)]

    assert checker.check_once("w1", settings_for(tmp_path)) is False  # not due yet
    set_column(db, sub.id, "next_check_at", ago(1))
    assert checker.check_once("w1", settings_for(tmp_path)) is True
    again = subs.get(sub.id)
    assert (again.queued, again.last_queued) == (2, 0)  # nothing new the second time
    assert len(db.execute_query("SELECT id FROM jobs")) == 3


def test_a_check_respects_after(
    db: DatabaseConfig, subs: SubscriptionRepository, tmp_path: Path
) -> None:
    sub = subs.create(CHANNEL, after_date="2024-06-01")
    listed = [
        entry(1, "2024-05-31"),
        entry(2, "2024-06-01"),
        entry(3, None),
        entry(4, "2025-01-02"),
    ]
    checker = SubscriptionChecker(JobQueue(db), FakeLister({CHANNEL: Listing(True, None, listed)}))
    assert checker.check_once("w1", settings_for(tmp_path))
    rows = db.execute_query("SELECT identity FROM jobs WHERE subscription_id = ?", (sub.id,))
    assert sorted(row["identity"] for row in rows) == [entry(n).identity for n in (2, 3, 4)]
    assert subs.get(sub.id).queued == 3


def test_failed_listings_are_recorded(
    db: DatabaseConfig, subs: SubscriptionRepository, tmp_path: Path
) -> None:
    video_like = subs.create(CHANNEL)
    gone = subs.create(PLAYLIST)
    set_column(db, gone.id, "next_check_at", ago(10))  # the more overdue: checked first
    lister = FakeLister(
        {
            CHANNEL: Listing(False, "One video"),
            PLAYLIST: DownloadFailed("ERROR: [youtube:tab] PL0123: This playlist does not exist"),
        }
    )
    checker = SubscriptionChecker(JobQueue(db), lister)
    assert checker.check_once("w1", settings_for(tmp_path))
    assert checker.check_once("w1", settings_for(tmp_path))
    assert subs.get(gone.id).last_error == "This playlist does not exist"
    failed = subs.get(video_like.id)
    assert (failed.failures, failed.last_error, failed.title) == (1, NOT_A_PLAYLIST, None)
    assert db.execute_query("SELECT id FROM jobs") == []


def test_an_unexpected_error_ends_the_check_as_a_failure(
    db: DatabaseConfig, subs: SubscriptionRepository, tmp_path: Path
) -> None:
    sub = subs.create(CHANNEL, every="1h")
    boom = RuntimeError("parser broke on https://user:secret@example.com/feed")
    checker = SubscriptionChecker(JobQueue(db), FakeLister({CHANNEL: boom}))
    assert checker.check_once("w1", settings_for(tmp_path))
    failed = subs.get(sub.id)
    assert failed.failures == 1
    assert failed.last_error is not None and "secret" not in failed.last_error
    assert failed.last_error.startswith("parser broke on https://")
    assert (failed.checking_by, failed.check_expires_at) == (None, None)  # lease given back


def completed_with_files(
    db: DatabaseConfig, sub_id: str, n: int, date: str | None, root: Path
) -> Job:
    job = add_job(
        db, identity=entry(n).identity, status="completed", subscription_id=sub_id, upload_date=date
    )
    folder = root / job.id
    folder.mkdir(parents=True)
    (folder / "video.mp4").write_bytes(b"x" * n)
    FileRepository(db).create_file(job.id, str(folder / "video.mp4"), "video", n)
    return job


def test_keep_newest_removes_the_older_files(
    db: DatabaseConfig, subs: SubscriptionRepository, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    sub = subs.create(CHANNEL, keep_newest=2)
    dates = {1: "2024-01-01", 2: "2024-03-01", 3: None, 4: "2024-02-01"}
    jobs = {
        n: completed_with_files(db, sub.id, n, d, settings.download_dir) for n, d in dates.items()
    }
    other = completed_with_files(db, "another", 5, "2020-01-01", settings.download_dir)
    listed = [entry(n) for n in (1, 2, 3, 4, 6)]
    checker = SubscriptionChecker(JobQueue(db), FakeLister({CHANNEL: Listing(True, "C", listed)}))

    assert checker.check_once("w1", settings)
    kept, removed = (jobs[2], jobs[4]), (jobs[1], jobs[3])  # no date counts as the oldest
    for job in (*kept, other):
        assert (settings.download_dir / job.id / "video.mp4").exists()
        assert len(FileRepository(db).get_job_files(job.id)) == 1
        assert JobQueue(db).get(job.id).removed_at is None
    for job in removed:
        assert not (settings.download_dir / job.id).exists()
        assert FileRepository(db).get_job_files(job.id) == []
        assert JobQueue(db).get(job.id).removed_at is not None
    new = db.execute_query("SELECT identity FROM jobs WHERE status = 'pending'")
    assert [row["identity"] for row in new] == [entry(6).identity]  # removed: not queued again
    assert checker.apply_keep(subs.get(sub.id), settings) == 0  # nothing more to remove


def test_the_worker_loop_runs_due_checks(
    db: DatabaseConfig, subs: SubscriptionRepository, downloads: Path
) -> None:
    sub = subs.create(CHANNEL)
    add_job(db, identity=entry(1).identity, status="completed")
    lister = FakeLister({CHANNEL: Listing(True, "C", [entry(1)])})
    worker = make_worker(db, downloader=lister, watch=False)
    assert worker.work_once("w/0") is False  # checked; nothing new, so no job to claim
    assert lister.calls == [(CHANNEL, lister.calls[0][1])]
    checked = subs.get(sub.id)
    assert (checked.title, checked.last_queued) == ("C", 0)
    set_column(db, sub.id, "next_check_at", ago(1))
    assert worker.work_once("w/0") is False  # the next look waits CHECK_EVERY_SECONDS
    assert len(lister.calls) == 1


# -- plans on a populated table (the contracts' database has no subscriptions) ------------------

MANY = 5_000


@pytest.fixture
def many_subs(db: DatabaseConfig) -> SubscriptionRepository:
    """MANY subscriptions, one in 10 paused, due times spread over a day, analyzed."""
    start = utcnow() - timedelta(hours=12)
    rows = [
        Subscription(
            url=f"https://www.youtube.com/@channel{n}",
            identity=f"YoutubeTab:@channel{n}",
            every_seconds=21600,
            paused=int(n % 10 == 0),
            next_check_at=start + timedelta(seconds=n * 17),
        ).to_row()
        for n in range(MANY)
    ]
    conn = db.connection()
    SubscriptionRepository.insert_rows(conn, rows)
    db.dialect.analyze(conn, "subscriptions")
    return SubscriptionRepository(db)


def plan_indexes(db: DatabaseConfig, statement: Statement) -> set[str]:
    steps = explain(db.connection(), statement.sql, statement.params)
    assert not [s for s in steps if s.full_scan and s.table == "subscriptions"], steps
    return {s.index for s in steps if s.index}


def test_claim_and_finish_use_their_indexes(
    db: DatabaseConfig, many_subs: SubscriptionRepository
) -> None:
    with db.capture(execute=False) as statements:
        many_subs.any_due()
        many_subs.claim_due("w1", 60)
    due, claim = statements
    assert plan_indexes(db, due) == {"idx_subscriptions_due"}
    assert {"idx_subscriptions_due", "idx_subscriptions_check_expires"} <= plan_indexes(db, claim)

    sub = many_subs.claim_due("w1", 60)
    assert sub is not None and sub.paused == 0
    assert sub.next_check_at == min(
        s.next_check_at for s in many_subs.list_all(MANY) if not s.paused
    )
    primary = db.dialect.primary_key_index(db.connection(), "subscriptions")
    for error in (None, "gone"):
        with db.capture() as statements:
            assert many_subs.finish_check(sub.id, "w1", error=error) is not None
        assert [s.sql for s in statements] == [
            SQL_HELD,
            SQL_FINISHED if error is None else SQL_FAILED,
        ]
        for statement in statements:
            assert plan_indexes(db, statement) == {primary}
        sub = many_subs.claim_due("w1", 60)  # the next most overdue, for the next round
        assert sub is not None


def test_list_and_identity_use_their_indexes(
    db: DatabaseConfig, many_subs: SubscriptionRepository
) -> None:
    with db.capture(execute=False) as statements:
        many_subs.list_all(50)
        many_subs.find_identity("YoutubeTab:@channel7")
    listed, found = statements
    assert "idx_subscriptions_created_at" in plan_indexes(db, listed)
    assert plan_indexes(db, found) == {"idx_subscriptions_identity"}


# -- with the real downloader: a feed on the loopback media server ------------------------------


def test_a_followed_feed_is_downloaded_and_trimmed(
    db: DatabaseConfig, downloads: Path, media_server: MediaServer
) -> None:
    feed = serve_feed(media_server, ["ep1", "ep2", "ep3", "ep4"])  # June 1st to 4th
    subs = SubscriptionRepository(db)
    sub = subs.create(feed, after_date="2026-06-02", keep_newest=2, format="best")

    make_worker(db).run(burst=True)  # checks first, then downloads what it queued

    checked = subs.get(sub.id)
    assert (checked.title, checked.queued, checked.last_queued, checked.failures) == (
        "The Feed",
        3,
        3,
        0,
    )
    jobs = db.execute_query(
        "SELECT id, url, status, upload_date, format FROM jobs WHERE subscription_id = ?",
        (sub.id,),
    )
    by_date = {row["upload_date"]: row for row in jobs}
    assert sorted(by_date) == ["2026-06-02", "2026-06-03", "2026-06-04"]  # not June 1st
    assert {(row["status"], row["format"]) for row in jobs} == {("completed", "best")}
    assert media_server.files["ep1.mp4"].requests == []

    set_column(db, sub.id, "next_check_at", ago(1))
    make_worker(db).run(burst=True)  # nothing new; the keep rule trims to the newest two

    again = subs.get(sub.id)
    assert (again.queued, again.last_queued) == (3, 0)
    oldest = by_date["2026-06-02"]["id"]
    assert not (downloads / oldest).exists()
    assert FileRepository(db).get_job_files(oldest) == []
    assert JobQueue(db).get(oldest).removed_at is not None
    for date in ("2026-06-03", "2026-06-04"):
        kept = by_date[date]["id"]
        assert JobQueue(db).get(kept).removed_at is None
        assert {f.file_type for f in FileRepository(db).get_job_files(kept)} >= {"video"}
        assert any(path.suffix == ".mp4" for path in (downloads / kept).iterdir())


class SlowLister:
    """Lists after ``seconds`` (or as soon as the check is stopped), calling ``during``
    half-way: the listing of a large channel, many pages long."""

    def __init__(self, listing: Listing, seconds: float, during: object = None) -> None:
        self.listing, self.seconds, self.during = listing, seconds, during
        self.stopped_by: str | None = None

    def list_entries(self, url: str, stop: object = None, allowed: object = None) -> Listing:
        deadline = time.monotonic() + self.seconds
        halfway = time.monotonic() + self.seconds / 2
        called = False
        while time.monotonic() < deadline:
            if not called and time.monotonic() >= halfway and callable(self.during):
                self.during()
                called = True
            reason = getattr(stop, "reason", None)
            if reason is not None:
                self.stopped_by = reason
                raise DownloadFailed("ERROR: the listing was cut")
            time.sleep(0.02)
        return self.listing


def test_a_long_check_keeps_its_lease(
    db: DatabaseConfig, database: str, subs: SubscriptionRepository, tmp_path: Path
) -> None:
    sub = subs.create(CHANNEL)
    other = SubscriptionRepository(DatabaseConfig(database))
    taken: list[object] = []
    # Half-way through a listing three leases long, another worker finds no check to take.
    lister = SlowLister(
        Listing(True, "C", [entry(1)]),
        seconds=2.4,
        during=lambda: taken.append(other.claim_due("w2", 0.8)),
    )
    checker = SubscriptionChecker(JobQueue(db), lister, lease_seconds=0.8)

    assert checker.check_once("w1", settings_for(tmp_path)) is True

    assert taken == [None]
    done = subs.get(sub.id)
    assert (done.checking_by, done.queued, done.failures) == (None, 1, 0)
    other.db.dispose()


def test_a_check_whose_lease_was_taken_stops_and_records_nothing(
    db: DatabaseConfig, database: str, subs: SubscriptionRepository, tmp_path: Path
) -> None:
    sub = subs.create(CHANNEL)
    writer = DatabaseConfig(database)

    def take_over() -> None:  # as a worker would once the lease ran out
        writer.execute_update("UPDATE subscriptions SET checking_by = 'w2' WHERE id = ?", (sub.id,))

    lister = SlowLister(Listing(True, "C", [entry(1)]), seconds=3.0, during=take_over)
    checker = SubscriptionChecker(JobQueue(db), lister, lease_seconds=0.8)

    assert checker.check_once("w1", settings_for(tmp_path)) is True

    assert lister.stopped_by == "lost"
    after = subs.get(sub.id)
    assert (after.checking_by, after.queued, after.failures, after.last_error) == (
        "w2",
        0,
        0,
        None,
    )
    assert db.execute_query("SELECT id FROM jobs") == []
    writer.dispose()
