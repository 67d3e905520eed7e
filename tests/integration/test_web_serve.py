"""``collector serve``: where it may bind, its in-process workers, and a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from collector.cli import main
from collector.cli.serve import check_binding, is_loopback

TOKEN = "a-token-long-enough-0123456789"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


def invoke(path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["--db", str(path), "serve", *args], env=env)


@pytest.fixture
def stub_waitress(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """waitress.create_server replaced: its server's run() records the server's
    arguments and the worker threads alive then."""
    import waitress

    calls: list[dict] = []

    class Server:
        def __init__(self, app, **kwargs) -> None:
            self.call = {"app": app, **kwargs}

        def run(self) -> None:
            alive = [t.name for t in threading.enumerate() if t.name == "collector-worker"]
            calls.append({**self.call, "workers_alive": alive})

    monkeypatch.setattr(waitress, "create_server", Server)
    return calls


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_binding_rules() -> None:
    check_binding("127.0.0.1", None)
    check_binding("0.0.0.0", TOKEN)
    with pytest.raises(click.ClickException, match=r"refusing to bind 0\.0\.0\.0"):
        check_binding("0.0.0.0", None)
    with pytest.raises(click.ClickException, match="too short"):
        check_binding("0.0.0.0", "short")
    with pytest.raises(click.ClickException, match="too short"):
        check_binding("127.0.0.1", "short")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5"])
def test_serve_refuses_other_addresses_without_a_token(
    tmp_path: Path, stub_waitress: list[dict], host: str
) -> None:
    path = tmp_path / "c.db"
    result = invoke(path, "--host", host, env={"COLLECTOR_TOKEN": ""})
    assert result.exit_code == 1
    assert f"refusing to bind {host}" in result.output
    assert "COLLECTOR_TOKEN" in result.output
    assert stub_waitress == []
    assert not path.exists()


def test_serve_on_another_address_with_a_token(tmp_path: Path, stub_waitress: list[dict]) -> None:
    result = invoke(tmp_path / "c.db", "--host", "0.0.0.0", env={"COLLECTOR_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert "sign-in required" in result.output
    (call,) = stub_waitress
    assert call["host"] == "0.0.0.0"
    assert call["app"].config["AUTH_TOKEN"] == TOKEN


def test_serve_refuses_a_short_token(tmp_path: Path, stub_waitress: list[dict]) -> None:
    result = invoke(tmp_path / "c.db", env={"COLLECTOR_TOKEN": "abc"})
    assert result.exit_code == 1
    assert "too short" in result.output
    assert stub_waitress == []


def test_serve_runs_workers_and_stops_them(tmp_path: Path, stub_waitress: list[dict]) -> None:
    result = invoke(
        tmp_path / "c.db", "--port", "5099", "--workers", "3", env={"COLLECTOR_TOKEN": ""}
    )

    assert result.exit_code == 0, result.output
    (call,) = stub_waitress
    assert call["port"] == 5099 and call["host"] == "127.0.0.1"
    # A thread per allowed event stream (64) on top of 8 for requests.
    assert (call["threads"], call["connection_limit"]) == (72, 164)
    assert call["workers_alive"] == ["collector-worker"]
    assert "3 worker(s)" in result.output
    assert not [t for t in threading.enumerate() if t.name == "collector-worker"]
    assert call["app"].config["AUTH_TOKEN"] is None


def test_serve_max_streams_sizes_waitress(tmp_path: Path, stub_waitress: list[dict]) -> None:
    result = invoke(tmp_path / "c.db", "--workers", "0", "--max-streams", "0")

    assert result.exit_code == 0, result.output
    (call,) = stub_waitress
    assert (call["threads"], call["connection_limit"]) == (8, 100)
    assert call["app"].config["EVENTS_MAX_STREAMS"] == 0


def test_serve_on_ipv6_loopback(tmp_path: Path, stub_waitress: list[dict]) -> None:
    result = invoke(
        tmp_path / "c.db", "--host", "[::1]", "--workers", "0", env={"COLLECTOR_TOKEN": ""}
    )
    assert result.exit_code == 0, result.output
    assert stub_waitress[0]["host"] == "::1"


def test_serve_without_workers(tmp_path: Path, stub_waitress: list[dict]) -> None:
    result = invoke(tmp_path / "c.db", "--workers", "0", env={"COLLECTOR_TOKEN": ""})
    assert result.exit_code == 0, result.output
    assert stub_waitress[0]["workers_alive"] == []


def test_serve_on_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(tmp_path / "c.db", "--port", str(port), env={"COLLECTOR_TOKEN": ""})

    assert result.exit_code == 1
    assert f"Error: cannot listen on 127.0.0.1 port {port}: " in result.output
    assert "collector serving" not in result.output
    assert not [t for t in threading.enumerate() if t.name == "collector-worker"]


def test_serve_on_a_host_that_does_not_resolve_is_a_clear_error(tmp_path: Path) -> None:
    host = "no-such-host.invalid"
    result = invoke(tmp_path / "c.db", "--host", host, env={"COLLECTOR_TOKEN": TOKEN})

    assert result.exit_code == 1
    assert f"Error: cannot listen on {host} port 5000: " in result.output
    assert "collector serving" not in result.output


@pytest.mark.parametrize("workers", ["-1", "65", "many"])
def test_serve_rejects_bad_worker_counts(tmp_path: Path, workers: str) -> None:
    result = invoke(tmp_path / "c.db", "--workers", workers)
    assert result.exit_code == 2
    assert "--workers" in result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_process_stops_cleanly_on_a_signal(tmp_path: Path, signum: int) -> None:
    port = free_port()
    env = {
        **os.environ,
        "COLLECTOR_DB_PATH": str(tmp_path / "c.db"),
        "COLLECTOR_DOWNLOAD_DIR": str(tmp_path / "downloads"),
    }
    env.pop("COLLECTOR_TOKEN", None)
    command = [sys.executable, "-m", "collector", "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", START_TIMEOUT) == b'{"status":"ok"}\n'
        process.send_signal(signum)
        out, err = process.communicate(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert f"collector serving http://127.0.0.1:{port}/" in out
    assert "stopping workers" in err
    assert "collector stopped" in err
    assert "Traceback" not in err
