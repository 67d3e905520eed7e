"""A damaged database file and a full disk under it: clear errors, nothing lost.

Damage is made deterministically: a database of 3,000 jobs is closed and chosen
pages (found through SQLite's dbstat table) are overwritten with one byte value.
A full disk is SQLite's own SQLITE_FULL, provoked with ``PRAGMA max_page_count``
on every connection the application opens.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from collector.app import create_app
from collector.cli import main
from collector.config import conditions
from collector.config.database import DatabaseConfig, DatabaseFullError
from collector.repositories import FileRepository
from collector.repositories.queue import JobQueue
from collector.worker import Downloader, Worker
from collector.worker.engine import DownloadResult
from collector.worker.files import collect_files
from tests.conftest import dataset_database

JOBS = 3_000
GARBAGE = 0xA5


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", str(path), *args])


def overwrite_pages(path: Path, pages: list[int]) -> None:
    with closing(sqlite3.connect(path)) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as fh:
        for page in pages:
            fh.seek((page - 1) * size)
            fh.write(bytes([GARBAGE]) * size)


def deep_pages(path: Path) -> list[int]:
    """The inner (not root) pages of idx_jobs_created_at, and a leaf of jobs mid-file."""
    with closing(sqlite3.connect(path)) as conn:
        inner = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'idx_jobs_created_at' "
            "AND pagetype = 'internal' AND pageno != "
            "(SELECT rootpage FROM sqlite_master WHERE name = 'idx_jobs_created_at')"
        ).fetchall()
        leaves = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'jobs' AND pagetype = 'leaf' ORDER BY pageno"
        ).fetchall()
    assert inner, "the index is too small to have inner pages"
    return [row[0] for row in inner] + [leaves[len(leaves) // 2][0]]


def root_page(path: Path, name: str) -> int:
    with closing(sqlite3.connect(path)) as conn:
        sql = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        return conn.execute(sql, (name,)).fetchone()[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = dataset_database(tmp_path_factory.mktemp("built") / "collector.db", 7, jobs=JOBS)
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def pristine(built: Path, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "collector.db"
    shutil.copyfile(built, path)
    yield path
    conditions.forget(path)


@pytest.fixture
def deep_damage(pristine: Path) -> Path:
    """Damage that reading the newest jobs meets; reconciling the schema does not."""
    overwrite_pages(pristine, deep_pages(pristine))
    return pristine


@pytest.fixture
def root_damage(pristine: Path) -> Path:
    """The jobs table's root page: every start (its statistics check) meets it."""
    overwrite_pages(pristine, [root_page(pristine, "jobs")])
    return pristine


def assert_one_line_about_damage(result: Result, path: Path) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: the database {path} is damaged")
    assert "db check" in lines[0] and "backup" in lines[0]


# -- a damaged file: the CLI ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["jobs"], ["add", "https://example.com/new"], ["jobs", "--limit", "500"]],
)
def test_commands_that_meet_deep_damage_say_so_in_one_line(
    deep_damage: Path, args: list[str]
) -> None:
    assert_one_line_about_damage(invoke(deep_damage, *args), deep_damage)


@pytest.mark.parametrize(
    "args",
    [
        ["jobs"],
        ["add", "https://example.com/new"],
        ["cancel", "0191d6f5-0000-7000-8000-000000000000"],
        ["retry", "0191d6f5-0000-7000-8000-000000000000"],
        ["settings"],
        ["settings", "max_retries", "5"],
        ["worker", "--burst"],
        ["db", "upgrade"],
    ],
)
def test_every_command_that_starts_on_a_damaged_table_says_so_in_one_line(
    root_damage: Path, args: list[str]
) -> None:
    assert_one_line_about_damage(invoke(root_damage, *args), root_damage)


def test_db_check_lists_the_damaged_pages_and_exits_1(deep_damage: Path) -> None:
    result = invoke(deep_damage, "db", "check", "--json")

    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["ok"] is False
    assert any("btreeInitPage() returns error code 11" in p for p in report["problems"])


def test_db_check_on_a_sound_file_is_ok(pristine: Path) -> None:
    result = invoke(pristine, "db", "check")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"database {pristine}: integrity check ok"


def test_db_status_shows_quick_check_and_exits_1_when_damaged(deep_damage: Path) -> None:
    result = invoke(deep_damage, "db", "status")

    assert result.exit_code == 1
    assert "quick_check: Page " in result.output
    assert "table jobs:" in result.output  # the rest of the report is still there
    assert (
        result.output.strip()
        .splitlines()[-1]
        .startswith(f"Error: the database {deep_damage} is damaged")
    )


