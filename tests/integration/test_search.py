"""Searching jobs by the words of their title, uploader and URL, on both engines.

SQLite keeps an FTS5 table over jobs by triggers; PostgreSQL a tsvector column of jobs
(search_document) kept by a row trigger, under a GIN index. Both follow the model's
declaration (``Job.search``) and are built by reconcile.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from collector.app import create_app
from collector.cli import main
from collector.config.database import DatabaseConfig
from collector.dialects import postgresql_ddl
from collector.dialects.base import SearchColumn
from collector.dialects.postgresql import PostgreSQLDialect
from collector.models.job import Job
from collector.models.values import to_db_timestamp
from collector.repositories import JobRepository
from collector.repositories import job_repository as job_sql
from collector.repositories.contracts import SEARCH
from collector.repositories.job_repository import search_term, search_words
from collector.repositories.paging import KEYSET_ORDER as NEWEST
from collector.repositories.queue import JobQueue
from collector.schema.plans import explain, plan_problems
from collector.schema.reconcile import build_name

pytestmark = pytest.mark.both_engines

HOSTILE = ['"', "*", "NEAR(", "NEAR(a b)", "a OR", "-x", "'", "a\x00b", 'title:"x', "(a", "a*"]


def titles(page_items: list[Job]) -> list[str | None]:
    return [job.title for job in page_items]


@pytest.fixture
def jobs(db: DatabaseConfig) -> JobRepository:
    repo = JobRepository(db)
    repo.create_job(
        "https://www.youtube.com/watch?v=abc123", "youtube", "Minecraft speedrun record"
    )
    repo.create_job("https://vimeo.com/cats/42", "other", "Funny cats compilation")
    repo.create_job("https://www.tiktok.com/@someone/video/99", "tiktok", None)
    repo.create_job("https://example.org/minecraft-tutorial", "other", "A tutorial")
    return repo


def test_a_word_of_the_title_finds_its_jobs(jobs: JobRepository) -> None:
    assert titles(jobs.page(q="cats").items) == ["Funny cats compilation"]
    assert titles(jobs.page(q="CATS").items) == ["Funny cats compilation"]
    assert titles(jobs.page(q="speedrun record").items) == ["Minecraft speedrun record"]
    assert jobs.page(q="speedrun cats").items == []  # every word must appear


def test_a_word_of_the_url_finds_its_jobs(jobs: JobRepository) -> None:
    assert [j.url for j in jobs.page(q="tiktok").items] == [
        "https://www.tiktok.com/@someone/video/99"
    ]
    assert [j.url for j in jobs.page(q="vimeo").items] == ["https://vimeo.com/cats/42"]
    # In the title of one and the URL of the other: newest first.
    assert titles(jobs.page(q="minecraft").items) == ["A tutorial", "Minecraft speedrun record"]


def test_search_combines_with_status_and_platform(jobs: JobRepository) -> None:
    first = jobs.page(q="minecraft").items[-1]
    jobs.update_job_status(first.id, "completed")
    assert titles(jobs.page(q="minecraft", status="completed").items) == [first.title]
    assert titles(jobs.page(q="minecraft", status="pending").items) == ["A tutorial"]
    assert titles(jobs.page(q="minecraft", platform="youtube").items) == [first.title]
    assert jobs.page(q="minecraft", platform="tiktok").items == []


def test_search_pages_by_keyset_newest_first(db: DatabaseConfig) -> None:
    repo = JobRepository(db)
    wanted = []
    for i in range(130):
        title = f"episode {i} {'alpha' if i % 2 else 'beta'}"
        job = repo.create_job(f"https://example.org/v/{i}", "other", title)
        if i % 2:
            wanted.append(job.id)
    seen: list[str] = []
    cursor = None
    while True:
        page = repo.page(q="alpha", limit=20, cursor=cursor)
        seen.extend(job.id for job in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(reversed(wanted))
    assert len(seen) == 65


# -- how a search finds its rows (job_repository.SEARCH_WALK) ---------------------------

WALK = 30  # the walk's bound, made small so a small table shows both statements


@pytest.fixture
def bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_sql, "SEARCH_WALK", WALK)


def timeline(db: DatabaseConfig, titles_oldest_first: list[str]) -> list[str]:
    """Jobs with these titles, a second apart (oldest first); their ids in that order."""
    repo, ids = JobRepository(db), []
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i, title in enumerate(titles_oldest_first):
        job = repo.create_job(f"https://example.org/v/{i}", "other", title)
        stamp = to_db_timestamp(start + timedelta(seconds=i))
        db.execute_update("UPDATE jobs SET created_at = ? WHERE id = ?", (stamp, job.id))
        ids.append(job.id)
    return ids


def every_page(repo: JobRepository, limit: int = 7, **filters: Any) -> list[list[str]]:
    """The ids of every page of a search, following the cursors."""
    pages, cursor = [], None
    while True:
        page = repo.page(limit=limit, cursor=cursor, **filters)
        pages.append([job.id for job in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages


def ran(db: DatabaseConfig, call: Callable[[], object]) -> list[str]:
    """Which search statements ``call`` ran, by kind."""
    dialect = db.dialect
    kinds = {
        dialect.search_walk_sql("jobs", Job.search, "", NEWEST): "walk",
        dialect.search_gather_sql("jobs", Job.search, "", NEWEST): "gather",
    }
    with db.capture() as statements:
        call()
    return [kinds.get(s.sql, s.sql) for s in statements]


@pytest.mark.usefixtures("bounds")
def test_the_walk_and_the_gather_page_alike(db: DatabaseConfig) -> None:
    # "common" in every third title, "rare" in three, "old" only in the oldest rows
    # (beyond the walk's reach), "none" nowhere; a quarter of the jobs completed.
    titles_ = []
    for i in range(120):
        words = ["clip", str(i)]
        words += ["common"] if i % 3 == 0 else []
        words += ["rare"] if i in (7, 50, 90) else []
        words += ["old"] if i < 12 else []
        titles_.append(" ".join(words))
    ids = timeline(db, titles_)
    repo = JobRepository(db)
    for i, job_id in enumerate(ids):
        if i % 4 == 0:
            repo.update_job_status(job_id, "completed")
    for q in ("common", "rare", "old", "none", "common old", "clip"):
        for filters in ({}, {"status": "completed"}, {"status": "pending"}):
            pages = every_page(repo, q=q, **filters)
            wanted = [
                job_id
                for i, job_id in reversed(list(enumerate(ids)))
                if all(w in titles_[i].split() for w in q.split())
                and (not filters or (i % 4 == 0) == (filters["status"] == "completed"))
            ]
            assert [i for page in pages for i in page] == wanted, (q, filters)
            assert all(len(page) == 7 for page in pages[:-1]), (q, filters)


@pytest.mark.usefixtures("bounds")
def test_the_walk_gives_way_to_the_gather_when_it_stops_short(db: DatabaseConfig) -> None:
    titles_ = [
        f"clip {i}" + (" common" if i % 2 else "") + (" old" if i < 8 else "") for i in range(100)
    ]
    timeline(db, titles_)
    repo = JobRepository(db)
    # Many matches spread over the list: the walk fills the page.
    assert ran(db, lambda: repo.page(q="common", limit=10)) == ["walk"]
    # A few: the walk finds one, not a page; then every match is read and sorted.
    assert ran(db, lambda: repo.page(q="clip 3")) == ["walk", "gather"]
    # Many, all older than the walk reaches.
    assert ran(db, lambda: repo.page(q="old", limit=5)) == ["walk", "gather"]
    # Spread thinner than the walk can fill a page of 40 from.
    assert ran(db, lambda: repo.page(q="common", limit=40)) == ["walk", "gather"]


@pytest.mark.sqlite_only
def test_the_sqlite_walk_reads_the_list_as_it_comes(db: DatabaseConfig) -> None:
    """The walk keeps the first rows its listing yields: that listing must be a
    co-routine read in order (a sort there would read all of it, and a reordering
    would pick rows other than the newest)."""
    sql = db.dialect.search_walk_sql("jobs", Job.search, "", NEWEST)
    steps = explain(db.connection(), sql, (WALK, '"clip"', 8))
    details = [step.detail for step in steps]
    assert "CO-ROUTINE listed" in details
    listing = next(step for step in steps if step.detail == "CO-ROUTINE listed")
    inside = [s for s in steps if s.parent == listing.id]
    assert [s.index for s in inside] == ["idx_jobs_created_at"]
    assert inside[0].covering  # rowids from the index alone
    assert sum(step.temp_sort for step in steps) == 1  # the page's own rows, at the end
    assert plan_problems(steps, "idx_jobs_created_at", temp_sort_ok=True) == []


def test_the_index_follows_updates_and_deletes(jobs: JobRepository) -> None:
    job = jobs.page(q="tiktok").items[0]
    jobs.db.execute_update("UPDATE jobs SET title = ? WHERE id = ?", ("Dance battle", job.id))
    assert [j.id for j in jobs.page(q="dance").items] == [job.id]
    jobs.db.execute_update("UPDATE jobs SET title = ? WHERE id = ?", ("Song", job.id))
    assert jobs.page(q="dance").items == []
    assert [j.id for j in jobs.page(q="song tiktok").items] == [job.id]
    jobs.delete_job(job.id)
    assert jobs.page(q="tiktok").items == []


@pytest.mark.parametrize("query", HOSTILE)
def test_search_syntax_is_never_read(jobs: JobRepository, query: str) -> None:
    try:
        page = jobs.page(q=query)
    except ValueError as exc:
        assert "no words" in str(exc)
    else:
        assert isinstance(page.items, list)


def test_a_search_without_words_is_a_value_error(jobs: JobRepository) -> None:
    for query in ("", "   ", '"', "*", "-", "'", "\x00", "()"):
        with pytest.raises(ValueError, match="no words"):
            jobs.page(q=query)


def test_words_are_letters_and_digits() -> None:
    assert search_words('NEAR(a "b*" -c:d') == ["near", "a", "b", "c", "d"]
    assert search_words("x_y x") == ["x", "y"]
    with pytest.raises(ValueError):
        search_words(None)


def test_search_keeps_its_plan_contract(jobs: JobRepository) -> None:
    term, value = search_term(jobs.db.dialect, ["minecraft"])
    sql = f"SELECT * FROM jobs WHERE {term} ORDER BY created_at DESC, id DESC LIMIT ?"
    if jobs.db.dialect.features.cost_based_planner:
        jobs.db.execute_update("SET enable_seqscan = off")  # four rows: force the choice
    steps = explain(jobs.db.connection(), sql, (value, 51))
    assert plan_problems(steps, SEARCH, temp_sort_ok=True) == []


def test_reconcile_builds_the_search_structure_over_existing_rows(db: DatabaseConfig) -> None:
    repo = JobRepository(db)
    repo.create_job("https://example.org/a", "other", "Existing rows are searchable")
    dialect = db.dialect
    fts = dialect.search_derived("jobs", Job.search)
    if fts is not None:  # SQLite: the FTS table and its triggers
        for trigger in fts.triggers:
            db.execute_update(f'DROP TRIGGER IF EXISTS "{trigger.name}"')
        db.execute_update(f'DROP TABLE "{fts.table}"')
    else:  # PostgreSQL: the GIN index
        db.execute_update('DROP INDEX "idx_jobs_search"')
    repo.create_job("https://example.org/b", "other", "Written while searchable was gone")

    report = db.initialize_schema()

    changed = {(c.action, c.name) for c in report.changes}
    assert changed & {("build derived", "jobs_search"), ("create index", "idx_jobs_search")}
    assert len(repo.page(q="searchable").items) == 2
    assert db.initialize_schema().changes == []


def set_uploader(db: DatabaseConfig, job_id: str, uploader: str) -> None:
    """As the worker's completion does (queue.SQL_COMPLETE): an UPDATE of the column."""
    db.execute_update("UPDATE jobs SET uploader = ? WHERE id = ?", (uploader, job_id))


