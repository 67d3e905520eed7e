"""Searching the files by their job's title, uploader and URL, on both engines.

FileRepository.page(q=...) reads the matching jobs from the full-text structure (as
JobRepository.page does), then their files through the index by job: its plan is
under contract in test_plan_contracts.py, on a database large enough for the planner
to care (on five rows SQLite may as well walk the type index).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from collector.app import create_app
from collector.config.database import DatabaseConfig
from collector.repositories import FileRepository, JobRepository
from collector.repositories.job_repository import search_words
from tests.integration.test_search import HOSTILE

pytestmark = pytest.mark.both_engines


def names(items: list) -> list[str]:
    return [f.file_path.rsplit("/", 1)[-1] for f in items]


@pytest.fixture
def files(db: DatabaseConfig) -> FileRepository:
    jobs, repo = JobRepository(db), FileRepository(db)
    cats = jobs.create_job("https://vimeo.com/cats/42", "other", "Funny cats compilation")
    db.execute_update("UPDATE jobs SET uploader = ? WHERE id = ?", ("Kitten Channel", cats.id))
    race = jobs.create_job("https://www.youtube.com/watch?v=abc", "youtube", "Speedrun record")
    tut = jobs.create_job("https://example.org/speedrun-tutorial", "other", "A tutorial")
    repo.create_file(cats.id, "/d/cats.mp4", "video", 10)
    repo.create_file(race.id, "/d/race.mp4", "video", 20)
    repo.create_file(cats.id, "/d/cats.jpg", "image", 1)
    repo.create_file(tut.id, "/d/tutorial.mp4", "video", 30)
    repo.create_file(race.id, "/d/race.jpg", "image", 2)
    return repo


def test_a_search_finds_the_files_of_the_matching_jobs_newest_first(files: FileRepository) -> None:
    assert names(files.page(q="cats").items) == ["cats.jpg", "cats.mp4"]  # title and URL
    assert names(files.page(q="kitten").items) == ["cats.jpg", "cats.mp4"]  # uploader
    assert names(files.page(q="SPEEDRUN").items) == ["race.jpg", "tutorial.mp4", "race.mp4"]
    assert names(files.page(q="speedrun tutorial").items) == ["tutorial.mp4"]  # every word
    assert files.page(q="speedrun kitten").items == []


def test_a_search_combines_with_the_type(files: FileRepository) -> None:
    assert names(files.page(q="speedrun", file_type="video").items) == [
        "tutorial.mp4",
        "race.mp4",
    ]
    assert names(files.page(q="speedrun", file_type="image").items) == ["race.jpg"]
    assert files.page(q="speedrun", file_type="audio").items == []


def test_a_search_pages_by_keyset(files: FileRepository) -> None:
    first = files.page(q="speedrun", limit=2)
    assert names(first.items) == ["race.jpg", "tutorial.mp4"]
    assert first.next_cursor is not None
    second = files.page(q="speedrun", limit=2, cursor=first.next_cursor)
    assert names(second.items) == ["race.mp4"]
    assert second.next_cursor is None


@pytest.mark.parametrize("query", HOSTILE)
def test_search_syntax_is_never_read(files: FileRepository, query: str) -> None:
    """As the jobs search: punctuation only separates words; no words is a ValueError."""
    try:
        page = files.page(q=query)
    except ValueError as exc:
        assert "no words" in str(exc)
        with pytest.raises(ValueError):
            search_words(query)
    else:
        plain = files.page(q=" ".join(search_words(query)))
        assert [f.id for f in page.items] == [f.id for f in plain.items]


def test_a_search_without_words_is_a_value_error(files: FileRepository) -> None:
    for query in ("", "   ", '"', "*", "-", "'", "\x00", "()"):
        with pytest.raises(ValueError, match="no words"):
            files.page(q=query)


# -- the API and the page -------------------------------------------------------------------


@pytest.fixture
def client(files: FileRepository, database: str) -> Iterator[FlaskClient]:
    app = create_app({"TESTING": True, "DB_PATH": database})
    with app.app_context():
        yield app.test_client()


def test_api_files_search_with_type_and_cursor(client: FlaskClient) -> None:
    answer = client.get("/api/files?q=speedrun")
    assert answer.status_code == 200
    assert [f["name"] for f in answer.get_json()["items"]] == [
        "race.jpg",
        "tutorial.mp4",
        "race.mp4",
    ]
    answer = client.get("/api/files?q=kitten&type=video")
    assert [f["name"] for f in answer.get_json()["items"]] == ["cats.mp4"]
    first = client.get("/api/files?q=speedrun&limit=2").get_json()
    second = client.get(f"/api/files?q=speedrun&limit=2&cursor={first['next_cursor']}")
    assert [f["name"] for f in second.get_json()["items"]] == ["race.mp4"]


@pytest.mark.parametrize("query", [*HOSTILE, "x" * 501])
def test_api_files_search_is_a_200_or_a_clear_400(client: FlaskClient, query: str) -> None:
    answer = client.get("/api/files", query_string={"q": query})
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)
    if answer.status_code == 400:
        assert "q" in answer.get_json()["error"]
    else:  # the same files as its words alone
        plain = client.get("/api/files", query_string={"q": " ".join(search_words(query))})
        assert answer.get_json() == plain.get_json()


def test_api_files_search_without_words_is_a_400(client: FlaskClient) -> None:
    for query in ("", '"', "*", "-"):
        assert client.get("/api/files", query_string={"q": query}).status_code == 400


def test_files_page_searches_and_keeps_the_search_in_its_links(client: FlaskClient) -> None:
    html = client.get("/files?q=speedrun&type=video&limit=1").get_data(as_text=True)
    assert 'value="speedrun"' in html
    assert "tutorial.mp4" in html and "race.mp4" not in html and "cats.mp4" not in html
    # The tabs keep the search; the next page keeps the search and the type.
    assert "/files?type=image&amp;q=speedrun" in html
    assert "/files?type=video&amp;q=speedrun&amp;limit=1&amp;cursor=" in html
    empty = client.get("/files?q=&type=").get_data(as_text=True)  # the form's "any"
    assert all(name in empty for name in ("cats.mp4", "race.mp4", "tutorial.mp4"))


@pytest.mark.parametrize("query", HOSTILE)
def test_files_page_hostile_search_is_never_a_500(client: FlaskClient, query: str) -> None:
    answer = client.get("/files", query_string={"q": query})
    assert answer.status_code in (200, 400)
