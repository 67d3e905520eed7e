"""The worker's small parts: URLs and platforms, messages, throttle, files, settings."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from yt_dlp.networking.common import Response
from yt_dlp.networking.exceptions import HTTPError, TransportError

from collector.config.runtime import (
    MAX_BACKOFF_SECONDS,
    RuntimeSettings,
    check_setting,
)
from collector.models.urls import InvalidURLError, detect_platform, validate_url
from collector.worker.connections import Connections, socket_of
from collector.worker.control import CANCEL, LOST, SHUTDOWN, JobControl, Throttle
from collector.worker.engine import is_transient
from collector.worker.errors import MAX_MESSAGE, DownloadStopped, clean_message
from collector.worker.files import collect_files, file_type, remove_folder
from collector.worker.loop import MAX_CONCURRENCY, Worker


@pytest.mark.parametrize(
    ("url", "platform"),
    [
        ("https://www.youtube.com/watch?v=abc", "youtube"),
        ("https://youtube.com/shorts/abc", "youtube"),
        ("https://m.youtube.com/watch?v=abc", "youtube"),
        ("https://youtu.be/abc", "youtube"),
        ("https://www.youtube-nocookie.com/embed/abc", "youtube"),
        ("HTTPS://WWW.YOUTUBE.COM:443/watch?v=abc", "youtube"),
        ("https://www.instagram.com/p/abc/", "instagram"),
        ("https://instagr.am/p/abc/", "instagram"),
        ("https://www.tiktok.com/@user/video/123", "tiktok"),
        ("https://vm.tiktok.com/abc/", "tiktok"),
        ("https://vimeo.com/123", "other"),
        ("https://notyoutube.com/watch?v=abc", "other"),
        ("https://youtube.com.example.org/watch", "other"),
        ("https://example.com/youtube.com/watch", "other"),
        ("http://127.0.0.1:8000/clip.mp4", "other"),
    ],
)
def test_platform_from_the_host(url: str, platform: str) -> None:
    assert detect_platform(url) == platform


def test_validate_url_returns_the_stripped_url() -> None:
    assert validate_url("  https://example.com/a?b=1 \t") == "https://example.com/a?b=1"


@pytest.mark.parametrize("value", [None, 42, b"https://example.com"])
def test_validate_url_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidURLError, match="a URL must be a non-empty string"):
        validate_url(value)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("ERROR: [generic] clip: Unable to download webpage: HTTP Error 404: Not Found "
         "(caused by <HTTPError 404: Not Found>)", "HTTP Error 404: Not Found"),
        ("\x1b[0;31mERROR:\x1b[0m [youtube] abc123: Video unavailable", "Video unavailable"),
        ("ERROR: [Errno 111] Connection refused", "Connection refused"),
        ("ERROR: \r[download] Got error: Downloaded 10 bytes, expected 99 bytes",
         "Downloaded 10 bytes, expected 99 bytes"),
        ("ERROR: Unsupported URL: https://example.com/\nTraceback (most recent call last):\n"
         '  File "x.py", line 1', "Unsupported URL: https://example.com/"),
        ("ERROR: something; please report this issue on https://github.com/yt-dlp", "something"),
        ("", "download failed"),
        ("\n\n", "download failed"),
    ],
)  # fmt: skip
def test_clean_message_keeps_one_readable_line(raw: str, clean: str) -> None:
    assert clean_message(raw) == clean


def test_clean_message_is_bounded() -> None:
    message = clean_message("ERROR: " + "x" * 1000)
    assert len(message) == MAX_MESSAGE and message.endswith("…")


def _http_error(status: int) -> HTTPError:
    return HTTPError(Response(fp=None, url="http://x/", headers={}, status=status))


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_http_error(503), True),
        (_http_error(429), True),
        (_http_error(404), False),
        (_http_error(403), False),
        (TransportError("connection reset"), True),
        (TimeoutError("timed out"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (ValueError("unsupported"), False),
        (None, False),
    ],
)
def test_is_transient(error: BaseException | None, transient: bool) -> None:
    assert is_transient(error) is transient


def test_is_transient_follows_causes() -> None:
    wrapper = RuntimeError("extractor failed")
    wrapper.__cause__ = _http_error(502)
    assert is_transient(wrapper) is True


def test_throttle_allows_one_call_per_interval() -> None:
    now = [100.0]
    throttle = Throttle(1.0, clock=lambda: now[0])
    allowed = []
    for _ in range(50):  # 50 calls over about 3 s, 16 a second (exact in binary)
        allowed.append(throttle.ready())
        now[0] += 0.0625
    assert [i for i, ok in enumerate(allowed) if ok] == [0, 16, 32, 48]


def test_job_control_first_reason_wins() -> None:
    control = JobControl()
    control.check()  # nothing to stop yet
    control.observe("running")
    control.check()
    control.observe("cancelling")
    control.stop(SHUTDOWN)
    with pytest.raises(DownloadStopped) as stopped:
        control.check()
    assert stopped.value.reason == CANCEL


def test_job_control_notices_a_lost_lease() -> None:
    control = JobControl()
    control.observe(None)
    assert control.reason == LOST


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("clip [id].mp4", "video"),
        ("clip [id].WEBM", "video"),
        ("song.m4a", "audio"),
        ("song.opus", "audio"),
        ("cover.jpg", "image"),
        ("cover.webp", "image"),
        ("clip [id].info.json", "metadata"),
        ("clip.en.vtt", "metadata"),
        ("clip.description", "metadata"),
        ("mystery.bin", "metadata"),
    ],
)
def test_file_type_by_extension(name: str, kind: str) -> None:
    assert file_type(Path(name)) == kind


def test_unknown_extension_is_video_when_yt_dlp_called_it_media(tmp_path: Path) -> None:
    media = tmp_path / "clip.unknown_video"
    media.write_bytes(b"x")
    assert file_type(media, {str(media.resolve())}) == "video"


def test_collect_files_skips_partial_data(tmp_path: Path) -> None:
    (tmp_path / ".partial").mkdir()
    (tmp_path / ".partial" / "clip.mp4.part").write_bytes(b"12")
    (tmp_path / "other.mp4.part").write_bytes(b"12")
    (tmp_path / "clip.mp4").write_bytes(b"1234")
    (tmp_path / "clip.info.json").write_bytes(b"{}")

    found = collect_files(tmp_path)

    assert [(f.path.name, f.file_type, f.size) for f in found] == [
        ("clip.info.json", "metadata", 2),
        ("clip.mp4", "video", 4),
    ]


def test_remove_folder_only_inside_the_download_folder(tmp_path: Path) -> None:
    root = tmp_path / "downloads"
    job = root / "job-1"
    job.mkdir(parents=True)
    (job / "a.part").write_bytes(b"x")
    outside = tmp_path / "keep"
    outside.mkdir()

    assert remove_folder(outside, root) is False
    assert remove_folder(root, root) is False
    assert remove_folder(root / ".." / "keep", root) is False
    assert outside.exists() and root.exists()
    assert remove_folder(job, root) is True
    assert not job.exists()


def test_retry_delay_doubles_and_is_capped() -> None:
    settings = RuntimeSettings(Path("/d"), max_retries=3, retry_backoff_seconds=30)
    assert [settings.retry_delay(n) for n in range(4)] == [30, 60, 120, 240]
    assert settings.retry_delay(1000) == MAX_BACKOFF_SECONDS


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("max_retries", " 5 ", "5"),
        ("max_retries", "0", "0"),
        ("retry_backoff_seconds", "2.5", "2.5"),
        ("retry_backoff_seconds", "10", "10.0"),
        ("min_free_space", "0", "0"),
        ("min_free_space", " 500MB ", "500000000"),
        ("min_free_space", "500 mb", "500000000"),
        ("min_free_space", "2GiB", "2147483648"),
        ("min_free_space", "1.5G", "1500000000"),
        ("min_free_space", "64KiB", "65536"),
        ("min_free_space", "12345", "12345"),
    ],
)
def test_check_setting_normalises(key: str, value: str, stored: str) -> None:
    assert check_setting(key, value) == stored


def test_check_setting_download_dir_is_absolute(tmp_path: Path) -> None:
    assert check_setting("download_dir", str(tmp_path / "a" / ".." / "b")) == str(tmp_path / "b")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("colour", "red", "unknown setting 'colour'; known: download_dir, max_retries, "
         "retry_backoff_seconds"),
        ("max_retries", "many", "max_retries: expected a whole number, not 'many'"),
        ("max_retries", "-1", "max_retries: expected a number from 0 to 100, not -1"),
        ("retry_backoff_seconds", "soon", "expected a number of seconds, not 'soon'"),
        ("retry_backoff_seconds", "nan", "expected seconds from 0 to 86400"),
        ("retry_backoff_seconds", "-1", "expected seconds from 0 to 86400"),
        ("download_dir", "  ", "download_dir: expected a directory path"),
        ("min_free_space", "lots", "min_free_space: expected a size such as 500MB, 2GiB or 0"),
        ("min_free_space", "-1", "expected a size such as 500MB, 2GiB or 0, not '-1'"),
        ("min_free_space", "5 XB", "expected a size such as 500MB, 2GiB or 0, not '5 XB'"),
        ("min_free_space", "", "expected a size such as 500MB, 2GiB or 0, not ''"),
    ],
)  # fmt: skip
def test_check_setting_refuses_bad_values(key: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_setting(key, value)


def test_download_dir_must_not_be_a_file(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        check_setting("download_dir", str(target))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, f"concurrency must be from 1 to {MAX_CONCURRENCY}, not 0"),
        ({"concurrency": True}, "concurrency must be from 1"),
        ({"lease_seconds": 0.1}, "lease_seconds must be at least 0.5"),
        ({"lease_seconds": float("nan")}, "lease_seconds must be at least 0.5"),
        ({"lease_seconds": 86_400.5}, "lease_seconds must be at most 86400"),
        ({"lease_seconds": float("inf")}, "lease_seconds must be at most 86400"),
    ],
)
def test_worker_refuses_bad_options(options: dict, message: str, tmp_path: Path) -> None:
    from collector.config.database import DatabaseConfig

    with pytest.raises(ValueError, match=message):
        Worker(DatabaseConfig(tmp_path / "unused.db"), **options)


def test_stop_callbacks_run_once_and_late_ones_at_once() -> None:
    control, calls = JobControl(), []
    control.on_stop(lambda: calls.append("early"))
    control.stop(CANCEL)
    control.stop(SHUTDOWN)  # a second reason changes nothing and calls nothing
    control.on_stop(lambda: calls.append("late"))
    assert calls == ["early", "late"] and control.reason == CANCEL


def test_a_failing_stop_callback_does_not_stop_the_others() -> None:
    control, calls = JobControl(), []
    control.on_stop(lambda: 1 / 0)
    control.on_stop(lambda: calls.append("second"))
    control.stop(CANCEL)
    assert calls == ["second"]


class _FakeResponse:
    """Shaped like yt-dlp's urllib response: fp (HTTPResponse).fp.raw._sock."""

    def __init__(self, sock: socket.socket) -> None:
        self.closed = False
        self.fp = SimpleNamespace(fp=sock.makefile("rb"))


