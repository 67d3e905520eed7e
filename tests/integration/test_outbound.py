"""The outbound policy end to end: refused when queued (API, form, CLI, queue), and
every connection of a real download checked against the address it reaches."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from collector.app import create_app
from collector.cli import main
from collector.config.database import DatabaseConfig
from collector.models.outbound import NO_HOSTS, AllowedHosts
from collector.models.urls import RefusedHostError
from collector.repositories import JobRepository, SettingsRepository
from collector.repositories.queue import JobQueue
from collector.worker import Downloader, DownloadFailed
from collector.worker.connections import StoppableYoutubeDL
from collector.worker.outbound import OutboundGuard, OutboundRefused
from tests.integration.test_web_pages import flashes, page, post_form
from tests.media_server import MediaServer, media_bytes
from tests.worker_fixtures import TEST_DOWNLOADER_OPTIONS, make_worker

CLIP = media_bytes(20_000, "clip")
SPELLINGS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:22/",
    "http://[::1]:22/",
    "http://0x7f000001:22/",
    "http://2130706433:22/",
    "http://[::ffff:127.0.0.1]/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://10.0.0.1/",
    "http://192.168.0.1./",
    "http://0.0.0.0/",
    "http://a.localhost/",
    "http://[fe80::1%25eth0]/",
]


def api_error(response: Any) -> str:
    assert response.status_code == 400, response.data
    body = response.get_json()
    assert set(body) == {"error"}
    return body["error"]


def refused(url: str, allowed: AllowedHosts = NO_HOSTS) -> DownloadFailed:
    """The failure of downloading ``url`` (which must fail), with yt-dlp's retries off."""
    downloader = Downloader(TEST_DOWNLOADER_OPTIONS)
    with pytest.raises(DownloadFailed) as caught:
        downloader.download(url, Path("/nonexistent/never"), lambda update: None, allowed=allowed)
    return caught.value