def test_db_status_json_has_quick_check_ok(pristine: Path) -> None:
    result = invoke(pristine, "db", "status", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["quick_check"] == ["ok"]


def test_serve_starts_on_a_damaged_file_without_workers(
    root_damage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import waitress

    apps = []

    class Server:  # binds nothing; run() returns at once
        def __init__(self, app, **k) -> None:
            apps.append(app)

        def run(self) -> None:
            pass

    monkeypatch.setattr(waitress, "create_server", Server)

    result = invoke(root_damage, "serve", "--port", "5056")

    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "collector cannot use its database" in result.output
    assert "0 worker(s)" in result.output
    client = apps[0].test_client()
    response = client.get("/api/jobs")
    assert response.status_code == 503
    assert "the database is damaged" in response.get_json()["error"]


# -- a damaged file: the web app --------------------------------------------------------------


def test_the_api_answers_503_json_and_healthz_says_why(
    deep_damage: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = create_app({"TESTING": True, "DB_PATH": str(deep_damage)}).test_client()

    with caplog.at_level(logging.WARNING):
        answers = [client.get("/api/jobs") for _ in range(5)]
        health = client.get("/healthz")
        page = client.get("/jobs", headers={"Accept": "text/html"})

    for response in answers:
        assert response.status_code == 503
        body = response.get_json()
        assert set(body) == {"error"}
        assert "the database is damaged (database disk image is malformed)" in body["error"]
        assert str(deep_damage) not in body["error"]  # the server's paths stay its own
    assert health.status_code == 503
    assert health.get_json()["status"] == "damaged"
    assert "database disk image is malformed" in health.get_json()["error"]
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert b"damaged" in page.data
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in errors] == ["collector.config.conditions"], errors
    assert not any(r.exc_info for r in caplog.records)


def test_healthz_notices_damage_before_any_request_does(deep_damage: Path) -> None:
    client = create_app({"TESTING": True, "DB_PATH": str(deep_damage)}).test_client()

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.get_json()["status"] == "damaged"


def test_an_app_whose_start_meets_damage_answers_503(root_damage: Path) -> None:
    client = create_app({"TESTING": True, "DB_PATH": str(root_damage)}).test_client()

    for response in (
        client.get("/api/stats"),
        client.post("/api/jobs", json={"url": "https://example.com/a"}),
        client.get("/"),
    ):
        assert response.status_code == 503
        assert "the database is damaged" in response.get_json()["error"]
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["status"] == "damaged"


def test_healthz_is_ok_on_a_sound_file(pristine: Path) -> None:
    client = create_app({"TESTING": True, "DB_PATH": str(pristine)}).test_client()

    response = client.get("/healthz")

    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


# -- a full disk --------------------------------------------------------------------------------


class PageLimit:
    """``PRAGMA max_page_count`` on every connection the application opens from now."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pages: int | None = None
        connect = DatabaseConfig.connect

        def limited(config: DatabaseConfig) -> sqlite3.Connection:
            conn = connect(config)
            if self.pages is not None:
                # A test's own integer, as PRAGMA values cannot be bound.
                conn.execute(f"PRAGMA max_page_count = {int(self.pages)}")
            return conn

        monkeypatch.setattr(DatabaseConfig, "connect", limited)


def page_count(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA page_count").fetchone()[0]


@pytest.fixture
def limit(monkeypatch: pytest.MonkeyPatch) -> PageLimit:
    return PageLimit(monkeypatch)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "collector.db"
    DatabaseConfig(path).initialize_schema()
    yield path
    conditions.forget(path)


def test_a_full_disk_is_507_json_once_logged_and_nothing_acknowledged_is_lost(
    fresh: Path,
    limit: PageLimit,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = create_app({"TESTING": True, "DB_PATH": str(fresh)}).test_client()
    limit.pages = page_count(fresh) + 3
    accepted: dict[str, str] = {}
    refused: list[str] = []

    with caplog.at_level(logging.INFO, logger="collector"):
        for n in range(400):
            url = f"https://example.com/{n}/" + "x" * 200
            response = client.post("/api/jobs", json={"url": url})
            if response.status_code == 201:
                accepted[response.get_json()["id"]] = url
                continue
            assert response.status_code == 507, response.data
            assert set(response.get_json()) == {"error"}
            assert "no space left for the database" in response.get_json()["error"]
            refused.append(url)
        health = client.get("/healthz")
        reads = client.get("/api/jobs?limit=5")

    assert accepted and len(refused) > 100
    assert health.status_code == 503 and health.get_json()["status"] == "full"
    assert reads.status_code == 200  # reading goes on
    with closing(sqlite3.connect(fresh)) as conn:
        stored = dict(conn.execute("SELECT id, url FROM jobs").fetchall())
    assert stored == accepted  # every 201 is there, no 507 is
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].name == "collector.config.conditions"
    assert "no space left" in warnings[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)

    # Space comes back: the next write is accepted and the log says so, once.
    limit.pages = None
    monkeypatch.setattr(conditions, "FULL_CLEARS_AFTER", 0.0)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="collector"):
        again = client.post("/api/jobs", json={"url": refused[0]})
        client.post("/api/jobs", json={"url": refused[1]})
    assert again.status_code == 201
    assert client.get("/healthz").get_json() == {"status": "ok"}
    cleared = [r for r in caplog.records if r.name == "collector.config.conditions"]
    assert len(cleared) == 1 and "accepts writes again" in cleared[0].getMessage()


def test_add_on_a_full_database_says_so_in_one_line(fresh: Path, limit: PageLimit) -> None:
    limit.pages = page_count(fresh)
    with closing(sqlite3.connect(fresh)) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0

    result = invoke(fresh, "add", "https://example.com/" + "y" * 3000)

    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith(f"Error: no space left for the database {fresh}")
    with closing(sqlite3.connect(fresh)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


class FillsTheDisk(Downloader):
    """Writes 20 files with long names, then leaves the database no page to grow by."""

    def __init__(self, db: DatabaseConfig) -> None:
        super().__init__()
        self.db = db

    def download(
        self,
        url: str,
        folder: Path,
        on_progress: object,
        stop: object = None,
        allowed: object = None,
        format: str = "best",
    ) -> DownloadResult:
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(20):
            (folder / (f"{n:02d}-" + "z" * 230 + ".mp4")).write_bytes(b"clip")
        conn = self.db.connection()  # this worker thread's, which records the outcome
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
        conn.execute(f"PRAGMA max_page_count = {int(pages)}")  # an int from SQLite itself
        return DownloadResult("clip", collect_files(folder), 80)


class Simple(Downloader):
    def download(
        self,
        url: str,
        folder: Path,
        on_progress: object,
        stop: object = None,
        allowed: object = None,
        format: str = "best",
    ) -> DownloadResult:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "clip.mp4").write_bytes(b"clip")
        return DownloadResult("clip", collect_files(folder), 4)


def test_a_worker_whose_outcome_meets_a_full_disk_keeps_running_and_loses_nothing(
    db: DatabaseConfig, queue: JobQueue, downloads: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = queue.enqueue("https://example.com/clip").job

    with caplog.at_level(logging.INFO, logger="collector"):
        processed = Worker(db, lease_seconds=0.5, downloader=FillsTheDisk(db)).run(burst=True)

    assert processed == 1
    stuck = queue.get(job.id)
    assert stuck.status == "running"  # under its lease, not failed
    assert FileRepository(db).get_job_files(job.id) == []  # nothing half-recorded
    assert any("outcome was not recorded" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)
    conditions.forget(db.db_path)
    db.close()  # the connection that had the limit

    # Once its lease has run out the job goes back to the queue, and then it completes.
    from tests.worker_fixtures import wait_until

    wait_until(lambda: queue.recover_expired(3).requeued, timeout=10, what="the lease to expire")
    assert queue.get(job.id).status == "pending"
    Worker(db, lease_seconds=5, downloader=Simple()).run(burst=True)
    done = queue.get(job.id)
    assert done.status == "completed"
    recorded = FileRepository(db).get_job_files(job.id)
    assert len(recorded) == 21  # the first run's 20 files, still in the folder, and the new one


def test_translate_names_full_and_damaged(tmp_path: Path) -> None:
    config = DatabaseConfig(tmp_path / "x.db")
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # as SQLite sets it
    translated = config.translate(full)
    assert isinstance(translated, DatabaseFullError)
    assert translated.reason.startswith("no space left for the database (database or disk is full)")
    conditions.forget(config.db_path)
