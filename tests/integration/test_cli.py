"""The ``collector`` command, run through click's CliRunner with ``--db PATH``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import collector.app
from collector.cli import main
from collector.config.database import DatabaseConfig
from collector.repositories import FileRepository, JobRepository, SettingsRepository
from collector.repositories.contracts import CONTRACTS
from tests.conftest import copy_database, dataset_database, raw
from tests.expected import JOB_INDEXES, SUBSCRIPTION_INDEXES

TABLES = ("jobs", "files", "settings", "subscriptions")
INDEXES = {
    "jobs": JOB_INDEXES,
    "files": (
        "idx_files_job_id",
        "idx_files_file_type",
        "idx_files_created_at",
        "idx_files_job_id_type",
    ),
    "settings": (),
    "subscriptions": SUBSCRIPTION_INDEXES,
}
ALL_INDEXES = [name for names in INDEXES.values() for name in names]
STATEMENTS = sum(len(c.indexes) for c in CONTRACTS)
DATASET_JOBS = 20_000


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", str(path), *args])


def sqlite_objects(path: Path) -> dict[str, set[str]]:
    with closing(raw(path)) as conn:
        rows = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
    found: dict[str, set[str]] = {}
    for kind, name in rows:
        found.setdefault(kind, set()).add(name)
    return found


def execute_raw(path: Path, *statements: str) -> None:
    """Change a database behind the application's back (fixed DDL from this module)."""
    with closing(raw(path)) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()


def index_states(output: str) -> dict[str, str]:
    """index name -> state, from the text of ``db status``."""
    states = {}
    for line in output.splitlines():
        match = re.match(r"^  (\S+)\s+(ok|missing|drifted|unmanaged)\b", line)
        if match:
            states[match[1]] = match[2]
    return states