def test_a_word_of_the_uploader_finds_its_jobs(jobs: JobRepository) -> None:
    cats = jobs.page(q="cats").items[0]
    set_uploader(jobs.db, cats.id, "Kitten Channel")
    assert titles(jobs.page(q="kitten").items) == ["Funny cats compilation"]
    assert titles(jobs.page(q="kitten cats").items) == ["Funny cats compilation"]
    set_uploader(jobs.db, cats.id, "Puppy Channel")  # the old words leave with the value
    assert jobs.page(q="kitten").items == []
    assert titles(jobs.page(q="puppy").items) == ["Funny cats compilation"]


def search_structure(db: DatabaseConfig) -> str:
    """What holds the searched columns as stored: SQLite's FTS5 CREATE, PostgreSQL's
    trigger (its comment and function) computing the stored document."""
    conn = db.connection()
    if db.dialect.search_derived("jobs", Job.search) is not None:
        return str(db.dialect.stored_table_sql(conn, "jobs_search"))
    search = db.dialect.search_column("jobs", Job.search, Job.primary_key)
    assert search is not None
    return str(db.dialect.stored_trigger_sql(conn, search.trigger.name))


def test_a_search_over_title_and_url_is_upgraded_to_the_uploader(
    db: DatabaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The database as the earlier declaration built it: title and URL only.
    with monkeypatch.context() as earlier:
        earlier.setattr(Job, "search", ("title", "url"))
        db.initialize_schema()
        assert db.initialize_schema().changes == []
        old = search_structure(db)
    assert "uploader" not in old
    repo = JobRepository(db)
    job = repo.create_job("https://example.org/v/1", "other", "Harbour timelapse")
    set_uploader(db, job.id, "Lighthouse Films")
    other = repo.create_job("https://example.org/v/2", "other", "Lighthouse tour")
    # SQLite's FTS table and PostgreSQL's stored document have no uploader yet.
    assert titles(repo.page(q="films").items) == []

    report = db.initialize_schema()

    changed = {(c.action, c.name) for c in report.changes}
    assert changed & {("rebuild derived", "jobs_search"), ("fill column", "search_document")}
    assert "uploader" in search_structure(db)
    assert titles(repo.page(q="films").items) == ["Harbour timelapse"]  # re-indexed rows
    assert titles(repo.page(q="lighthouse").items) == ["Lighthouse tour", "Harbour timelapse"]
    assert titles(repo.page(q="harbour").items) == ["Harbour timelapse"]
    assert titles(repo.page(q="v").items) == ["Lighthouse tour", "Harbour timelapse"]
    assert {j.id for j in repo.page().items} == {job.id, other.id}  # nothing lost
    assert db.initialize_schema().changes == []  # idempotent
    # Written after the upgrade: the triggers carry the new column.
    later = repo.create_job("https://example.org/v/3", "other", "Night sky")
    set_uploader(db, later.id, "Observatory")
    assert titles(repo.page(q="observatory").items) == ["Night sky"]


@pytest.mark.sqlite_only
def test_a_drifted_trigger_is_rebuilt_with_the_words(db: DatabaseConfig) -> None:
    repo = JobRepository(db)
    repo.create_job("https://example.org/a", "other", "first")
    db.execute_update('DROP TRIGGER "trg_jobs_search_insert"')
    repo.create_job("https://example.org/b", "other", "second")
    assert repo.page(q="second").items == []

    report = db.initialize_schema()

    assert ("rebuild derived", "jobs_search") in {(c.action, c.name) for c in report.changes}
    assert titles(repo.page(q="second").items) == ["second"]


@pytest.mark.sqlite_only
def test_the_legacy_database_is_searchable_after_upgrade(legacy_db_path: Path) -> None:
    config = DatabaseConfig(legacy_db_path)
    try:
        config.initialize_schema()
        repo = JobRepository(config)
        some = next(j for j in repo.page(limit=200).items if j.title)
        word = search_words(some.title)[0]
        assert some.id in {j.id for j in repo.page(q=word, limit=200).items}
    finally:
        config.dispose()


# -- PostgreSQL: the stored document, its trigger and its fill --------------------------------


def stored_search(db: DatabaseConfig) -> SearchColumn:
    search = db.dialect.search_column("jobs", Job.search, Job.primary_key)
    assert search is not None
    return search


def documents(db: DatabaseConfig) -> dict[str, str | None]:
    """Each job's stored document as text (None: not filled)."""
    rows = db.execute_query("SELECT id, search_document::text AS d FROM jobs")
    return {row["id"]: row["d"] for row in rows}


def computed(db: DatabaseConfig) -> dict[str, str]:
    """Each job's document as computed from its columns now."""
    expression = postgresql_ddl.search_document(Job.search)
    rows = db.connection().execute(f"SELECT id, ({expression})::text AS d FROM jobs").fetchall()
    return {row["id"]: row["d"] for row in rows}


def test_the_trigger_stores_the_words_of_new_rows_and_changed_columns(
    pg_db: DatabaseConfig,
) -> None:
    repo = JobRepository(pg_db)
    job = repo.create_job("https://example.org/v/1", "other", "Harbour timelapse")
    assert documents(pg_db) == computed(pg_db)
    assert "'harbour'" in str(documents(pg_db)[job.id])
    set_uploader(pg_db, job.id, "Lighthouse Films")
    pg_db.execute_update("UPDATE jobs SET title = ? WHERE id = ?", ("Night sky", job.id))
    pg_db.execute_update("UPDATE jobs SET url = ? WHERE id = ?", ("https://vimeo.com/7", job.id))
    document = str(documents(pg_db)[job.id])
    assert documents(pg_db) == computed(pg_db)
    assert all(f"'{word}'" in document for word in ("lighthouse", "night", "vimeo"))
    assert "'harbour'" not in document and "'example'" not in document
    assert titles(repo.page(q="lighthouse night vimeo").items) == ["Night sky"]


def test_a_progress_write_leaves_the_document_alone(pg_db: DatabaseConfig) -> None:
    repo, queue = JobRepository(pg_db), JobQueue(pg_db)
    job = repo.create_job("https://example.org/v/1", "other", "Harbour timelapse")
    assert queue.claim("w1", 60) is not None
    # A document no computation gives: a write that recomputed it would replace it.
    sentinel = "UPDATE jobs SET search_document = to_tsvector('simple', 'sentinel')"
    pg_db.execute_update(sentinel)  # names no searched column: the trigger is not fired
    with pg_db.transaction() as conn:
        status = queue.report_progress(
            job.id, "w1", 60, progress=50, bytes_downloaded=1_000, operation="downloading"
        )
        conn.execute("UPDATE jobs SET progress = 60 WHERE id = ?", (job.id,))
        hot = conn.execute(
            "SELECT pg_catalog.pg_stat_get_xact_tuples_hot_updated('jobs'::regclass) AS n"
        ).fetchone()["n"]
    assert status == "running"
    assert hot == 2  # no indexed value changed: neither write touched an index
    assert documents(pg_db) == {job.id: "'sentinel':1"}
    # A progress write that brings a title (the extractor's) changes the words.
    queue.report_progress(
        job.id, "w1", 60, progress=70, bytes_downloaded=2_000, operation=None, title="Night sky"
    )
    assert documents(pg_db) == computed(pg_db)
    assert titles(repo.page(q="night").items) == ["Night sky"]


def previous_release_search(db: DatabaseConfig) -> None:
    """The jobs table as the previous release had it: no document column nor trigger,
    the GIN index over the document's expression."""
    search = stored_search(db)
    conn = db.connection()
    conn.execute(f'DROP TRIGGER "{search.trigger.name}" ON jobs')
    conn.execute(f'DROP FUNCTION "{search.trigger.name}"()')
    conn.execute('DROP INDEX "idx_jobs_search"')
    conn.execute("ALTER TABLE jobs DROP COLUMN search_document")
    expression = postgresql_ddl.search_document(Job.search)
    conn.execute(f'CREATE INDEX "idx_jobs_search" ON jobs USING gin (({expression}))')


def test_the_previous_expression_index_is_upgraded_to_the_column(pg_db: DatabaseConfig) -> None:
    repo = JobRepository(pg_db)
    for i in range(3):
        repo.create_job(f"https://example.org/v/{i}", "other", f"Harbour timelapse {i}")
    previous_release_search(pg_db)
    old = repo.create_job("https://example.org/v/3", "other", "Lighthouse tour")
    assert "search_document" not in {
        c.name for c in PostgreSQLDialect().table_columns(pg_db.connection(), "jobs")
    }

    report = pg_db.initialize_schema()

    changes = [(c.action, c.name) for c in report.changes]
    assert changes == [
        ("add column", "search_document"),
        ("fill column", "search_document"),
        ("rebuild index", "idx_jobs_search"),
        ("analyze", "jobs"),
    ]
    fill, rebuild = report.changes[1], report.changes[2]
    assert fill.detail == "column search_document missing; 4 row(s) rewritten in 1 batch(es)"
    assert rebuild.detail.startswith("full text; expression to_tsvector(")
    assert rebuild.detail.endswith("declared column search_document")
    definition = dict(pg_db.dialect.index_definitions(pg_db.connection(), "jobs"))
    assert definition["idx_jobs_search"].endswith("USING gin (search_document)")
    assert documents(pg_db) == computed(pg_db)
    assert len(repo.page(q="harbour").items) == 3
    assert [j.id for j in repo.page(q="lighthouse").items] == [old.id]
    assert pg_db.initialize_schema().changes == []


def test_an_interrupted_fill_is_finished_by_the_next_start(
    pg_db: DatabaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = JobRepository(pg_db)
    for i in range(5):
        repo.create_job(f"https://example.org/v/{i}", "other", f"Harbour timelapse {i}")
    search = stored_search(pg_db)
    conn = pg_db.connection()
    conn.execute(f'DROP TRIGGER "{search.trigger.name}" ON jobs')
    conn.execute("UPDATE jobs SET search_document = NULL")
    # The fill stops after its first batch of two rows, as a kill would.
    stopping = dataclasses.replace(
        search,
        batch_size=2,
        fill_next_sql="SELECT CAST(? AS text) || CAST(? AS text) || CAST(1 / 0 AS text)",
    )
    with monkeypatch.context() as patched:
        patched.setattr(PostgreSQLDialect, "search_column", lambda *args: stopping)
        with pytest.raises(Exception, match="division by zero"):
            pg_db.initialize_schema()
    stored = pg_db.dialect.stored_trigger_sql(conn, search.trigger.name)
    assert stored is not None and stored.startswith("\n")  # installed, not marked
    assert sorted(d is None for d in documents(pg_db).values()) == [False, False, True, True, True]
    later = repo.create_job("https://example.org/v/5", "other", "Harbour at night")
    assert documents(pg_db)[later.id] is not None  # the installed trigger works already

    report = pg_db.initialize_schema()

    fill = next(c for c in report.changes if c.action == "fill column")
    assert fill.detail == (
        "trigger trg_jobs_search_document not marked complete: an interrupted fill; "
        "3 row(s) rewritten in 1 batch(es)"
    )
    assert documents(pg_db) == computed(pg_db)
    assert len(repo.page(q="harbour").items) == 6
    assert pg_db.initialize_schema().changes == []


def test_a_trigger_over_other_columns_is_replaced_and_the_rows_filled_again(
    pg_db: DatabaseConfig,
) -> None:
    repo = JobRepository(pg_db)
    job = repo.create_job("https://example.org/v/1", "other", "Harbour timelapse")
    set_uploader(pg_db, job.id, "Lighthouse Films")
    # A trigger marked complete, but over other columns (as a changed declaration left it).
    other = pg_db.dialect.search_column("jobs", ("url",), Job.primary_key)
    assert other is not None
    with pg_db.transaction() as conn:
        pg_db.dialect.replace_trigger(conn, other.trigger)
    url_only = postgresql_ddl.search_document(("url",))  # the documents it would store
    pg_db.connection().execute(f"UPDATE jobs SET search_document = {url_only}")
    assert repo.page(q="harbour").items == []

    report = pg_db.initialize_schema()

    fill = next(c for c in report.changes if c.action == "fill column")
    assert fill.detail == (
        "trigger trg_jobs_search_document differs; 1 row(s) rewritten in 1 batch(es)"
    )
    assert documents(pg_db) == computed(pg_db)
    assert [j.id for j in repo.page(q="harbour lighthouse").items] == [job.id]
    assert pg_db.initialize_schema().changes == []


def test_a_leftover_of_an_interrupted_search_index_build_is_dropped(pg_db: DatabaseConfig) -> None:
    JobRepository(pg_db).create_job("https://example.org/v/1", "other", "Harbour timelapse")
    leftover = build_name("idx_jobs_search")
    pg_db.execute_update(f'CREATE INDEX "{leftover}" ON jobs USING gin (search_document)')

    report = pg_db.initialize_schema()

    assert [(c.action, c.name) for c in report.changes] == [("drop index", leftover)]
    assert leftover not in dict(pg_db.dialect.index_definitions(pg_db.connection(), "jobs"))
    assert pg_db.initialize_schema().changes == []


# -- the API ------------------------------------------------------------------------------


@pytest.fixture
def client(jobs: JobRepository, database: str) -> Iterator[FlaskClient]:
    app = create_app({"TESTING": True, "DB_PATH": database})
    with app.app_context():
        yield app.test_client()


def test_api_searches_with_filters(client: FlaskClient) -> None:
    answer = client.get("/api/jobs?q=minecraft")
    assert answer.status_code == 200
    assert [j["title"] for j in answer.get_json()["items"]] == [
        "A tutorial",
        "Minecraft speedrun record",
    ]
    answer = client.get("/api/jobs?q=minecraft&platform=youtube&limit=1")
    assert [j["title"] for j in answer.get_json()["items"]] == ["Minecraft speedrun record"]
    first = client.get("/api/jobs?q=minecraft&limit=1").get_json()
    assert first["next_cursor"] is not None
    second = client.get(f"/api/jobs?q=minecraft&limit=1&cursor={first['next_cursor']}")
    assert [j["title"] for j in second.get_json()["items"]] == ["Minecraft speedrun record"]


@pytest.mark.parametrize("query", [*HOSTILE, "%00", "%22%2A", "NEAR%28x", "x" * 501])
def test_api_search_is_a_200_or_a_clear_400(client: FlaskClient, query: str) -> None:
    answer = client.get("/api/jobs", query_string={"q": query})
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)
    if answer.status_code == 400:
        assert "q" in answer.get_json()["error"]


def test_api_search_without_words_is_a_400(client: FlaskClient) -> None:
    for query in ("", '"', "*", "-"):
        answer = client.get("/api/jobs", query_string={"q": query})
        assert answer.status_code == 400


# -- the CLI ------------------------------------------------------------------------------


def where(database: str) -> list[str]:
    """The CLI's option naming ``database``: a file path, or a URL."""
    return ["--database-url" if "://" in database else "--db", database]


def test_cli_jobs_search(jobs: JobRepository, database: str) -> None:
    runner = CliRunner()
    result = runner.invoke(main, [*where(database), "jobs", "--search", "minecraft", "--json"])
    assert result.exit_code == 0, result.output
    assert [j["title"] for j in json.loads(result.output)] == [
        "A tutorial",
        "Minecraft speedrun record",
    ]
    result = runner.invoke(
        main, [*where(database), "jobs", "--search", "minecraft", "--platform", "youtube"]
    )
    assert result.exit_code == 0, result.output
    assert "Minecraft speedrun record" in result.output
    assert "A tutorial" not in result.output


@pytest.mark.parametrize("query", ['"', "*", "-", ""])
def test_cli_search_without_words_is_a_usage_error(
    jobs: JobRepository, database: str, query: str
) -> None:
    result = CliRunner().invoke(main, [*where(database), "jobs", "--search", query])
    assert result.exit_code == 2, result.output
    assert "--search" in result.output and "no words" in result.output


# -- the jobs page ------------------------------------------------------------------------


def test_jobs_page_searches_and_keeps_the_search_in_its_links(client: FlaskClient) -> None:
    answer = client.get("/jobs?q=minecraft&status=pending&limit=1")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert 'name="q" value="minecraft"' in html
    assert "A tutorial" in html and "Minecraft speedrun record" not in html
    assert "Funny cats" not in html
    # The next page's link keeps the search and the status.
    next_link = next(
        line for line in html.splitlines() if "cursor=" in line and "q=minecraft" in line
    )
    assert "status=pending" in next_link
    empty = client.get("/jobs?q=&status=")  # the form's "any": no search
    assert empty.status_code == 200
    assert "Funny cats" in empty.get_data(as_text=True)


@pytest.mark.parametrize("query", ['"', "NEAR(", "*", "a OR -x"])
def test_jobs_page_hostile_search_is_never_a_500(client: FlaskClient, query: str) -> None:
    answer = client.get("/jobs", query_string={"q": query})
    assert answer.status_code in (200, 400)


# -- the benchmark --------------------------------------------------------------------------


def test_search_benchmark_runs_on_a_small_dataset(database: str) -> None:
    from collector.bench.search import measure, prepare, search_lines

    config = DatabaseConfig(database)
    try:
        marked = prepare(config, 2_000)
        figures = measure(config, runs=2)
    finally:
        config.dispose()
    assert marked == 19  # jobs 100, 200, ... 1900
    assert figures.jobs == 2_000
    common, rare, every = figures.cases
    assert (common.word, common.matching) == ("zebra", 19)
    assert (rare.word, rare.matching) == ("1334", 1)
    assert (every.word, every.matching) == ("video", 2_000)
    # 1% (one in 100 rows) and one match: the walk of 10,000 rows stops short of a
    # page of 50 in 2,000 rows, then the gather; every title: the walk fills the page.
    assert common.statements == rare.statements == ["walk", "gather"]
    assert every.statements == ["walk"]
    for case in figures.cases:
        assert case.search_ms > 0 and case.like_ms > 0 and case.gather_ms > 0
    assert every.second_page_ms > 0 and rare.second_page_ms == 0.0  # one page only
    assert len(search_lines(figures)) == 1 + 3 * len(figures.cases)


def test_cli_bench_search(tmp_path: Path) -> None:
    out = tmp_path / "search.json"
    result = CliRunner().invoke(
        main, ["bench", "search", "--jobs", "1000", "--runs", "1", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "a word in 1% of the titles ('zebra'): 9 jobs" in result.output
    assert [c["word"] for c in json.loads(out.read_text())["cases"]] == ["zebra", "667", "video"]