@pytest.fixture
def resolving(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Names this test makes resolve to given addresses (in this process, this test only)."""
    names: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real(names.get(host, host), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield names


@contextmanager
def listening(address: str) -> Iterator[socket.socket]:
    """An open port on ``address`` that accepts nothing by itself."""
    with socket.socket() as listener:
        listener.bind((address, 0))
        listener.listen()
        listener.setblocking(False)
        yield listener


def closed_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


# -- at queue time: no look-up, a clear error ---------------------------------------------


@pytest.mark.parametrize("url", SPELLINGS)
def test_api_refuses_internal_urls_with_400(client: FlaskClient, url: str) -> None:
    error = api_error(client.post("/api/jobs", json={"url": url}))
    assert error.startswith("refused: ")
    assert "is an internal address (" in error or "is a local host name" in error
    assert "COLLECTOR_ALLOWED_HOSTS" in error
    assert JobRepository().count() == 0


def test_api_queues_an_allowed_internal_host(
    client: FlaskClient, settings: SettingsRepository
) -> None:
    settings.set("allowed_hosts", "127.0.0.1")
    assert client.post("/api/jobs", json={"url": "http://127.0.0.1:9/x"}).status_code == 201
    error = api_error(client.post("/api/jobs", json={"url": "http://127.0.0.2:9/x"}))
    assert error.startswith("refused: 127.0.0.2 is an internal address (127.0.0.2, loopback)")


def test_the_form_refuses_internal_urls_and_queues_none(client: FlaskClient) -> None:
    response = post_form(client, "/jobs", {"urls": "https://example.com/a http://[::1]:22/"})
    assert response.status_code == 303
    [message] = flashes(page(client, "/"))
    assert message.startswith("refused: ::1 is an internal address (::1, loopback)")
    assert JobRepository().count() == 0


def test_cli_add_refuses_internal_urls(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["--db", str(db_path), "add", "http://0x7f000001:22/"])
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: refused: 0x7f000001 is an internal address (127.0.0.1, loopback)"
    )
    assert "Traceback" not in result.output

    monkeypatch.setenv("COLLECTOR_ALLOWED_HOSTS", "127.0.0.0/8")
    result = CliRunner().invoke(main, ["--db", str(db_path), "add", "http://0x7f000001:22/"])
    assert result.exit_code == 0, result.output
    assert JobRepository(DatabaseConfig(db_path)).count() == 1


def test_cli_add_with_a_bad_allowed_hosts_variable_says_so(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLLECTOR_ALLOWED_HOSTS", "10.0.0.1/8")
    result = CliRunner().invoke(main, ["--db", str(db_path), "add", "https://example.com/v"])
    assert result.exit_code == 1
    assert "COLLECTOR_ALLOWED_HOSTS: '10.0.0.1/8' is not a network" in result.output


def test_cli_settings_sets_and_refuses_allowed_hosts(db_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        main, ["--db", str(db_path), "settings", "allowed_hosts", "NAS, 10.0.0.0/8"]
    )
    assert done.exit_code == 0 and done.output == "allowed_hosts = nas,10.0.0.0/8\n"
    bad = runner.invoke(main, ["--db", str(db_path), "settings", "allowed_hosts", "nas:80"])
    assert bad.exit_code == 1 and "allowed_hosts: 'nas:80' is not a host name" in bad.output


@pytest.mark.parametrize("url", SPELLINGS)
def test_queue_refuses_internal_urls(queue: JobQueue, url: str) -> None:
    with pytest.raises(RefusedHostError):
        queue.enqueue(url)


# -- at connection time: the address actually reached ---------------------------------------


def test_an_allowed_loopback_server_is_downloaded(
    tmp_path: Path, media_server: MediaServer
) -> None:
    media_server.add("clip.mp4", CLIP)
    result = Downloader(TEST_DOWNLOADER_OPTIONS).download(
        media_server.url("clip.mp4"),
        tmp_path,
        lambda update: None,
        allowed=AllowedHosts.parse("127.0.0.1"),
    )
    assert [f.path.read_bytes() for f in result.files if f.file_type == "video"] == [CLIP]


def test_an_internal_url_the_queue_never_saw_is_refused_unfetched(
    media_server: MediaServer,
) -> None:
    media = media_server.add("clip.mp4", CLIP)
    failure = refused(media_server.url("clip.mp4"))
    assert failure.message.startswith("refused: 127.0.0.1 is an internal address (127.0.0.1, ")
    assert not failure.transient
    assert media.requests == []


def test_a_name_resolving_inside_is_refused_at_connect(
    media_server: MediaServer, resolving: dict[str, str]
) -> None:
    resolving["media.example"] = "127.0.0.1"
    media = media_server.add("clip.mp4", CLIP)
    url = f"http://media.example:{media_server.port}/media/clip.mp4"

    failure = refused(url, AllowedHosts.parse("127.0.0.2"))

    assert failure.message == (
        "refused: media.example resolves to an internal address (127.0.0.1, loopback); "
        "allow it with COLLECTOR_ALLOWED_HOSTS or `collector settings allowed_hosts`"
    )
    assert not failure.transient
    assert media.requests == []


def test_an_allowed_name_may_resolve_inside(
    tmp_path: Path, media_server: MediaServer, resolving: dict[str, str]
) -> None:
    resolving["media.example"] = "127.0.0.1"
    media_server.add("clip.mp4", CLIP)
    url = f"http://media.example:{media_server.port}/media/clip.mp4"
    result = Downloader(TEST_DOWNLOADER_OPTIONS).download(
        url, tmp_path, lambda update: None, allowed=AllowedHosts.parse("media.example")
    )
    assert [f.path.read_bytes() for f in result.files if f.file_type == "video"] == [CLIP]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://127.0.0.2:{port}/media/clip.mp4", "127.0.0.2 is an internal address (127.0.0.2"),
        ("http://[::1]:{port}/media/clip.mp4", "::1 is an internal address (::1"),
        (
            "http://inside.example:{port}/media/clip.mp4",
            "inside.example resolves to an internal address (127.0.0.2",
        ),
    ],
)
def test_a_redirect_from_an_allowed_host_to_an_internal_one_is_refused(
    media_server: MediaServer, resolving: dict[str, str], target: str, reason: str
) -> None:
    resolving["inside.example"] = "127.0.0.2"
    with listening("127.0.0.2") as inside:
        port = inside.getsockname()[1]
        media_server.add("hop", b"", redirect=target.format(port=port))
        failure = refused(media_server.url("hop"), AllowedHosts.parse("127.0.0.1"))
        with pytest.raises(BlockingIOError):
            inside.accept()  # nothing ever connected
    assert failure.message.startswith(f"refused: {reason}")
    assert not failure.transient
    assert media_server.files["hop"].requests == [None]  # the allowed hop was fetched


def test_open_and_closed_internal_ports_fail_alike(resolving: dict[str, str]) -> None:
    resolving["inside.example"] = "127.0.0.2"
    with listening("127.0.0.2") as inside:
        open_port = inside.getsockname()[1]
        messages = {
            refused(f"http://inside.example:{port}/x").message
            for port in (open_port, closed_port("127.0.0.2"))
        }
        with pytest.raises(BlockingIOError):
            inside.accept()
    assert len(messages) == 1
    assert messages.pop().startswith("refused: inside.example resolves to an internal address")


def test_the_worker_fails_a_refused_job_for_good(
    db: DatabaseConfig,
    queue: JobQueue,
    downloads: Path,
    media_server: MediaServer,
    resolving: dict[str, str],
) -> None:
    resolving["media.example"] = "127.0.0.3"  # downloads allows 127.0.0.1 only
    media = media_server.add("clip.mp4", CLIP)
    job = queue.enqueue(f"http://media.example:{media_server.port}/media/clip.mp4").job

    assert make_worker(db).run(burst=True) == 1

    failed = queue.get(job.id)
    assert failed.status == "failed" and failed.retry_count == 0
    assert failed.error_message.startswith(
        "refused: media.example resolves to an internal address (127.0.0.3, loopback)"
    )
    assert media.requests == []


# -- the seam -------------------------------------------------------------------------------


def test_each_download_has_only_the_checked_handler() -> None:
    first, second = OutboundGuard(AllowedHosts.parse("10.0.0.0/8")), OutboundGuard()
    with StoppableYoutubeDL({}, None, first) as one, StoppableYoutubeDL({}, None, second) as two:
        handlers = [list(ydl._request_director.handlers.values()) for ydl in (one, two)]
    assert [[h.RH_KEY for h in hs] for hs in handlers] == [["CheckedUrllib"], ["CheckedUrllib"]]
    assert handlers[0][0].guard is first and handlers[1][0].guard is second


def test_downloaders_that_run_another_program_are_refused() -> None:
    live = {"url": "https://example.com/live.m3u8", "protocol": "m3u8", "is_live": True}
    with pytest.raises(OutboundRefused, match="needs ffmpeg"):
        OutboundGuard().check_downloader(live, {}, to_stdout=False)
    OutboundGuard(AllowedHosts.parse("0.0.0.0/0,::/0")).check_downloader(live, {}, to_stdout=False)
    OutboundGuard().check_downloader(
        {"url": "https://example.com/v.mp4", "protocol": "https"}, {}, False
    )


# -- through a proxy ------------------------------------------------------------------------


def proxied_failure(url: str, proxy: str, allowed: str) -> DownloadFailed:
    downloader = Downloader({**TEST_DOWNLOADER_OPTIONS, "proxy": proxy})
    with pytest.raises(DownloadFailed) as caught:
        downloader.download(
            url,
            Path("/nonexistent/never"),
            lambda update: None,
            allowed=AllowedHosts.parse(allowed),
        )
    return caught.value


def test_an_internal_proxy_must_be_allowed_itself() -> None:
    with listening("127.0.0.2") as proxy:
        port = proxy.getsockname()[1]
        failure = proxied_failure("http://media.example/v.mp4", f"http://127.0.0.2:{port}", "")
        with pytest.raises(BlockingIOError):
            proxy.accept()
    assert failure.message.startswith("refused: 127.0.0.2 resolves to an internal address")


def test_through_an_allowed_proxy_the_target_is_checked_as_written() -> None:
    with listening("127.0.0.2") as proxy:
        port = proxy.getsockname()[1]
        failure = proxied_failure("http://10.1.2.3/v.mp4", f"http://127.0.0.2:{port}", "127.0.0.2")
        with pytest.raises(BlockingIOError):
            proxy.accept()
    assert failure.message.startswith("refused: 10.1.2.3 is an internal address (10.1.2.3")


def test_a_socks_proxy_is_not_used() -> None:
    with listening("127.0.0.2") as proxy:
        port = proxy.getsockname()[1]
        failure = proxied_failure(
            "http://media.example/v.mp4", f"socks5://127.0.0.2:{port}", "127.0.0.2"
        )
        with pytest.raises(BlockingIOError):
            proxy.accept()
    assert failure.message.startswith(
        'refused: no checked connection can make this request (Unsupported proxy type: "socks5'
    )
    assert not failure.transient


def test_a_worker_with_a_bad_allowed_hosts_variable_does_not_start(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLLECTOR_ALLOWED_HOSTS", "nas:80")
    result = CliRunner().invoke(main, ["--db", str(db_path), "worker", "--burst"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: COLLECTOR_ALLOWED_HOSTS: 'nas:80' is not a host name")


def test_the_web_app_with_a_bad_allowed_hosts_variable_does_not_start(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLLECTOR_ALLOWED_HOSTS", "*")
    with pytest.raises(ValueError, match=r"^COLLECTOR_ALLOWED_HOSTS: '\*' is not a host name"):
        create_app({"TESTING": True, "DB_PATH": str(db_path)})