@pytest.fixture
def upgraded(tmp_path: Path) -> Path:
    path = tmp_path / "collector.db"
    result = invoke(path, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return path


# -- db upgrade -------------------------------------------------------------------------------


def test_upgrade_creates_everything_on_a_new_path(tmp_path: Path) -> None:
    path = tmp_path / "new" / "collector.db"
    assert not path.parent.exists()

    result = invoke(path, "db", "upgrade")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for table in TABLES:
        assert f"create table {table} ({table})" in lines
    for table, names in INDEXES.items():
        for name in names:
            assert f"create index {name} ({table})" in lines
    assert "analyze jobs (jobs)" in lines
    assert "analyze files (files)" in lines
    assert "nothing to do" not in result.output
    objects = sqlite_objects(path)
    assert set(TABLES) <= objects["table"]
    assert {n for n in objects["index"] if n.startswith("idx_")} == set(ALL_INDEXES)


def test_upgrade_twice_has_nothing_to_do(upgraded: Path) -> None:
    before = sqlite_objects(upgraded)

    result = invoke(upgraded, "db", "upgrade")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "schema up to date: nothing to do"
    assert sqlite_objects(upgraded) == before


def test_upgrade_recreates_a_dropped_index(upgraded: Path) -> None:
    execute_raw(upgraded, "DROP INDEX idx_jobs_status")

    result = invoke(upgraded, "db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "create index idx_jobs_status (jobs)" in result.output.splitlines()
    assert "idx_jobs_status" in sqlite_objects(upgraded)["index"]


def test_upgrade_refuses_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n")

    result = invoke(path, "db", "upgrade")

    assert result.exit_code != 0
    assert str(path) in result.output
    assert path.read_text() == "not a database\n"


# -- db status --------------------------------------------------------------------------------


def test_status_lists_row_counts_and_every_index_ok(upgraded: Path) -> None:
    config = DatabaseConfig(upgraded)
    jobs = JobRepository(config)
    made = [jobs.create_job(f"https://example.com/{n}", "youtube") for n in range(3)]
    FileRepository(config).create_file(made[0].id, "/a.mp4", "video", 1)
    FileRepository(config).create_file(made[1].id, "/b.mp3", "audio", 2)
    SettingsRepository(config).set("download_dir", "/srv")
    config.close()

    result = invoke(upgraded, "db", "status")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"database {upgraded}"
    assert "table jobs: 3 rows" in lines
    assert "table files: 2 rows" in lines
    assert [line for line in lines if line.startswith("table settings: ")] == [
        "table settings: 1 row"
    ]
    assert index_states(result.output) == dict.fromkeys(ALL_INDEXES, "ok")


def test_status_reports_missing_index_without_repairing(upgraded: Path) -> None:
    execute_raw(upgraded, "DROP INDEX idx_jobs_status")

    result = invoke(upgraded, "db", "status")

    assert result.exit_code == 0, result.output
    states = index_states(result.output)
    assert states["idx_jobs_status"] == "missing"
    assert {n: s for n, s in states.items() if n != "idx_jobs_status"} == dict.fromkeys(
        [n for n in ALL_INDEXES if n != "idx_jobs_status"], "ok"
    )
    assert "idx_jobs_status" not in sqlite_objects(upgraded)["index"]


def test_status_reports_drifted_index(upgraded: Path) -> None:
    execute_raw(
        upgraded,
        "DROP INDEX idx_files_file_type",
        "CREATE INDEX idx_files_file_type ON files (file_size)",
    )

    result = invoke(upgraded, "db", "status")

    assert result.exit_code == 0, result.output
    states = index_states(result.output)
    assert states["idx_files_file_type"] == "drifted"
    assert [n for n, s in states.items() if s != "ok"] == ["idx_files_file_type"]
    line = next(x for x in result.output.splitlines() if "idx_files_file_type" in x)
    assert "file_size" in line and "file_type" in line


def test_status_reports_user_index_as_unmanaged(upgraded: Path) -> None:
    execute_raw(upgraded, "CREATE INDEX my_title_index ON jobs (title)")

    result = invoke(upgraded, "db", "status")

    assert result.exit_code == 0, result.output
    states = index_states(result.output)
    assert states.pop("my_title_index") == "unmanaged"
    assert states == dict.fromkeys(ALL_INDEXES, "ok")
    assert "my_title_index" in sqlite_objects(upgraded)["index"]


def test_status_json_parses(upgraded: Path) -> None:
    execute_raw(upgraded, "DROP INDEX idx_files_created_at")

    result = invoke(upgraded, "db", "status", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["database"] == str(upgraded)
    assert [t["name"] for t in data["tables"]] == list(TABLES)
    for table in data["tables"]:
        assert table["rows"] == 0
        assert table["missing_columns"] == []
        states = {i["name"]: i["state"] for i in table["indexes"]}
        assert set(states) == set(INDEXES[table["name"]])
        assert {i["table"] for i in table["indexes"]} <= {table["name"]}
    files = next(t for t in data["tables"] if t["name"] == "files")
    assert {i["name"]: i["state"] for i in files["indexes"]}["idx_files_created_at"] == "missing"


def test_status_on_nonexistent_path_fails_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "collector.db"

    result = invoke(path, "db", "status")

    assert result.exit_code != 0
    assert f"no database at {path}" in result.output
    assert not path.exists()
    assert not path.parent.exists()


def test_status_on_text_file_fails_and_leaves_it_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"just some notes\nsecond line\n"
    path.write_bytes(content)

    result = invoke(path, "db", "status")

    assert result.exit_code != 0
    assert str(path) in result.output
    assert "not an SQLite database" in result.output
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "args", [("db", "upgrade"), ("add", "https://example.com/v"), ("jobs",), ("settings",)]
)
def test_a_database_path_that_cannot_be_opened_is_a_clear_error(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    path = blocker / "collector.db"

    result = invoke(path, *args)

    assert result.exit_code == 1
    assert f"Error: cannot open the database {path}" in result.output
    assert not isinstance(result.exception, OSError)  # no traceback: a ClickException


# -- db explain -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 jobs written by write_dataset, ANALYZEd; copied before any change."""
    return dataset_database(tmp_path_factory.mktemp("cli") / "dataset.db", 3, DATASET_JOBS)


@pytest.fixture
def dataset_copy(dataset_path: Path, tmp_path: Path) -> Iterator[Path]:
    yield copy_database(dataset_path, tmp_path / "copy.db")


def snapshot(path: Path) -> tuple:
    """What a read-only command must leave as it was."""
    with closing(raw(path)) as conn:
        jobs = conn.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        files = conn.execute("SELECT * FROM files ORDER BY id").fetchall()
        return [tuple(r) for r in jobs], [tuple(r) for r in files]


def test_explain_on_dataset_is_all_ok(dataset_copy: Path) -> None:
    before = snapshot(dataset_copy)

    result = invoke(dataset_copy, "db", "explain")

    assert result.exit_code == 0, result.output
    # Names may hold a space ("JobRepository.page(status, cursor)"), never a "[".
    verdicts = re.findall(r"^(\S[^\[]*?)  \[(.*)\]$", result.output, flags=re.MULTILINE)
    assert len(verdicts) == STATEMENTS
    assert {name for name, _ in verdicts} == {c.name for c in CONTRACTS}
    assert {verdict for _, verdict in verdicts} == {"ok"}
    for contract in CONTRACTS:
        assert f"{contract.name}  [ok]" in result.output.splitlines()
    assert "BROKEN" not in result.output
    # The write contracts (update, complete, fail, delete, create_file) were only recorded.
    assert snapshot(dataset_copy) == before


def test_explain_json_parses_with_plans_and_no_problems(dataset_copy: Path) -> None:
    result = invoke(dataset_copy, "db", "explain", "--json")

    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert len(entries) == STATEMENTS
    assert [e["query"] for e in entries] == [c.name for c in CONTRACTS for _ in c.indexes]
    for entry in entries:
        assert entry["problems"] == [], entry
        assert entry["plan"], entry
        assert all(isinstance(step, str) for step in entry["plan"])
        assert entry["sql"]
        expected = entry["expected_index"]
        names = [expected] if isinstance(expected, str) else list(expected or [])
        if names:
            assert any(n in step for n in names for step in entry["plan"]), entry
    active = next(e for e in entries if e["query"] == "JobRepository.get_active_jobs")
    assert active["plan"] == ["SCAN jobs USING COVERING INDEX idx_jobs_active_created"]


def test_explain_without_the_partial_index_is_broken(dataset_copy: Path) -> None:
    execute_raw(dataset_copy, "DROP INDEX idx_jobs_active_created")

    result = invoke(dataset_copy, "db", "explain")

    assert result.exit_code == 1, result.output
    assert "BROKEN" in result.output
    broken = [line for line in result.output.splitlines() if "[BROKEN" in line]
    # Both queries the partial index serves: the active list and its keyset pages.
    assert len(broken) == 2
    assert broken[0].startswith(
        "JobRepository.get_active_jobs  [BROKEN: expected index idx_jobs_active_created"
    )
    assert broken[1].startswith(
        "JobRepository.page(active, cursor)  [BROKEN: expected index idx_jobs_active_created"
    )


def test_explain_on_nonexistent_path_fails(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    result = invoke(path, "db", "explain")
    assert result.exit_code != 0
    assert f"no database at {path}" in result.output
    assert not path.exists()


# -- serve ------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_serve_refuses_non_loopback_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    import waitress

    started: list[object] = []
    monkeypatch.setattr(
        waitress, "create_server", lambda *a, **k: started.append(("create_server", a, k))
    )
    monkeypatch.setattr(collector.app, "create_app", lambda *a, **k: started.append("app"))
    path = tmp_path / "collector.db"

    result = invoke(path, "serve", "--host", host)

    assert result.exit_code != 0
    assert f"refusing to bind {host}" in result.output
    assert "loopback" in result.output
    assert started == []
    assert not path.exists()


def test_serve_on_loopback_would_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control for the refusal: loopback reaches the server (stubbed here)."""
    import waitress

    started: list[tuple] = []

    class Server:  # binds nothing; run() returns at once
        def __init__(self, app, **k) -> None:
            self.args = (app, k)

        def run(self) -> None:
            started.append(self.args)

    monkeypatch.setattr(waitress, "create_server", Server)
    path = tmp_path / "collector.db"

    result = invoke(path, "serve", "--host", "127.0.0.1", "--port", "5055")

    assert result.exit_code == 0, result.output
    assert len(started) == 1
    assert started[0][1]["host"] == "127.0.0.1" and started[0][1]["port"] == 5055
    assert "http://127.0.0.1:5055/" in result.output
    assert path.exists()
