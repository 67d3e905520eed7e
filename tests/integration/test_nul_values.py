"""A NUL character is a value PostgreSQL's text cannot hold: the caller's input is at
fault, so it is a 400 (or a ValueError), never a 500, on either engine."""

from __future__ import annotations

import pytest

from collector.app import create_app
from collector.config.database import DatabaseConfig, InvalidValueError
from collector.repositories import JobRepository

pytestmark = pytest.mark.both_engines

NUL_ID = "abc\x00def"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/jobs/{NUL_ID}"),
        ("POST", f"/api/jobs/{NUL_ID}/cancel"),
        ("POST", f"/api/jobs/{NUL_ID}/retry"),
        ("GET", f"/api/jobs?cursor={NUL_ID}"),
    ],
)
def test_a_nul_in_a_request_is_a_4xx_never_a_500(
    database: str, db: DatabaseConfig, method: str, path: str
) -> None:
    app = create_app({"TESTING": True, "DB_PATH": database})
    response = app.test_client().open(path.replace("\x00", "%00"), method=method)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json
    assert "error" in response.get_json()


def test_a_nul_in_a_stored_value_is_refused_as_bad_input(engine: str, db: DatabaseConfig) -> None:
    jobs = JobRepository(db)
    if engine == "postgresql":
        with pytest.raises(InvalidValueError, match="cannot be stored") as caught:
            jobs.create_job("https://example.com/a", "other", title="bad\x00title")
        assert isinstance(caught.value, ValueError)
        assert jobs.count() == 0
    else:  # SQLite's text holds NUL characters: the value is kept as given
        job = jobs.create_job("https://example.com/a", "other", title="bad\x00title")
        stored = jobs.get_job(job.id)
        assert stored is not None and stored.title == "bad\x00title"
