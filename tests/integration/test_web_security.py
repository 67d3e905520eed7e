"""Sign-in with a token, CSRF, escaping, security headers and the persistent secret key."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from collector.app import create_app
from collector.models.file import File
from collector.repositories import FileRepository, JobRepository, SettingsRepository
from collector.repositories.subscriptions import SubscriptionRepository
from collector.web.security import CONTENT_SECURITY_POLICY, SECRET_KEY_SETTING

TOKEN = "s3cret-token-for-tests-0123456789"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture
def secured(db_path: Path) -> Iterator[Flask]:
    """The app with sign-in required."""
    app = create_app({"TESTING": True, "DB_PATH": str(db_path), "AUTH_TOKEN": TOKEN})
    with app.app_context():
        yield app


def csrf(client: FlaskClient, path: str = "/") -> str:
    match = CSRF.search(client.get(path, headers=HTML).get_data(as_text=True))
    assert match, path
    return match.group(1)


def sign_in(client: FlaskClient, token: str = TOKEN, next_path: str = "/") -> object:
    return client.post(
        "/login", data={"csrf_token": csrf(client, "/login"), "token": token, "next": next_path}
    )


# -- without a token (loopback) -------------------------------------------------------------------


def test_without_a_token_everything_is_open(client: FlaskClient) -> None:
    assert client.get("/", headers=HTML).status_code == 200
    assert client.get("/api/jobs").status_code == 200
    assert client.get("/login").status_code == 302  # nothing to sign in to
    assert "Sign out" not in client.get("/", headers=HTML).get_data(as_text=True)


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:5000", "127.0.0.1:5000", "127.0.1.1", "[::1]:5000", "a.localhost"],
)
def test_without_a_token_loopback_host_names_are_served(client: FlaskClient, host: str) -> None:
    assert client.get("/api/stats", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["rebind.evil.example", "rebind.evil.example:5000", "192.168.1.10:5000", "[::2]", "["]
)
def test_without_a_token_other_host_names_are_refused(
    app: Flask, client: FlaskClient, host: str
) -> None:
    # DNS rebinding: a page on rebind.evil.example, its name re-pointed at 127.0.0.1,
    # is same-origin with the requests it sends; only the Host header tells.
    headers = {"Host": host, "Origin": f"http://{host}"}
    for response in (
        client.get("/api/jobs", headers=headers),
        client.post("/api/jobs", json={"url": "https://e.com/v"}, headers=headers),
        client.get("/healthz", headers=headers),
    ):
        assert response.status_code == 403
        assert "is not this machine" in response.get_json()["error"]
    assert client.get("/", headers={**HTML, "Host": host}).status_code == 403
    assert JobRepository().count() == 0


def test_with_a_token_any_host_name_is_served(secured: Flask) -> None:
    response = secured.test_client().get(
        "/api/stats",
        headers={"Host": "collector.example.org", "Authorization": "Bearer " + TOKEN},
    )
    assert response.status_code == 200


# -- with a token: the API ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-wrong-token-0000"},
        {"Authorization": "Bearer " + TOKEN[:-1]},
        {"Authorization": "Basic " + TOKEN},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer"},
    ],
)
def test_api_without_the_token_is_401(secured: Flask, headers: dict[str, str]) -> None:
    client = secured.test_client()
    for number, (method, path) in enumerate(
        (
            ("get", "/api/jobs"),
            ("get", "/api/stats"),
            ("get", "/api/files"),
            ("get", "/api/jobs/x"),
            ("post", "/api/jobs"),
            ("post", "/api/jobs/x/cancel"),
            ("get", "/api/subscriptions"),
            ("post", "/api/subscriptions"),
            ("patch", "/api/subscriptions/x"),
            ("delete", "/api/subscriptions/x"),
        )
    ):
        # Each from its own address: a 6th wrong token from one address is a 429
        # (test_sign_in_throttle.py), not the 401 this test is about.
        response = getattr(client, method)(
            path,
            headers=headers,
            json={"url": "https://e.com"},
            environ_base={"REMOTE_ADDR": f"198.51.100.{number + 1}"},
        )
        assert response.status_code == 401, (method, path)
        assert response.get_json()["error"].startswith("authentication required")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert JobRepository().count() == 0


def test_api_with_the_bearer_token(secured: Flask) -> None:
    client = secured.test_client()
    auth = {"Authorization": "Bearer " + TOKEN}
    created = client.post("/api/jobs", json={"url": "https://e.com/v"}, headers=auth)
    assert created.status_code == 201
    listed = client.get("/api/jobs", headers={"Authorization": "bearer " + TOKEN})
    assert [j["id"] for j in listed.get_json()["items"]] == [created.get_json()["id"]]


def test_health_and_openapi_stay_open(secured: Flask) -> None:
    client = secured.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/api/openapi.json").status_code == 200


# -- methods: 405 with Allow, never a sign-in redirect; OPTIONS as JSON ---------------------------

PAGES_AND_HEALTH = ["/healthz", "/", "/jobs", "/jobs/x", "/files", "/subscriptions", "/maintenance"]
# The pages whose form posts to their own URL (tested with the forms).
FORM_PAGES = ("/jobs", "/subscriptions")


@pytest.mark.parametrize("token", [None, TOKEN], ids=["open", "token"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        (method, path)
        for method in ("PUT", "DELETE", "PATCH", "TRACE", "POST")
        for path in PAGES_AND_HEALTH
        if not (method == "POST" and path in FORM_PAGES)
    ],
)
def test_other_methods_are_405_with_allow(
    db_path: Path, token: str | None, method: str, path: str
) -> None:
    app = create_app({"TESTING": True, "DB_PATH": str(db_path), "AUTH_TOKEN": token})
    client = app.test_client()

    as_json = client.open(path, method=method)
    as_page = client.open(path, method=method, headers=HTML)

    assert as_json.status_code == 405
    assert as_json.get_json() == {"error": "The method is not allowed for the requested URL."}
    allowed = {"GET", "HEAD", "OPTIONS"} | ({"POST"} if path in FORM_PAGES else set())
    assert set(as_json.headers["Allow"].split(", ")) == allowed
    assert set(as_page.headers["Allow"].split(", ")) == allowed
    assert "Location" not in as_json.headers
    assert as_page.status_code == 405
    # /healthz is JSON for everyone; a page is a page for a browser.
    assert as_page.is_json == (path == "/healthz")
    assert "Location" not in as_page.headers
    with app.app_context():
        assert JobRepository().count() == 0


@pytest.mark.parametrize("token", [None, TOKEN], ids=["open", "token"])
@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/healthz", ["GET", "HEAD", "OPTIONS"]),
        ("/api/jobs", ["GET", "HEAD", "OPTIONS", "POST"]),
        ("/api/jobs/x/cancel", ["OPTIONS", "POST"]),
        ("/api/openapi.json", ["GET", "HEAD", "OPTIONS"]),
        ("/", ["GET", "HEAD", "OPTIONS"]),
        ("/jobs", ["GET", "HEAD", "OPTIONS", "POST"]),
        ("/maintenance/orphans", ["GET", "HEAD", "OPTIONS", "POST"]),
    ],
)
def test_options_lists_the_methods_as_json(
    db_path: Path, token: str | None, path: str, allowed: list[str]
) -> None:
    app = create_app({"TESTING": True, "DB_PATH": str(db_path), "AUTH_TOKEN": token})
    response = app.test_client().options(path, headers={"Origin": "https://elsewhere.example"})

    assert response.status_code == 200
    assert response.get_json() == {"allow": allowed}
    assert response.headers["Allow"] == ", ".join(allowed)
    # No CORS: nothing tells a browser that another origin may read or call this.
    assert not [h for h, _ in response.headers if h.lower().startswith("access-control-")]


def test_options_of_an_unknown_path_is_404(secured: Flask) -> None:
    response = secured.test_client().options("/api/nope")
    assert response.status_code == 404
    assert "error" in response.get_json()


# -- with a token: the pages ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/jobs", "/jobs/x", "/files", "/maintenance"])
def test_pages_redirect_to_sign_in(secured: Flask, path: str) -> None:
    response = secured.test_client().get(path, headers=HTML)
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/login"
    assert parse_qs(target.query) == {"next": [path]}


def test_sign_in_then_out(secured: Flask) -> None:
    client = secured.test_client()
    response = sign_in(client, next_path="/files?type=video")
    assert response.status_code == 303
    assert response.headers["Location"] == "/files?type=video"

    assert client.get("/", headers=HTML).status_code == 200
    assert client.get("/api/stats").status_code == 200  # the dashboard's script polls this
    assert "Sign out" in client.get("/", headers=HTML).get_data(as_text=True)

    out = client.post("/logout", data={"csrf_token": csrf(client)})
    assert out.status_code == 303
    assert client.get("/", headers=HTML).status_code == 302
    assert client.get("/api/stats").status_code == 401


def test_sign_in_with_a_wrong_token(secured: Flask) -> None:
    client = secured.test_client()
    response = sign_in(client, token="not-the-token-not-the-token")
    assert response.status_code == 401
    assert "That token is not right." in response.get_data(as_text=True)
    assert client.get("/", headers=HTML).status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "\\\\evil",
        "",
        # Tabs and line breaks are dropped from a URL (the Location header, browsers):
        # each of these would become //evil.example/.
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\r/evil.example/",
        "/\x00/evil.example/",
    ],
)
def test_sign_in_never_redirects_off_site(secured: Flask, target: str) -> None:
    response = sign_in(secured.test_client(), next_path=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_a_new_token_signs_everyone_out(db_path: Path) -> None:
    first = create_app({"TESTING": True, "DB_PATH": str(db_path), "AUTH_TOKEN": TOKEN})
    client = first.test_client()
    sign_in(client)
    assert client.get("/", headers=HTML).status_code == 200

    second = create_app(
        {"TESTING": True, "DB_PATH": str(db_path), "AUTH_TOKEN": TOKEN + "-rotated"}
    )
    name = first.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    assert second.config["SESSION_COOKIE_NAME"] == name  # the same database
    other = second.test_client()
    other.set_cookie(name, cookie.value)
    assert other.get("/", headers=HTML).status_code == 302


# -- CSRF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/jobs",
        "/jobs/x/cancel",
        "/jobs/x/retry",
        "/subscriptions",
        "/subscriptions/x/pause",
        "/subscriptions/x/resume",
        "/subscriptions/x/remove",
        "/maintenance/orphans",
        "/logout",
    ],
)
@pytest.mark.parametrize("token", [None, "", "forged"])
def test_forms_without_the_csrf_token_are_refused(
    app: Flask, client: FlaskClient, path: str, token: str | None
) -> None:
    csrf(client)  # the session has a token; the request does not carry it
    data = {"urls": "https://e.com/v", "url": "https://e.com/list", "confirm": "yes"}
    if token is not None:
        data["csrf_token"] = token
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert "did not come from this site" in response.get_json()["error"]
    assert JobRepository().count() == 0
    assert SubscriptionRepository().list_all() == []


def test_csrf_token_of_another_session_is_refused(app: Flask) -> None:
    theirs = csrf(app.test_client())
    mine = app.test_client()
    csrf(mine)
    response = mine.post("/jobs", data={"csrf_token": theirs, "urls": "https://e.com/v"})
    assert response.status_code == 400
    assert JobRepository().count() == 0


def test_sign_in_form_needs_the_csrf_token(secured: Flask) -> None:
    client = secured.test_client()
    client.get("/login")
    response = client.post("/login", data={"token": TOKEN})
    assert response.status_code == 400
    assert client.get("/", headers=HTML).status_code == 302


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:9999"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_cross_site_api_writes_are_refused(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.post("/api/jobs", json={"url": "https://e.com/v"}, headers=headers)
    assert response.status_code == 403
    assert response.get_json() == {"error": "cross-site requests to the API are refused"}
    assert JobRepository().count() == 0


def test_same_site_and_scripted_api_writes_pass(app: Flask, client: FlaskClient) -> None:
    same = client.post(
        "/api/jobs", json={"url": "https://e.com/1"}, headers={"Origin": "http://localhost"}
    )
    scripted = client.post("/api/jobs", json={"url": "https://e.com/2"})
    assert same.status_code == scripted.status_code == 201


def test_bearer_token_api_writes_pass_from_anywhere(secured: Flask) -> None:
    response = secured.test_client().post(
        "/api/jobs",
        json={"url": "https://e.com/v"},
        headers={"Authorization": "Bearer " + TOKEN, "Origin": "https://other.example"},
    )
    assert response.status_code == 201


# -- escaping -------------------------------------------------------------------------------------


def test_titles_and_paths_are_escaped_on_every_page(
    app: Flask, client: FlaskClient, db_path: Path
) -> None:
    job = JobRepository().create_job("https://e.com/v", "other", title=EVIL)
    FileRepository().create_file(job.id, f"/d/{EVIL}.mp4", "video", 1)
    failed = JobRepository().create_job("https://e.com/w", "other", title=EVIL)
    JobRepository().fail_job(failed.id, EVIL)
    orphan = File(job_id="gone", file_path=f"/d/{EVIL}.json", file_type="metadata", file_size=1)
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(FileRepository.insert_sql(), orphan.to_row())
    conn.close()
    followed = SubscriptionRepository().create("https://e.com/feed")
    assert SubscriptionRepository().claim_due("w1", 60) is not None
    SubscriptionRepository().finish_check(followed.id, "w1", queued=1, title=EVIL)
    broken = SubscriptionRepository().create("https://e.com/other-feed")
    assert SubscriptionRepository().claim_due("w1", 60) is not None
    SubscriptionRepository().finish_check(broken.id, "w1", error=EVIL)

    pages = [
        "/",
        "/subscriptions",
        "/jobs",
        f"/jobs/{job.id}",
        f"/jobs/{failed.id}",
        "/files",
        "/maintenance",
        "/maintenance/orphans",
    ]
    for path in pages:
        html = client.get(path, headers=HTML).get_data(as_text=True)
        assert EVIL not in html, path
        assert ESCAPED in html, path
    error = client.get("/jobs/" + EVIL, headers=HTML)
    assert error.status_code == 404
    assert EVIL not in error.get_data(as_text=True)


def test_api_returns_titles_as_data(app: Flask, client: FlaskClient) -> None:
    JobRepository().create_job("https://e.com/v", "other", title=EVIL)
    response = client.get("/api/jobs")
    assert response.mimetype == "application/json"
    assert response.get_json()["items"][0]["title"] == EVIL


def test_autoescape_is_on_for_every_template(app: Flask) -> None:
    assert app.jinja_env.autoescape is True
    assert app.jinja_env.from_string("{{ x }}").render(x=EVIL) == ESCAPED


# -- headers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/jobs", "/files", "/maintenance", "/api/jobs", "/nope"])
def test_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers=HTML)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert re.fullmatch(r"app;dur=\d+\.\d\d", response.headers["Server-Timing"])


def test_pages_have_no_inline_script_or_style(app: Flask, client: FlaskClient) -> None:
    job = JobRepository().create_job("https://e.com/v", "other")
    SubscriptionRepository().create("https://e.com/feed")
    for path in (
        "/",
        "/jobs",
        f"/jobs/{job.id}",
        "/files",
        "/subscriptions",
        "/maintenance",
        "/maintenance/orphans",
    ):
        html = client.get(path, headers=HTML).get_data(as_text=True)
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts == ['<script src="/static/app.js" defer>'], path
        assert "<style" not in html, path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path


def test_session_cookie_is_http_only_and_same_site(client: FlaskClient) -> None:
    response = client.get("/", headers=HTML)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


# -- the secret key -------------------------------------------------------------------------------


def test_secret_key_is_made_once_and_kept(db_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("COLLECTOR_SECRET_KEY", raising=False)
    first = create_app({"DB_PATH": str(db_path)})
    second = create_app({"DB_PATH": str(db_path)})
    assert len(first.secret_key) >= 40
    assert first.secret_key == second.secret_key
    with first.app_context():
        assert SettingsRepository().get(SECRET_KEY_SETTING) == first.secret_key


def test_sessions_survive_a_restart(db_path: Path) -> None:
    first = create_app({"TESTING": True, "DB_PATH": str(db_path), "AUTH_TOKEN": TOKEN})
    client = first.test_client()
    sign_in(client)
    name = first.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None

    restarted = create_app({"TESTING": True, "DB_PATH": str(db_path), "AUTH_TOKEN": TOKEN})
    assert restarted.config["SESSION_COOKIE_NAME"] == name
    other = restarted.test_client()
    other.set_cookie(name, cookie.value)
    assert other.get("/", headers=HTML).status_code == 200


def test_secret_key_from_the_environment_wins(db_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLLECTOR_SECRET_KEY", "from-the-environment")
    app = create_app({"DB_PATH": str(db_path)})
    assert app.secret_key == "from-the-environment"
    with app.app_context():
        assert SettingsRepository().get(SECRET_KEY_SETTING) is None


def test_different_databases_have_different_keys(tmp_path: Path) -> None:
    one = create_app({"DB_PATH": str(tmp_path / "one.db")})
    two = create_app({"DB_PATH": str(tmp_path / "two.db")})
    assert one.secret_key != two.secret_key


def test_two_instances_on_one_host_keep_their_own_session_cookies(tmp_path: Path) -> None:
    # Browsers send a host's cookies to every port: two instances (two databases)
    # must not share a cookie name, or signing in to one signs out of the other.
    first = create_app({"TESTING": True, "DB_PATH": str(tmp_path / "a.db"), "AUTH_TOKEN": TOKEN})
    second = create_app({"TESTING": True, "DB_PATH": str(tmp_path / "b.db"), "AUTH_TOKEN": TOKEN})
    names = {app.config["SESSION_COOKIE_NAME"] for app in (first, second)}
    assert len(names) == 2
    assert all(re.fullmatch(r"collector_session_[0-9a-f]{12}", name) for name in names)

    client = first.test_client()
    sign_in(client)
    assert client.get_cookie(first.config["SESSION_COOKIE_NAME"]) is not None
    assert client.get_cookie("session") is None
