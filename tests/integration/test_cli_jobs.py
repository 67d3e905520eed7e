"""``collector add|jobs|cancel|retry|settings|worker`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from collector.cli import main
from collector.config.database import DatabaseConfig
from collector.repositories import FileRepository, SettingsRepository
from collector.repositories.queue import JobQueue
from tests.media_server import MediaServer, media_bytes

YOUTUBE = "https://www.youtube.com/watch?v=abc"
TIKTOK = "https://www.tiktok.com/@u/video/1"


def invoke(db_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", str(db_path), *args])


def ok(db_path: Path, *args: str) -> Result:
    result = invoke(db_path, *args)
    assert result.exit_code == 0, result.output
    return result


def failing(db_path: Path, *args: str) -> str:
    """The error message of a command that must fail as a usage or click error."""
    result = invoke(db_path, *args)
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.output


# -- add ---------------------------------------------------------------------------------------


def test_add_prints_job_ids(db_path: Path, db: DatabaseConfig) -> None:
    result = ok(db_path, "add", YOUTUBE, TIKTOK)

    ids = result.stdout.split()
    assert len(ids) == 2
    jobs = [JobQueue(db).get(job_id) for job_id in ids]
    assert [(j.url, j.platform, j.status) for j in jobs] == [
        (YOUTUBE, "youtube", "pending"),
        (TIKTOK, "tiktok", "pending"),
    ]


def test_add_json(db_path: Path) -> None:
    first = json.loads(ok(db_path, "add", "--json", YOUTUBE).stdout)
    again = json.loads(ok(db_path, "add", "--json", YOUTUBE, "https://example.com/v").stdout)

    assert [(row["url"], row["created"], row["status"]) for row in first] == [
        (YOUTUBE, True, "pending")
    ]
    assert again[0]["id"] == first[0]["id"] and again[0]["created"] is False
    assert (again[1]["platform"], again[1]["created"]) == ("other", True)


def test_add_an_already_queued_url_says_so(db_path: Path) -> None:
    job_id = ok(db_path, "add", YOUTUBE).stdout.strip()

    result = ok(db_path, "add", YOUTUBE)

    assert result.stdout.strip() == job_id
    assert f"already queued: {YOUTUBE} (pending)" in result.stderr


def test_add_refuses_a_non_http_url_and_queues_nothing(db_path: Path, db: DatabaseConfig) -> None:
    output = failing(db_path, "add", YOUTUBE, "ftp://example.com/v.mp4")

    assert "Error: only http and https URLs can be queued, not 'ftp://example.com/v.mp4'" in output
    assert JobQueue(db).count() == 0  # all or nothing


def test_add_needs_a_url(db_path: Path) -> None:
    assert "Missing argument 'URLS...'" in failing(db_path, "add")


# -- jobs --------------------------------------------------------------------------------------


def test_jobs_filters_by_status_and_platform(db_path: Path, db: DatabaseConfig) -> None:
    queue = JobQueue(db)
    youtube = queue.enqueue(YOUTUBE).job
    tiktok = queue.enqueue(TIKTOK).job
    queue.cancel(tiktok.id)

    pending = json.loads(ok(db_path, "jobs", "--status", "pending", "--json").stdout)
    cancelled = json.loads(ok(db_path, "jobs", "--status", "cancelled", "--json").stdout)
    by_platform = json.loads(ok(db_path, "jobs", "--platform", "tiktok", "--json").stdout)
    everything = json.loads(ok(db_path, "jobs", "--json", "--limit", "1").stdout)

    assert [row["id"] for row in pending] == [youtube.id]
    assert [row["id"] for row in cancelled] == [tiktok.id]
    assert [row["id"] for row in by_platform] == [tiktok.id]
    assert [row["id"] for row in everything] == [tiktok.id]  # newest first


def test_jobs_status_active_lists_pending_running_and_cancelling(
    db_path: Path, db: DatabaseConfig
) -> None:
    queue = JobQueue(db)
    running = queue.enqueue(YOUTUBE).job
    queue.claim("w1", 60)
    pending = queue.enqueue(TIKTOK).job
    done = queue.enqueue("https://example.com/done.mp4").job
    queue.cancel(done.id)

    active = json.loads(ok(db_path, "jobs", "--status", "active", "--json").stdout)

    assert [(row["id"], row["status"]) for row in active] == [
        (pending.id, "pending"),
        (running.id, "running"),
    ]


def test_jobs_plain_lists_one_line_each(db_path: Path, db: DatabaseConfig) -> None:
    queue = JobQueue(db)
    job = queue.enqueue(YOUTUBE).job
    queue.claim("w1", 60)
    queue.fail(job.id, "w1", "HTTP Error 404: Not Found")

    lines = ok(db_path, "jobs").stdout.splitlines()

    assert lines == [f"{job.id}  failed       0%  youtube   {YOUTUBE}  (HTTP Error 404: Not Found)"]


def test_jobs_plain_output_shows_no_control_characters(db_path: Path, db: DatabaseConfig) -> None:
    queue = JobQueue(db)
    job = queue.enqueue(YOUTUBE).job
    queue.claim("w1", 60)
    queue.complete(job.id, "w1", title="evil\x1b[2J\x1b[31mred\nsecond line\u202e")

    lines = ok(db_path, "jobs").stdout.splitlines()

    assert lines == [f"{job.id}  completed  100%  youtube   evil?[2J?[31mred?second line?"]
    listed = json.loads(ok(db_path, "jobs", "--json").stdout)
    assert listed[0]["title"] == "evil\x1b[2J\x1b[31mred\nsecond line\u202e"  # JSON escapes


def test_jobs_on_an_empty_queue(db_path: Path) -> None:
    result = ok(db_path, "jobs")
    assert result.stdout == "" and "no jobs" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--status", "done"), "'done' is not one of 'pending', 'running', 'cancelling'"),
        (("--platform", "vimeo"), "'vimeo' is not one of 'youtube', 'instagram', 'tiktok'"),
        (("--limit", "0"), "0 is not in the range 1<=x<=10000"),
    ],
)
def test_jobs_refuses_bad_filters(db_path: Path, args: tuple[str, ...], message: str) -> None:
    assert message in failing(db_path, "jobs", *args)


# -- cancel and retry ------------------------------------------------------------------------


def test_cancel_then_retry(db_path: Path, db: DatabaseConfig) -> None:
    job_id = ok(db_path, "add", YOUTUBE).stdout.strip()

    assert ok(db_path, "cancel", job_id).stdout == f"cancelled {job_id}\n"
    assert JobQueue(db).get(job_id).status == "cancelled"
    assert ok(db_path, "retry", job_id).stdout == f"queued {job_id} again\n"
    assert JobQueue(db).get(job_id).status == "pending"


def test_cancel_a_running_job_asks_its_worker(db_path: Path, db: DatabaseConfig) -> None:
    job_id = ok(db_path, "add", YOUTUBE).stdout.strip()
    JobQueue(db).claim("w1", 60)

    result = ok(db_path, "cancel", job_id)

    assert result.stdout.startswith(f"cancelling {job_id}: its worker stops the download")
    assert JobQueue(db).get(job_id).status == "cancelling"


def test_cancel_and_retry_refuse_what_they_cannot_do(db_path: Path) -> None:
    job_id = ok(db_path, "add", YOUTUBE).stdout.strip()

    assert "Error: no job with id 'nope'" in failing(db_path, "cancel", "nope")
    assert "Error: no job with id 'nope'" in failing(db_path, "retry", "nope")
    assert f"Error: job {job_id} is pending; only failed or cancelled jobs can be retried" in (
        failing(db_path, "retry", job_id)
    )
    ok(db_path, "cancel", job_id)
    assert f"Error: job {job_id} is cancelled; only pending or running jobs can be cancelled" in (
        failing(db_path, "cancel", job_id)
    )


# -- settings --------------------------------------------------------------------------------


def test_settings_show_set_and_read(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLLECTOR_DOWNLOAD_DIR", str(tmp_path / "from-env"))
    monkeypatch.delenv("COLLECTOR_MIN_FREE_SPACE")

    shown = ok(db_path, "settings").stdout.splitlines()
    assert shown == [
        f"download_dir = {tmp_path / 'from-env'}",
        "max_retries = 3",
        "retry_backoff_seconds = 30.0",
        "allowed_hosts = ",
        "min_free_space = 1073741824",
        "default_format = best",
    ]
    assert ok(db_path, "settings", "max_retries", "5").stdout == "max_retries = 5\n"
    assert ok(db_path, "settings", "max_retries").stdout == "5\n"
    target = tmp_path / "elsewhere"
    assert ok(db_path, "settings", "download_dir", str(target)).stdout == (
        f"download_dir = {target}\n"
    )
    assert ok(db_path, "settings", "download_dir").stdout == f"{target}\n"  # beats the env


def test_min_free_space_defaults_to_its_variable_and_the_setting_wins(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLLECTOR_MIN_FREE_SPACE", "500MB")
    assert "min_free_space = 500000000" in ok(db_path, "settings").stdout.splitlines()

    ok(db_path, "settings", "min_free_space", "2GiB")
    assert ok(db_path, "settings", "min_free_space").stdout == f"{2 * 1024**3}\n"


def test_a_bad_min_free_space_variable_stops_the_worker_at_start(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLLECTOR_MIN_FREE_SPACE", "lots")

    result = CliRunner().invoke(main, ["--db", str(db_path), "worker", "--burst"])

    assert result.exit_code == 1
    assert "COLLECTOR_MIN_FREE_SPACE: " in result.output
    assert "Traceback" not in result.output


def test_settings_never_print_the_web_apps_secret_key(db_path: Path, db: DatabaseConfig) -> None:
    SettingsRepository(db).set("web.secret_key", "s3cret-session-key")
    SettingsRepository(db).set("note", "kept by hand")

    shown = ok(db_path, "settings").stdout

    assert "s3cret" not in shown
    assert "note = kept by hand" in shown
    assert "unknown setting 'web.secret_key'" in failing(db_path, "settings", "web.secret_key")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("colour", "red"), "Error: unknown setting 'colour'; known: download_dir, max_retries"),
        (("colour",), "Error: unknown setting 'colour'; known: download_dir, max_retries"),
        (("max_retries", "lots"), "Error: max_retries: expected a whole number, not 'lots'"),
        (("max_retries", "-1"), "Error: max_retries: expected a number from 0 to 100, not -1"),
        (
            ("retry_backoff_seconds", "-5"),
            "retry_backoff_seconds: expected seconds from 0 to 86400, not -5",
        ),
        (
            ("retry_backoff_seconds", "1e9"),
            "retry_backoff_seconds: expected seconds from 0 to 86400, not 1e9",
        ),
    ],
)
def test_settings_refuses_bad_keys_and_values(
    db_path: Path, db: DatabaseConfig, args: tuple[str, ...], message: str
) -> None:
    assert message in failing(db_path, "settings", *args)
    assert SettingsRepository(db).all() == {}


def test_settings_refuses_a_download_dir_it_cannot_write_to(
    db_path: Path, db: DatabaseConfig, tmp_path: Path
) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")

    below_a_file = failing(db_path, "settings", "download_dir", str(in_the_way / "downloads"))
    on_a_file = failing(db_path, "settings", "download_dir", str(in_the_way))

    assert f"Error: download_dir: cannot write downloads to {in_the_way / 'downloads'}: " in (
        below_a_file
    )
    assert f"Error: download_dir: {in_the_way} exists and is not a directory" in on_a_file
    assert SettingsRepository(db).all() == {}
    assert in_the_way.read_text() == "not a folder"


def test_settings_creates_a_new_download_dir(db_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "new" / "downloads"

    ok(db_path, "settings", "download_dir", str(target))

    assert target.is_dir()
    assert list(target.iterdir()) == []  # the probe file is gone


# -- worker ------------------------------------------------------------------------------------


def test_worker_burst_downloads_the_queue(
    db_path: Path, db: DatabaseConfig, tmp_path: Path, media_server: MediaServer
) -> None:
    data = media_bytes(50_000, "cli")
    media_server.add("cli.mp4", data)
    ok(db_path, "settings", "download_dir", str(tmp_path / "downloads"))
    ok(db_path, "settings", "allowed_hosts", "127.0.0.1")  # the loopback media server
    job_id = ok(db_path, "add", media_server.url("cli.mp4")).stdout.strip()

    result = ok(db_path, "worker", "--burst", "--lease-seconds", "5")

    assert "worker stopped: 1 job(s) processed" in result.stderr
    listed = json.loads(ok(db_path, "jobs", "--status", "completed", "--json").stdout)
    assert [(row["id"], row["progress"], row["title"]) for row in listed] == [(job_id, 100, "cli")]
    video = FileRepository(db).get_job_files_by_type(job_id, "video")
    assert Path(video[0].file_path).read_bytes() == data
    assert Path(video[0].file_path).is_relative_to(tmp_path / "downloads" / job_id)


def test_worker_burst_on_an_empty_queue_exits(db_path: Path) -> None:
    result = ok(db_path, "worker", "--burst")
    assert "worker stopped: 0 job(s) processed" in result.stderr


def test_worker_lease_from_the_environment(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_LEASE_SECONDS", "0.2")
    output = failing(db_path, "worker", "--burst")
    assert "Invalid value for '--lease-seconds'" in output and "0.2 is not in the range" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--concurrency", "0"), "0 is not in the range 1<=x<=64"),
        (("--lease-seconds", "0.1"), "0.1 is not in the range x>=0.5"),
        # Expiry times past year 9999 failed every claim: the queue stayed pending.
        (("--lease-seconds", "1e12"), "Error: lease_seconds must be at most 86400"),
    ],
)
def test_worker_refuses_bad_options(db_path: Path, args: tuple[str, ...], message: str) -> None:
    assert message in failing(db_path, "worker", "--burst", *args)


def test_worker_downloads_to_collector_download_dir(
    db_path: Path,
    db: DatabaseConfig,
    tmp_path: Path,
    media_server: MediaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "env-downloads"
    monkeypatch.setenv("COLLECTOR_DOWNLOAD_DIR", str(folder))
    monkeypatch.setenv("COLLECTOR_ALLOWED_HOSTS", "127.0.0.1")  # the loopback media server
    media_server.add("env.mp4", media_bytes(10_000, "env"))
    job_id = ok(db_path, "add", media_server.url("env.mp4")).stdout.strip()

    ok(db_path, "worker", "--burst")

    files = FileRepository(db).get_job_files(job_id)
    assert files and all(Path(f.file_path).is_relative_to(folder / job_id) for f in files)


def test_worker_concurrency_option_runs_slots(
    db_path: Path, db: DatabaseConfig, tmp_path: Path, media_server: MediaServer
) -> None:
    ok(db_path, "settings", "download_dir", str(tmp_path / "downloads"))
    ok(db_path, "settings", "allowed_hosts", "127.0.0.1")  # the loopback media server
    for n in range(4):
        media_server.add(f"c{n}.mp4", media_bytes(16_384, f"c{n}"), delay=0.05)
    urls = [media_server.url(f"c{n}.mp4", route="slow") for n in range(4)]
    ids = ok(db_path, "add", *urls).stdout.split()

    result = ok(db_path, "worker", "--burst", "--concurrency", "2")

    assert "worker stopped: 4 job(s) processed" in result.stderr
    jobs = [JobQueue(db).get(job_id) for job_id in ids]
    assert {job.status for job in jobs} == {"completed"}
    assert {job.worker_id.rsplit("/", 1)[1] for job in jobs} == {"0", "1"}
