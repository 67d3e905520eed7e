"""The JSON API through Flask's test client: every route, good input and bad."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from flask import Flask
from flask.testing import FlaskClient

from collector.app import create_app
from collector.models import STATUSES
from collector.models.file import FILE_TYPES
from collector.models.job import Job
from collector.repositories import FileRepository, JobRepository
from collector.repositories.paging import encode_cursor
from collector.web.openapi import (
    CURSOR_FORMAT,
    QUEUE_BODY,
    SUBSCRIBE_BODY,
    SUBSCRIPTION_CHANGES,
    openapi_document,
)
from tests.expected import JOB_FIELDS

YOUTUBE = "https://www.youtube.com/watch?v=abc"
TOKEN = "s3cret-token-for-tests-0123456789"


def make_jobs(count: int, platform: str = "other") -> list[str]:
    """``count`` pending jobs; their ids newest first, as the API lists them."""
    repo = JobRepository()
    ids = [repo.create_job(f"https://e.com/{platform}/{n}", platform).id for n in range(count)]
    return ids[::-1]


def assert_error(response: Any, code: int, *fragments: str) -> None:
    assert response.status_code == code, response.data
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    for fragment in fragments:
        assert fragment in body["error"]


def walk(client: FlaskClient, url: str) -> list[dict[str, Any]]:
    """Every item of a paged list, following next_cursor to the end."""
    path, _, query = url.partition("?")
    base = dict(parse_qsl(query))
    items, cursor = [], None
    for _ in range(100):
        page = client.get(path, query_string={**base, "cursor": cursor} if cursor else base)
        page = page.get_json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


# -- GET /api/jobs ------------------------------------------------------------------------------


def test_jobs_empty(client: FlaskClient) -> None:
    response = client.get("/api/jobs")
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}


def test_jobs_newest_first_in_keyset_pages(app: Flask, client: FlaskClient) -> None:
    ids = make_jobs(7)

    first = client.get("/api/jobs?limit=3").get_json()

    assert [j["id"] for j in first["items"]] == ids[:3]
    assert first["next_cursor"]
    assert [j["id"] for j in walk(client, "/api/jobs?limit=3")] == ids


def test_jobs_item_shape(app: Flask, client: FlaskClient) -> None:
    job = JobRepository().create_job(YOUTUBE, "youtube", title="A title")
    item = client.get("/api/jobs").get_json()["items"][0]
    assert item["id"] == job.id
    assert item["url"] == YOUTUBE
    assert item["title"] == "A title"
    assert item["status"] == "pending"
    assert item["progress"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", item["created_at"])


def test_jobs_filtered_by_status_and_platform(app: Flask, client: FlaskClient) -> None:
    repo = JobRepository()
    tiktok = make_jobs(3, "tiktok")
    youtube = make_jobs(2, "youtube")
    repo.complete_job(tiktok[0])
    repo.fail_job(youtube[1], "gone")

    def ids(query: str) -> list[str]:
        return [j["id"] for j in walk(client, "/api/jobs?limit=2&" + query)]

    assert ids("status=completed") == [tiktok[0]]
    assert ids("platform=tiktok") == tiktok
    assert ids("platform=youtube&status=pending") == [youtube[0]]
    assert set(ids("status=pending")) == {*tiktok[1:], youtube[0]}
    assert ids("status=cancelled") == []


def test_jobs_active_filter(app: Flask, client: FlaskClient) -> None:
    repo = JobRepository()
    ids = make_jobs(4)
    repo.complete_job(ids[0])
    repo.update_job_status(ids[1], "running")
    repo.update_job_status(ids[2], "cancelling")

    active = [j["id"] for j in client.get("/api/jobs?status=active").get_json()["items"]]

    assert active == ids[1:]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("status=bogus", "unknown status 'bogus'"),
        ("status=PENDING", "unknown status"),
        ("platform=myspace", "unknown platform 'myspace'"),
        ("limit=0", "limit must be an integer from 1 to 200"),
        ("limit=201", "limit must be an integer from 1 to 200"),
        ("limit=-5", "limit must be"),
        ("limit=abc", "limit must be"),
        ("limit=1.5", "limit must be"),
        ("limit=%201", "limit must be"),
        ("cursor=not-a-cursor", "invalid cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b'{"a": 1}').decode(), "invalid cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b'["x", 2]').decode(), "invalid cursor"),
        ("cursor=%00%ff", "invalid cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b'["\\ud800", "x"]').decode(), "invalid cursor"),
    ],
)
def test_jobs_bad_query_is_400(client: FlaskClient, query: str, fragment: str) -> None:
    assert_error(client.get("/api/jobs?" + query), 400, fragment)


@pytest.mark.parametrize(
    ("path", "query", "fragment"),
    [
        ("/api/jobs", "status=", "empty status; valid: pending, running, "),
        ("/api/jobs", "platform=", "empty platform; valid: youtube, instagram, tiktok, other"),
        ("/api/jobs", "limit=", "limit must be an integer from 1 to 200"),
        ("/api/jobs", "cursor=", "invalid cursor ''"),
        ("/api/files", "type=", "empty type; valid: video, audio, image, metadata"),
        ("/api/files", "limit=", "limit must be an integer from 1 to 200"),
        ("/api/files", "cursor=", "invalid cursor ''"),
    ],
)
def test_empty_query_values_are_400_naming_the_choices(
    client: FlaskClient, path: str, query: str, fragment: str
) -> None:
    # An empty value is not "any": the document declares no empty value, so it is refused.
    assert_error(client.get(f"{path}?{query}"), 400, fragment)


def test_jobs_limit_bounds_are_accepted(app: Flask, client: FlaskClient) -> None:
    make_jobs(3)
    assert len(client.get("/api/jobs?limit=1").get_json()["items"]) == 1
    assert len(client.get("/api/jobs?limit=200").get_json()["items"]) == 3


def test_jobs_cursor_from_elsewhere_gives_an_empty_page(client: FlaskClient) -> None:
    cursor = encode_cursor("1999-01-01 00:00:00.000000", "x")
    response = client.get("/api/jobs", query_string={"cursor": cursor})
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}


# -- POST /api/jobs -----------------------------------------------------------------------------


def test_post_job_creates_it(app: Flask, client: FlaskClient) -> None:
    response = client.post("/api/jobs", json={"url": YOUTUBE})

    assert response.status_code == 201
    body = response.get_json()
    assert body["url"] == YOUTUBE
    assert body["platform"] == "youtube"
    assert body["status"] == "pending"
    assert response.headers["Location"] == f"/api/jobs/{body['id']}"
    assert JobRepository().get_job(body["id"]) is not None


def test_post_duplicate_returns_the_existing_job(app: Flask, client: FlaskClient) -> None:
    first = client.post("/api/jobs", json={"url": YOUTUBE})
    again = client.post("/api/jobs", json={"url": "  " + YOUTUBE + " "})

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert JobRepository().count() == 1


def test_post_after_the_first_finished_is_a_new_job(app: Flask, client: FlaskClient) -> None:
    first = client.post("/api/jobs", json={"url": YOUTUBE}).get_json()
    JobRepository().complete_job(first["id"])
    again = client.post("/api/jobs", json={"url": YOUTUBE})
    assert again.status_code == 201
    assert again.get_json()["id"] != first["id"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"data": "https://e.com/x", "content_type": "text/plain"}, "must be a JSON object"),
        ({"data": "{not json", "content_type": "application/json"}, "must be a JSON object"),
        ({"data": "", "content_type": "application/json"}, "must be a JSON object"),
        (
            {"data": "[" * 100_000 + "]" * 100_000, "content_type": "application/json"},
            "must be a JSON object",
        ),
        (
            {
                "data": '{"url": ' * 100_000 + "1" + "}" * 100_000,
                "content_type": "application/json",
            },
            "must be a JSON object",
        ),
        ({}, "must be a JSON object"),
        ({"json": ["https://e.com/x"]}, "must be a JSON object"),
        ({"json": "https://e.com/x"}, "must be a JSON object"),
        ({"json": {}}, 'missing "url"'),
        ({"json": {"link": "https://e.com/x"}}, 'missing "url"'),
        ({"json": {"url": "https://e.com/x", "title": "t"}}, "unknown field 'title'"),
        ({"json": {"url": None}}, "non-empty string"),
        ({"json": {"url": 42}}, "non-empty string"),
        ({"json": {"url": ""}}, "non-empty string"),
        ({"json": {"url": "ftp://e.com/file"}}, "only http and https"),
        ({"json": {"url": "javascript:alert(1)"}}, "only http and https"),
        ({"json": {"url": "https://"}}, "no host"),
        ({"json": {"url": "https://e.com/a b"}}, "not a valid URL"),
        ({"json": {"url": "https://e.com/" + "x" * 5000}}, "not a valid URL"),
        ({"json": {"url": "https://e.com/\ud800"}}, "not a valid URL"),
        ({"json": {"url": "https://e\u0000.com/"}}, "not a valid URL"),
        (
            {"data": '{"url": "https://e.com/\\ud800"}', "content_type": "application/json"},
            "not a valid URL",
        ),
    ],
)
def test_post_bad_input_is_400(
    app: Flask, client: FlaskClient, kwargs: dict[str, Any], fragment: str
) -> None:
    assert_error(client.post("/api/jobs", **kwargs), 400, fragment)
    assert JobRepository().count() == 0


# -- GET /api/jobs/<id> -------------------------------------------------------------------------


def test_get_job_with_its_files(app: Flask, client: FlaskClient) -> None:
    job = JobRepository().create_job(YOUTUBE, "youtube", title="Clip")
    files = FileRepository()
    files.create_file(job.id, "/d/clip.mp4", "video", 1000)
    files.create_file(job.id, "/d/clip.info.json", "metadata", 20)

    body = client.get(f"/api/jobs/{job.id}").get_json()

    assert body["id"] == job.id
    assert body["title"] == "Clip"
    assert [(f["name"], f["file_type"], f["file_size"]) for f in body["files"]] == [
        ("clip.mp4", "video", 1000),
        ("clip.info.json", "metadata", 20),
    ]
    assert {f["job_id"] for f in body["files"]} == {job.id}


def test_get_job_without_files(app: Flask, client: FlaskClient) -> None:
    job = JobRepository().create_job(YOUTUBE, "youtube")
    assert client.get(f"/api/jobs/{job.id}").get_json()["files"] == []


@pytest.mark.parametrize("job_id", ["nope", "00000000-0000-0000-0000-000000000000", "' OR 1=1 --"])
def test_get_unknown_job_is_404(client: FlaskClient, job_id: str) -> None:
    assert_error(client.get("/api/jobs/" + job_id), 404, "no job with id")


# -- cancel and retry ---------------------------------------------------------------------------


def test_cancel_pending_job(app: Flask, client: FlaskClient) -> None:
    (job_id,) = make_jobs(1)
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert JobRepository().get_job(job_id).status == "cancelled"


def test_cancel_running_job_asks_its_worker(app: Flask, client: FlaskClient) -> None:
    (job_id,) = make_jobs(1)
    JobRepository().update_job_status(job_id, "running")
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelling"


@pytest.mark.parametrize("finish", ["complete", "fail", "cancel"])
def test_cancel_finished_job_is_409(app: Flask, client: FlaskClient, finish: str) -> None:
    (job_id,) = make_jobs(1)
    repo = JobRepository()
    {
        "complete": lambda: repo.complete_job(job_id),
        "fail": lambda: repo.fail_job(job_id, "x"),
        "cancel": lambda: repo.update_job_status(job_id, "cancelled"),
    }[finish]()
    status = repo.get_job(job_id).status
    assert_error(client.post(f"/api/jobs/{job_id}/cancel"), 409, f"is {status}")
    assert repo.get_job(job_id).status == status


def test_retry_failed_job(app: Flask, client: FlaskClient) -> None:
    (job_id,) = make_jobs(1)
    JobRepository().fail_job(job_id, "HTTP Error 503")
    response = client.post(f"/api/jobs/{job_id}/retry")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "pending"
    assert body["error_message"] is None


@pytest.mark.parametrize("status", ["pending", "running", "completed"])
def test_retry_unfinished_or_completed_job_is_409(
    app: Flask, client: FlaskClient, status: str
) -> None:
    (job_id,) = make_jobs(1)
    JobRepository().update_job_status(job_id, status)
    assert_error(client.post(f"/api/jobs/{job_id}/retry"), 409, "only failed or cancelled")


def test_retry_when_the_url_is_queued_again_is_409(app: Flask, client: FlaskClient) -> None:
    first = client.post("/api/jobs", json={"url": YOUTUBE}).get_json()
    client.post(f"/api/jobs/{first['id']}/cancel")
    second = client.post("/api/jobs", json={"url": YOUTUBE}).get_json()
    assert_error(client.post(f"/api/jobs/{first['id']}/retry"), 409, second["id"])


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_actions_on_unknown_job_are_404(client: FlaskClient, action: str) -> None:
    assert_error(client.post(f"/api/jobs/nope/{action}"), 404, "no job with id 'nope'")


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_actions_want_post(app: Flask, client: FlaskClient, action: str) -> None:
    (job_id,) = make_jobs(1)
    response = client.get(f"/api/jobs/{job_id}/{action}")
    assert_error(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


# -- GET /api/files, /api/stats, /healthz ---------------------------------------------------------


def make_files(job_ids: list[str]) -> dict[str, list[str]]:
    """A video and a metadata file per job; the file ids newest first, by type."""
    repo = FileRepository()
    made: dict[str, list[str]] = {"video": [], "metadata": []}
    for n, job_id in enumerate(job_ids):
        made["video"].append(repo.create_file(job_id, f"/d/{n}.mp4", "video", 100 + n).id)
        made["metadata"].append(repo.create_file(job_id, f"/d/{n}.json", "metadata", 5).id)
    return {kind: ids[::-1] for kind, ids in made.items()}


def test_files_by_type_in_pages(app: Flask, client: FlaskClient) -> None:
    made = make_files(make_jobs(3))

    videos = walk(client, "/api/files?type=video&limit=2")
    every = walk(client, "/api/files?limit=4")

    assert [f["id"] for f in videos] == made["video"]
    assert {f["file_type"] for f in videos} == {"video"}
    assert [f["name"] for f in videos] == ["2.mp4", "1.mp4", "0.mp4"]
    assert sorted(f["id"] for f in every) == sorted(made["video"] + made["metadata"])
    assert client.get("/api/files?type=audio").get_json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("type=movie", "unknown type 'movie'"),
        ("limit=1000", "limit must be"),
        ("cursor=%%%", "invalid cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b'["x", "\\udfff"]').decode(), "invalid cursor"),
    ],
)
def test_files_bad_query_is_400(client: FlaskClient, query: str, fragment: str) -> None:
    assert_error(client.get("/api/files?" + query), 400, fragment)


def test_stats_follow_the_jobs(app: Flask, client: FlaskClient) -> None:
    ids = make_jobs(3)
    client.post(f"/api/jobs/{ids[0]}/cancel")
    stats = client.get("/api/stats").get_json()
    assert stats == {**dict.fromkeys(STATUSES, 0), "pending": 2, "cancelled": 1}


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


# -- the OpenAPI document -------------------------------------------------------------------------


def api_routes(app: Flask) -> set[tuple[str, str]]:
    """(path in OpenAPI syntax, method) of every route the api and events blueprints serve."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(("api.", "events.")):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    return routes


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item}


