"""GET /api/files/<id>/content: a library file's bytes, by id only, from inside the
download folder, with ranges, its type and its name; the job and files pages link it."""

from __future__ import annotations

import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.http import parse_options_header

from collector.app import create_app
from collector.config.database import DatabaseConfig
from collector.models.file import File
from collector.repositories import FileRepository, JobRepository, SettingsRepository
from collector.web import content
from collector.web.security import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.both_engines

TOKEN = "content-token-0123456789abcdef"
HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
DATA = bytes(range(256)) * 40  # 10,240 bytes, each position telling its own value


@pytest.fixture
def downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    monkeypatch.setenv("COLLECTOR_DOWNLOAD_DIR", str(folder))
    monkeypatch.setenv("COLLECTOR_HOST_NAME", "this-host")
    return folder


@pytest.fixture
def app(database: str, db: DatabaseConfig, downloads: Path) -> Iterator[Flask]:
    application = create_app({"TESTING": True, "DB_PATH": database})
    with application.app_context():
        yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def job_id(db: DatabaseConfig) -> str:
    job = JobRepository(db).create_job("https://example.com/v", "other", title="A clip")
    JobRepository(db).complete_job(job.id)
    return job.id


def record(
    db: DatabaseConfig,
    job_id: str,
    path: Path | str,
    data: bytes | None = DATA,
    file_type: str = "video",
    host: str | None = "this-host",
) -> File:
    """A file row for ``path`` (written with ``data`` first unless None)."""
    if data is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return FileRepository(db).create_file(job_id, str(path), file_type, len(data or b""), host)


def url(file: File, **query: str) -> str:
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/files/{file.id}/content" + (f"?{suffix}" if suffix else "")


@pytest.fixture
def clip(db: DatabaseConfig, job_id: str, downloads: Path) -> File:
    return record(db, job_id, downloads / job_id / "clip.mp4")


# -- whole files, ranges, HEAD -----------------------------------------------------------------