def test_cut_wakes_a_read_blocked_in_another_thread() -> None:
    reader, writer = socket.socketpair()
    with reader, writer:
        response = _FakeResponse(reader)
        assert socket_of(response) is reader
        connections = Connections()
        connections.add(response)
        got: list[bytes] = []
        thread = threading.Thread(target=lambda: got.append(response.fp.fp.read(10)))
        thread.start()

        connections.cut()

        thread.join(5)
        assert not thread.is_alive() and got == [b""]  # EOF, not a hang
        response.fp.fp.close()


def test_socket_of_sees_through_an_urllib3_style_response() -> None:
    with socket.socket() as sock:
        buffered = SimpleNamespace(raw=SimpleNamespace(_sock=sock))
        response = SimpleNamespace(fp=SimpleNamespace(_fp=SimpleNamespace(fp=buffered)))
        assert socket_of(response) is sock


@pytest.mark.parametrize("response", [None, object(), SimpleNamespace(fp=SimpleNamespace())])
def test_socket_of_unknown_responses_is_none(response: object) -> None:
    assert socket_of(response) is None
    connections = Connections()
    connections.add(response)
    connections.cut()  # skipped, not an error


def test_downloads_take_yt_dlp_urllib_handler_even_beside_requests(tmp_path: Path) -> None:
    # The dev extra installs requests (schemathesis needs it), and yt-dlp prefers its
    # requests handler when it can import it; connections.py, the outbound checks and
    # the worker's error texts are built on the urllib one, which StoppableYoutubeDL
    # installs alone (as CheckedUrllib).
    import requests  # noqa: F401 - the point: present, and still not used
    from yt_dlp.networking import Request

    from collector.worker.connections import StoppableYoutubeDL
    from collector.worker.engine import Downloader, _Session

    params = Downloader().params(tmp_path, _Session(lambda update: None))
    with StoppableYoutubeDL(params, None) as ydl:
        handlers = ydl._request_director._get_handlers(Request("http://127.0.0.1/"))
    assert [handler.RH_KEY for handler in handlers] == ["CheckedUrllib"]
