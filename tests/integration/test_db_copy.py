"""``collector db copy``: a collection moved between SQLite and PostgreSQL, both ways,
resumed after an interruption, and checked row for row."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from collector.bench.dataset import write_dataset
from collector.cli import main
from collector.config.copy import checksum, copy_database
from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS, Job
from collector.repositories import SettingsRepository
from collector.repositories.subscriptions import SubscriptionRepository
from collector.schema.reconcile import derived_states

JOBS = 300


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """An SQLite collection: jobs and files from the benchmark's generator, settings,
    two subscriptions (one paused, one after a failed check), and one timestamp in
    the older text form (no fraction, 'T')."""
    path = tmp_path / "source.db"
    db = DatabaseConfig(path)
    db.initialize_schema()
    write_dataset(db, JOBS, seed=7, batch=100)
    settings = SettingsRepository(db)
    settings.set("theme", "dark")
    settings.set("note", None)
    subscriptions = SubscriptionRepository(db)
    followed = subscriptions.create("https://www.youtube.com/@copied", every="1d", keep_newest=3)
    subscriptions.create("https://www.youtube.com/playlist?list=PLcopied", format="480p")
    subscriptions.pause(followed.id)
    held = subscriptions.claim_due("copy-worker", 60)
    assert held is not None
    subscriptions.finish_check(held.id, "copy-worker", error="HTTP Error 429")
    with db.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET completed_at = '2024-01-01T00:00:05' "
            "WHERE id = (SELECT MIN(id) FROM jobs)"
        )
    db.dispose()
    return path


def table_rows(path: Path, table: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()


def summary(url: str | Path) -> dict[str, tuple[int, str]]:
    db = DatabaseConfig(url)
    try:
        return {model.get_table_name(): checksum(db, model) for model in ALL_MODELS}
    finally:
        db.dispose()


def assert_reconciled(url: str | Path) -> None:
    db = DatabaseConfig(url)
    try:
        states = derived_states(db.connection(), ALL_MODELS)
        assert states and all(s.state == "ok" for s in states), states
        report = db.initialize_schema()
        built = [c for c in report.changes if c.action != "analyze"]
        assert not built, built  # indexes and derived tables all there
    finally:
        db.dispose()


def test_sqlite_to_postgresql_and_back(source: Path, pg_schema_url: str, tmp_path: Path) -> None:
    result = invoke("--db", str(source), "db", "copy", "--to", pg_schema_url, "--batch", "100")
    assert result.exit_code == 0, result.output
    assert "matches" in result.output
    assert "MISMATCH" not in result.output
    assert summary(pg_schema_url) == summary(source)
    assert_reconciled(pg_schema_url)

    back = tmp_path / "back.db"
    result = invoke(
        "--database-url", pg_schema_url, "db", "copy", "--to", f"sqlite:///{back}", "--batch", "70"
    )
    assert result.exit_code == 0, result.output
    assert_reconciled(back)
    assert len(table_rows(back, "subscriptions")) == 2
    for model in ALL_MODELS:
        table = model.get_table_name()
        before, after = table_rows(source, table), table_rows(back, table)
        assert len(after) == len(before)
        if table != "jobs":
            assert after == before
    # The one older-form timestamp comes back in the stored form, the same instant.
    oldest = table_rows(back, "jobs")[0]
    assert oldest[Job.field_names().index("completed_at")] == "2024-01-01 00:00:05.000000"


def test_sqlite_to_sqlite_with_from(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "target.db"
    result = invoke("db", "copy", "--from", f"sqlite:///{source}", "--to", str(target))
    assert result.exit_code == 0, result.output
    for model in ALL_MODELS:
        table = model.get_table_name()
        assert table_rows(target, table) == table_rows(source, table)
    assert_reconciled(target)
    # A second run finds everything there: nothing copied, still equal.
    result = invoke("db", "copy", "--from", str(source), "--to", str(target))
    assert result.exit_code == 0, result.output
    assert "0 rows copied" in result.output


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_schema_url")
    return f"sqlite:///{tmp_path / 'target.db'}"


def test_resumes_after_an_interruption(source: Path, target: str) -> None:
    args = ["--db", str(source), "db", "copy", "--to", target, "--batch", "50"]
    result = invoke(*args, "--stop-after-batches", "3")
    assert result.exit_code == 1
    assert "interrupted" in result.output
    db = DatabaseConfig(target)
    try:
        assert db.execute_query("SELECT COUNT(*) FROM jobs")[0][0] == 150
        assert db.execute_query("SELECT COUNT(*) FROM files")[0][0] == 0
    finally:
        db.dispose()
    # Interrupted again, in the second table this time.
    result = invoke(*args, "--stop-after-batches", "5")
    assert result.exit_code == 1
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert summary(target) == summary(source)
    assert_reconciled(target)


def test_a_target_holding_some_rows_already_is_filled_without_duplicates(
    source: Path, target: str
) -> None:
    """Rows already there, scattered (not a prefix): the pass after the highest key
    misses them, the fill pass writes the rest, and no key is written twice."""
    src, dst = DatabaseConfig(source), DatabaseConfig(target)
    try:
        dst.initialize_schema()
        _, rows = src.execute_rows("SELECT * FROM jobs ORDER BY id")
        with dst.transaction() as conn:
            dst.dialect.copy_in(conn, "jobs", Job.field_names(), rows[::7], "id")
        report = copy_database(src, dst, batch=40)
    finally:
        src.dispose()
        dst.dispose()
    assert report.ok, report
    jobs = next(t for t in report.tables if t.table == "jobs")
    assert jobs.copied == JOBS - len(rows[::7])
    assert summary(target) == summary(source)
    assert_reconciled(target)


def test_a_target_with_other_content_is_reported(source: Path, target: str) -> None:
    assert invoke("--db", str(source), "db", "copy", "--to", target).exit_code == 0
    db = DatabaseConfig(target)
    try:
        with db.transaction() as conn:
            conn.execute("UPDATE settings SET value = ? WHERE key = ?", ("light", "theme"))
            conn.execute(
                "UPDATE jobs SET title = ? WHERE id = (SELECT MAX(id) FROM jobs)", ("changed",)
            )
            conn.execute(
                "INSERT INTO settings (key, value, created_at, updated_at) VALUES (?, ?, ?, ?)",
                ("extra", "1", "2024-01-01 00:00:00.000000", "2024-01-01 00:00:00.000000"),
            )
    finally:
        db.dispose()
    result = invoke("--db", str(source), "db", "copy", "--to", target)
    assert result.exit_code == 1
    assert "MISMATCH" in result.output
    assert "key 'theme': differs in value (the target's row was kept)" in result.output
    assert "key 'extra': only in the target" in result.output
    assert "differs in title" in result.output
    assert "the target differs from the source in jobs, settings" in result.output
    # The target's rows were kept as they were.
    db = DatabaseConfig(target)
    try:
        assert db.execute_query("SELECT value FROM settings WHERE key = 'theme'")[0][0] == "light"
    finally:
        db.dispose()


def last_line(result: Result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_unknown_scheme_is_refused(source: Path, tmp_path: Path) -> None:
    result = invoke("--db", str(source), "db", "copy", "--to", "mysql://host/db")
    assert result.exit_code == 1
    assert "'mysql' is not available" in last_line(result)


def test_unreachable_server_is_refused_and_nothing_written(source: Path, tmp_path: Path) -> None:
    result = invoke(
        "--db", str(source), "db", "copy", "--to", "postgresql://postgres@127.0.0.1:1/none"
    )
    assert result.exit_code == 1
    assert "cannot open the database" in last_line(result)
    target = tmp_path / "never.db"
    result = invoke(
        "db", "copy", "--from", "postgresql://postgres@127.0.0.1:1/none", "--to", str(target)
    )
    assert result.exit_code == 1
    assert "cannot open the database" in last_line(result)
    assert not target.exists()


def test_target_equal_to_source_is_refused(source: Path) -> None:
    before = table_rows(source, "jobs")
    for to in (str(source), f"sqlite:///{source}"):
        result = invoke("--db", str(source), "db", "copy", "--to", to)
        assert result.exit_code == 1
        assert "the target is the source" in last_line(result)
    assert table_rows(source, "jobs") == before


def test_same_postgresql_database_under_another_name_is_refused(
    source: Path, pg_schema_url: str
) -> None:
    assert invoke("--db", str(source), "db", "copy", "--to", pg_schema_url).exit_code == 0
    other = pg_schema_url.replace("127.0.0.1", "localhost", 1)
    if other == pg_schema_url:
        pytest.skip("the test server's URL names no 127.0.0.1 host to respell")
    result = invoke("db", "copy", "--from", pg_schema_url, "--to", other + "&application_name=x")
    assert result.exit_code == 1
    assert "under another name" in last_line(result)


def test_missing_source_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "target.db"
    result = invoke("--db", str(tmp_path / "absent.db"), "db", "copy", "--to", str(target))
    assert result.exit_code == 1
    assert "no database at" in last_line(result)
    assert not target.exists()