@pytest.mark.parametrize("token", [None, TOKEN], ids=["open", "token"])
def test_openapi_document_matches_the_routes(db_path: Path, token: str | None) -> None:
    app = create_app({"TESTING": True, "DB_PATH": str(db_path), "AUTH_TOKEN": token})
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()

    assert document == openapi_document(secured=token is not None)
    assert document["openapi"] == "3.1.0"
    assert documented(document) == api_routes(app)
    assert api_routes(app) == {
        ("/healthz", "get"),
        ("/api/stats", "get"),
        ("/api/jobs", "get"),
        ("/api/jobs", "post"),
        ("/api/jobs/{job_id}", "get"),
        ("/api/jobs/{job_id}/cancel", "post"),
        ("/api/jobs/{job_id}/retry", "post"),
        ("/api/files", "get"),
        ("/api/events", "get"),
        ("/api/files/{file_id}/content", "get"),
        ("/api/openapi.json", "get"),
        ("/api/subscriptions", "get"),
        ("/api/subscriptions", "post"),
        ("/api/subscriptions/{subscription_id}", "get"),
        ("/api/subscriptions/{subscription_id}", "patch"),
        ("/api/subscriptions/{subscription_id}", "delete"),
    }


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_openapi_declares_the_token_only_when_one_is_configured() -> None:
    open_document = openapi_document(secured=False)
    assert "security" not in open_document
    assert "securitySchemes" not in open_document["components"]
    assert "bearer" not in str(open_document["components"]).lower()
    for key, operation in operations(open_document).items():
        assert "security" not in operation, key
        assert "401" not in operation["responses"], key
        assert "403" in operation["responses"], key  # a Host that is not this machine

    secured = openapi_document(secured=True)
    assert secured["security"] == [{"bearerAuth": []}]
    assert secured["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer"}
    }
    for key, operation in operations(secured).items():
        if key in {("/healthz", "get"), ("/api/openapi.json", "get")}:
            assert operation["security"] == [], key  # open even with a token
            assert "401" not in operation["responses"], key
        else:
            assert "security" not in operation, key  # the document's: the bearer token
            assert "401" in operation["responses"], key