def test_a_whole_file_is_sent_with_its_type_and_validators(client: FlaskClient, clip: File) -> None:
    response = client.get(url(clip))

    assert response.status_code == 200
    assert response.data == DATA
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"]
    assert response.headers["Last-Modified"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == content.FILE_POLICY
    assert "private" in response.headers["Cache-Control"]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-1123", 100, 1123),
        ("bytes=10000-", 10000, len(DATA) - 1),
        ("bytes=10000-999999", 10000, len(DATA) - 1),  # past the end: cut to the file
        ("bytes=-300", len(DATA) - 300, len(DATA) - 1),  # a suffix: the last 300 bytes
        ("bytes=-999999", 0, len(DATA) - 1),  # a suffix longer than the file: all of it
    ],
)
def test_one_range_is_a_206_with_exactly_its_bytes(
    client: FlaskClient, clip: File, header: str, start: int, end: int
) -> None:
    response = client.get(url(clip), headers={"Range": header})

    assert response.status_code == 206
    assert response.data == DATA[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.headers["Content-Length"] == str(end + 1 - start)
    assert response.headers["Content-Type"] == "video/mp4"


@pytest.mark.parametrize(
    "header", ["bytes=10240-", "bytes=99999-100000", "bytes=0-1,5-6", "bytes=abc", "pages=1-2"]
)
def test_an_unsatisfiable_range_is_a_416_naming_the_size(
    client: FlaskClient, clip: File, header: str
) -> None:
    response = client.get(url(clip), headers={"Range": header})

    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"
    assert response.mimetype == "application/json"
    assert "range not satisfiable" in response.get_json()["error"]


def test_if_range_with_the_current_etag_gets_the_range_and_a_stale_one_the_file(
    client: FlaskClient, clip: File
) -> None:
    etag = client.get(url(clip)).headers["ETag"]

    current = client.get(url(clip), headers={"Range": "bytes=5-9", "If-Range": etag})
    stale = client.get(url(clip), headers={"Range": "bytes=5-9", "If-Range": '"other"'})

    assert (current.status_code, current.data) == (206, DATA[5:10])
    assert (stale.status_code, stale.data) == (200, DATA)


def test_if_none_match_with_the_current_etag_is_a_304(client: FlaskClient, clip: File) -> None:
    etag = client.get(url(clip)).headers["ETag"]

    response = client.get(url(clip), headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.data == b""


def test_head_sends_the_headers_and_no_body(client: FlaskClient, clip: File) -> None:
    whole = client.head(url(clip))
    part = client.head(url(clip), headers={"Range": "bytes=0-99"})

    assert whole.status_code == 200
    assert whole.data == b""
    assert whole.headers["Content-Length"] == str(len(DATA))
    assert whole.headers["Content-Type"] == "video/mp4"
    assert part.status_code == 206
    assert part.data == b""
    assert part.headers["Content-Range"] == f"bytes 0-99/{len(DATA)}"


def test_an_empty_file_is_sent_whole_even_when_a_range_is_asked(
    client: FlaskClient, db: DatabaseConfig, job_id: str, downloads: Path
) -> None:
    empty = record(db, job_id, downloads / job_id / "empty.mp4", b"")

    response = client.get(url(empty), headers={"Range": "bytes=0-10"})

    assert (response.status_code, response.data) == (200, b"")


# -- types and names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "file_type", "mimetype"),
    [
        ("a.mp4", "video", "video/mp4"),
        ("a.webm", "video", "video/webm"),
        ("a.mkv", "video", "video/x-matroska"),
        ("a.m4a", "audio", "audio/mp4"),
        ("a.mp3", "audio", "audio/mpeg"),
        ("a.opus", "audio", "audio/ogg"),
        ("a.jpg", "image", "image/jpeg"),
        ("a.webp", "image", "image/webp"),
        ("a.info.json", "metadata", "application/json"),
        ("a.en.vtt", "metadata", "text/vtt; charset=utf-8"),
        ("a.description", "metadata", "text/plain; charset=utf-8"),
        ("a.unknownext", "metadata", "application/octet-stream"),
    ],
)
def test_content_type_follows_the_extension(
    client: FlaskClient,
    db: DatabaseConfig,
    job_id: str,
    downloads: Path,
    name: str,
    file_type: str,
    mimetype: str,
) -> None:
    file = record(db, job_id, downloads / job_id / name, b"0123456789", file_type)

    response = client.get(url(file))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == mimetype


def test_disposition_is_inline_to_play_and_attachment_to_download(
    client: FlaskClient, clip: File
) -> None:
    played = client.get(url(clip))
    saved = client.get(url(clip, download="1"))
    explicit = client.get(url(clip, download="0"))

    for response, kind in ((played, "inline"), (saved, "attachment"), (explicit, "inline")):
        value = response.headers["Content-Disposition"]
        assert parse_options_header(value) == (kind, {"filename": "clip.mp4"}), value
    assert saved.data == DATA


def test_a_name_that_is_not_ascii_is_given_as_rfc_5987_filename_star(
    client: FlaskClient, db: DatabaseConfig, job_id: str, downloads: Path
) -> None:
    name = "Café été — 東京.mp4"
    file = record(db, job_id, downloads / job_id / name)

    disposition = client.get(url(file, download="1")).headers["Content-Disposition"]

    assert disposition.startswith("attachment; filename=")
    assert f"filename*=UTF-8''{quote(name)}" in disposition
    kind, options = parse_options_header(disposition)
    assert kind == "attachment"
    assert options["filename"] == name  # filename* read back, as a browser reads it


@pytest.mark.parametrize("name", ["page.html", "drawing.svg", "feed.xml"])
def test_a_type_that_could_run_script_is_always_an_attachment(
    client: FlaskClient, db: DatabaseConfig, job_id: str, downloads: Path, name: str
) -> None:
    file = record(db, job_id, downloads / job_id / name, b"<script>alert(1)</script>", "metadata")

    response = client.get(url(file))

    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("value", ["", "2", "yes", "true"])
def test_a_download_value_other_than_0_or_1_is_a_400(
    client: FlaskClient, clip: File, value: str
) -> None:
    response = client.get(f"/api/files/{clip.id}/content?download={value}")

    assert response.status_code == 400
    assert "download must be 1 or 0" in response.get_json()["error"]


# -- what is not served ---------------------------------------------------------------------------


def test_an_unknown_id_is_a_404(client: FlaskClient, clip: File) -> None:
    for file_id in ("no-such-file", "00000000-0000-0000-0000-000000000000", "x" * 500, "a%00b"):
        response = client.get(f"/api/files/{file_id}/content")
        assert response.status_code == 404
        assert response.mimetype == "application/json"
        assert "no file with id" in response.get_json()["error"]


def test_a_job_id_with_a_nul_is_a_404_on_either_engine(client: FlaskClient) -> None:
    response = client.get("/api/jobs/a%00b")

    assert response.status_code == 404
    assert response.get_json() == {"error": "no job with id 'a\\x00b'"}


def test_a_path_in_the_url_is_never_a_file_id(
    client: FlaskClient, clip: File, downloads: Path
) -> None:
    for attempt in (
        "/api/files/..%2F..%2Fetc%2Fpasswd/content",
        f"/api/files/{quote(str(downloads / clip.job_id / 'clip.mp4'), safe='')}/content",
        "/api/files/%2Fetc%2Fpasswd/content",
    ):
        response = client.get(attempt)
        assert response.status_code == 404, attempt
        assert response.data != DATA


@pytest.mark.parametrize("exists", [True, False], ids=["existing", "absent"])
def test_a_row_outside_the_download_folder_is_refused_before_the_file_is_opened(
    client: FlaskClient,
    db: DatabaseConfig,
    job_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    exists: bool,
) -> None:
    secret = tmp_path / "elsewhere" / "secret.mp4"
    file = record(db, job_id, secret, b"secret bytes" if exists else None)
    resolved: list[Path] = []
    real_resolve = Path.resolve

    def watched(self: Path, strict: bool = False) -> Path:
        if strict:
            resolved.append(self)
        return real_resolve(self, strict=strict)

    monkeypatch.setattr(Path, "resolve", watched)

    response = client.get(url(file))

    assert response.status_code == 403  # absent or not: the check came first
    assert "outside the download folder" in response.get_json()["error"]
    assert b"secret bytes" not in response.data
    assert resolved == []  # the file system was not asked about it


def test_dot_dot_in_a_recorded_path_does_not_leave_the_folder(
    client: FlaskClient, db: DatabaseConfig, job_id: str, downloads: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_bytes(b"secret bytes")
    file = record(db, job_id, f"{downloads}/{job_id}/../../secret.txt", None, "metadata")

    response = client.get(url(file))

    assert response.status_code == 403
    assert b"secret bytes" not in response.data


def test_a_symlink_pointing_out_of_the_folder_is_refused(
    client: FlaskClient, db: DatabaseConfig, job_id: str, downloads: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"secret bytes")
    link = downloads / job_id / "clip.mp4"
    link.parent.mkdir()
    link.symlink_to(outside / "secret.mp4")
    folder_link = downloads / "linked-folder"
    folder_link.symlink_to(outside, target_is_directory=True)
    by_file = record(db, job_id, link, None)
    by_folder = record(db, job_id, folder_link / "secret.mp4", None)

    for file in (by_file, by_folder):
        response = client.get(url(file))
        assert response.status_code == 403
        assert b"secret bytes" not in response.data


def test_a_symlink_inside_the_folder_and_a_linked_download_folder_are_served(
    client: FlaskClient,
    db: DatabaseConfig,
    job_id: str,
    downloads: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = downloads / job_id / "real.mp4"
    record(db, job_id, target)
    link = downloads / job_id / "alias.mp4"
    link.symlink_to(target)
    aliased = record(db, job_id, link, None)
    # The download folder set as a link (a disk mounted elsewhere): its files recorded as
    # the worker records them (resolved: worker/files.py) are inside it.
    through = tmp_path / "via-link"
    through.symlink_to(downloads, target_is_directory=True)
    monkeypatch.setenv("COLLECTOR_DOWNLOAD_DIR", str(through))
    resolved = record(db, job_id, (through / job_id / "real.mp4").resolve(), None)

    for file in (aliased, resolved):
        response = client.get(url(file))
        assert (response.status_code, response.data) == (200, DATA)
    assert "alias.mp4" in client.get(url(aliased)).headers["Content-Disposition"]


def test_the_stored_download_folder_setting_wins_over_the_environment(
    client: FlaskClient, db: DatabaseConfig, job_id: str, tmp_path: Path
) -> None:
    stored = tmp_path / "stored-folder"
    file = record(db, job_id, stored / "clip.mp4")
    assert client.get(url(file)).status_code == 403  # outside COLLECTOR_DOWNLOAD_DIR

    SettingsRepository(db).set("download_dir", str(stored))

    assert client.get(url(file)).data == DATA


def test_a_file_no_longer_on_disk_is_a_404_saying_so(
    client: FlaskClient, db: DatabaseConfig, job_id: str, downloads: Path
) -> None:
    (downloads / job_id).mkdir()
    gone = record(db, job_id, downloads / job_id / "gone.mp4", None)
    folder = record(db, job_id, downloads / job_id, None)

    response = client.get(url(gone))

    assert response.status_code == 404
    assert response.get_json() == {"error": "file 'gone.mp4' is no longer on disk"}
    assert client.get(url(folder)).status_code == 404  # a directory is not a file


def test_a_file_of_another_host_that_is_not_here_names_that_host(
    client: FlaskClient, db: DatabaseConfig, job_id: str, downloads: Path
) -> None:
    there = record(db, job_id, downloads / job_id / "there.mp4", None, host="other-host")
    shared = record(db, job_id, downloads / job_id / "shared.mp4", host="other-host")

    response = client.get(url(there))

    assert response.status_code == 404
    assert response.get_json()["error"] == (
        "file 'there.mp4' is not on this host ('this-host'): it was downloaded on 'other-host'"
    )
    assert client.get(url(shared)).data == DATA  # a shared disk: here after all


# -- sign-in ---------------------------------------------------------------------------------------


@pytest.fixture
def secured(database: str, db: DatabaseConfig, downloads: Path) -> Iterator[Flask]:
    application = create_app({"TESTING": True, "DB_PATH": database, "AUTH_TOKEN": TOKEN})
    with application.app_context():
        yield application


def test_with_a_token_a_file_needs_it_as_the_api_does(secured: Flask, clip: File) -> None:
    client = secured.test_client()

    anonymous = client.get(url(clip))
    wrong = client.get(url(clip), headers={"Authorization": "Bearer not-the-token-at-all"})
    api = client.get("/api/jobs")
    bearer = client.get(url(clip), headers={"Authorization": f"Bearer {TOKEN}"})

    for refused in (anonymous, wrong):
        assert refused.status_code == api.status_code == 401
        assert refused.headers["WWW-Authenticate"] == api.headers["WWW-Authenticate"]
        assert refused.get_json() == api.get_json()
        assert DATA not in refused.data
    assert (bearer.status_code, bearer.data) == (200, DATA)


def test_a_signed_in_browser_plays_with_its_session(secured: Flask, clip: File) -> None:
    client = secured.test_client()
    match = CSRF.search(client.get("/login", headers=HTML).get_data(as_text=True))
    assert match
    signed = client.post("/login", data={"csrf_token": match.group(1), "token": TOKEN})
    assert signed.status_code == 303

    response = client.get(url(clip), headers={"Range": "bytes=0-9"})

    assert (response.status_code, response.data) == (206, DATA[:10])


def test_without_a_token_a_host_that_is_not_this_machine_is_refused(
    client: FlaskClient, clip: File
) -> None:
    response = client.get(url(clip), headers={"Host": "evil.example"})

    assert response.status_code == 403
    assert DATA not in response.data


# -- the pages -------------------------------------------------------------------------------------


def test_the_job_page_plays_video_and_audio_and_links_every_file(
    client: FlaskClient, db: DatabaseConfig, job_id: str, downloads: Path, clip: File
) -> None:
    song = record(db, job_id, downloads / job_id / "song.m4a", file_type="audio")
    thumb = record(db, job_id, downloads / job_id / "thumb.jpg", file_type="image")

    response = client.get(f"/jobs/{job_id}", headers=HTML)
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "media-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert re.search(
        rf'<video controls preload="metadata" src="/api/files/{clip.id}/content"', page
    )
    assert re.search(
        rf'<audio controls preload="metadata" src="/api/files/{song.id}/content"', page
    )
    # An image gets no player: it is shown as the job's thumbnail.
    assert f'<video controls preload="metadata" src="/api/files/{thumb.id}/content"' not in page
    assert f'<img class="thumbnail" src="/api/files/{thumb.id}/content"' in page
    for file in (clip, song, thumb):
        assert f'href="/api/files/{file.id}/content?download=1"' in page


def test_a_job_without_media_has_no_player(client: FlaskClient, job_id: str) -> None:
    page = client.get(f"/jobs/{job_id}", headers=HTML).get_data(as_text=True)

    assert "<video" not in page and "<audio" not in page
    assert 'id="players"' not in page


def test_the_files_page_links_each_file_for_download(client: FlaskClient, clip: File) -> None:
    page = client.get("/files", headers=HTML).get_data(as_text=True)

    assert f'href="/api/files/{clip.id}/content?download=1"' in page


# -- under waitress, as `collector serve` runs it --------------------------------------------------


@pytest.fixture
def waitress_url(app: Flask) -> Iterator[str]:
    """The app under waitress with two request threads, on a free loopback port."""
    import waitress

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        thread.join(5)


def raw_get(base: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_ranges_under_waitress_are_exactly_the_file_s_bytes(waitress_url: str, clip: File) -> None:
    path = f"/api/files/{clip.id}/content"
    for header, start, end in (
        ("bytes=0-0", 0, 0),
        ("bytes=1000-5095", 1000, 5095),
        ("bytes=9000-", 9000, len(DATA) - 1),
        ("bytes=-100", len(DATA) - 100, len(DATA) - 1),
        ("bytes=-999999", 0, len(DATA) - 1),
    ):
        status, headers, body = raw_get(waitress_url, path, {"Range": header})
        assert status == 206, header
        assert headers["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
        assert body == DATA[start : end + 1], header
    assert raw_get(waitress_url, path, {})[2] == DATA
    status, headers, _ = raw_get(waitress_url, path, {"Range": "bytes=20000-"})
    assert (status, headers["Content-Range"]) == (416, f"bytes */{len(DATA)}")


def test_players_that_stop_reading_hold_no_request_thread(
    waitress_url: str, db: DatabaseConfig, job_id: str, downloads: Path
) -> None:
    """A paused player stops reading its range; six of them, against two request threads,
    leave the server answering (werkzeug's range iterator held a thread each)."""
    big = downloads / job_id / "long.mp4"
    big.parent.mkdir(parents=True, exist_ok=True)
    with big.open("wb") as out:
        out.truncate(64 * 1024 * 1024)  # past waitress's 16 MB output buffer and the socket's
    file = FileRepository(db).create_file(job_id, str(big), "video", big.stat().st_size)
    port = int(waitress_url.rsplit(":", 1)[1])
    stalled = []
    try:
        for first in range(6):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(
                f"GET /api/files/{file.id}/content HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Range: bytes={first * 1000}-\r\n\r\n".encode()
            )
            assert sock.recv(65536).startswith(b"HTTP/1.1 206 ")
            stalled.append(sock)  # and read no more

        status, _, body = raw_get(waitress_url, "/healthz", {})

        assert (status, body) == (200, b'{"status":"ok"}\n')
    finally:
        for sock in stalled:
            sock.close()


def test_a_file_that_cannot_be_opened_is_a_404_not_a_500(
    client: FlaskClient, clip: File, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")  # as open() says it, even to root

    monkeypatch.setattr(content, "send_file", refused)

    response = client.get(url(clip))

    assert response.status_code == 404
    assert response.get_json() == {"error": "file 'clip.mp4' cannot be read on this host"}