def test_openapi_parameters_match_the_path_templates() -> None:
    for path, item in openapi_document()["paths"].items():
        in_path = set(re.findall(r"{([^}]+)}", path))
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == in_path, path
            assert "200" in operation["responses"] or "201" in operation["responses"]


def test_openapi_enums_are_the_models() -> None:
    params = {
        p["name"]: p["schema"]
        for p in openapi_document()["paths"]["/api/jobs"]["get"]["parameters"]
    }
    assert params["status"]["enum"] == [*STATUSES, "active"]
    assert params["limit"]["maximum"] == 200
    assert params["cursor"]["format"] == CURSOR_FORMAT
    files = openapi_document()["paths"]["/api/files"]["get"]["parameters"]
    assert {p["name"]: p["schema"] for p in files}["type"]["enum"] == list(FILE_TYPES)


def test_openapi_refs_resolve() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    refs = re.findall(r"#/components/schemas/(\w+)", str(document))
    assert refs
    assert set(refs) <= set(schemas)


def closed_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every object schema in a document (anything with properties)."""
    if isinstance(node, dict):
        if "properties" in node:
            yield node
        for value in node.values():
            yield from closed_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from closed_objects(value)


def test_openapi_objects_are_closed_and_list_every_field() -> None:
    for secured in (False, True):
        found = list(closed_objects(openapi_document(secured=secured)))
        assert len(found) >= 8
        for schema in found:
            assert schema["additionalProperties"] is False, schema
            if schema in (QUEUE_BODY, SUBSCRIBE_BODY):  # what POST takes: options may be left out
                assert schema["required"] == ["url"]
                continue
            if schema == SUBSCRIPTION_CHANGES:  # PATCH: any of the options, or none
                assert "required" not in schema
                continue
            assert schema["required"] == list(schema["properties"]), schema


def test_openapi_schemas_are_what_the_api_returns(app: Flask, client: FlaskClient) -> None:
    schemas = openapi_document()["components"]["schemas"]
    job_id = client.post("/api/jobs", json={"url": YOUTUBE}).get_json()["id"]
    FileRepository().create_file(job_id, "/d/clip.mp4", "video", 10)
    listed = client.get("/api/jobs").get_json()
    one = client.get(f"/api/jobs/{job_id}").get_json()
    files = client.get("/api/files").get_json()

    assert set(listed) == {"items", "next_cursor"}
    assert list(schemas["Job"]["properties"]) == list(Job.field_names())
    assert set(listed["items"][0]) == set(schemas["Job"]["properties"])
    assert {"worker_id", "lease_expires_at", "next_attempt_at"} <= set(listed["items"][0])
    assert set(one) == set(schemas["JobWithFiles"]["properties"])
    assert set(files["items"][0]) == set(schemas["File"]["properties"])
    assert set(client.get("/api/stats").get_json()) == set(
        openapi_document()["paths"]["/api/stats"]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"]["properties"]
    )
    job = schemas["Job"]["properties"]
    nullable = {name for name, p in job.items() if "null" in p.get("type", ())}
    # Every column but the keys, the timestamps every row has, those with a default, and
    # the format (an enum whose values include null, checked with the other enums).
    assert job["format"]["enum"][-1] is None
    assert nullable == set(JOB_FIELDS) - {
        "format",
        "id",
        "created_at",
        "updated_at",
        "url",
        "platform",
        "status",
        "progress",
        "retry_count",
        "bytes_downloaded",
    }


# -- bad input never a 500 ------------------------------------------------------------------------

NASTY = ["", "%00", "'", '"', "\\", "../../etc/passwd", "<script>", "9" * 400, "-1", "null", "é"]


@pytest.mark.parametrize("value", NASTY)
def test_no_query_value_gives_a_500(app: Flask, client: FlaskClient, value: str) -> None:
    make_jobs(2)
    for path in ("/api/jobs", "/api/files"):
        for name in ("status", "platform", "type", "limit", "cursor"):
            response = client.get(path, query_string={name: value})
            assert response.status_code in (200, 400), (path, name, value)
            assert response.is_json
    for action in ("cancel", "retry"):
        assert client.post(f"/api/jobs/{value or 'x'}/{action}").status_code in (404, 405)


def test_errors_do_not_echo_huge_input(client: FlaskClient) -> None:
    huge = "x" * 50_000
    for response, code in (
        (client.get("/api/jobs", query_string={"status": huge}), 400),
        (client.get("/api/files", query_string={"type": huge}), 400),
        (client.get("/api/jobs/" + huge), 404),
        (client.post(f"/api/jobs/{huge}/cancel"), 404),
        (client.post(f"/api/jobs/{huge}/retry"), 404),
    ):
        assert response.status_code == code
        message = response.get_json()["error"]
        assert "x" * 100 in message and len(message) < 400
