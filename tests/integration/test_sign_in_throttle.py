"""Sign-in: constant-time comparison, and 429 after 5 wrong tokens a minute per client."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from collector.app import create_app
from collector.web.auth import THROTTLE_EXTENSION
from collector.web.throttle import FailureThrottle, client_key

from .test_web_security import HTML, TOKEN, csrf

WRONG = {"Authorization": "Bearer wrong-token-wrong-token-0000"}
RIGHT = {"Authorization": f"Bearer {TOKEN}"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def secured(db_path: Path, clock: Clock) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DB_PATH": str(db_path), "AUTH_TOKEN": TOKEN})
    app.extensions[THROTTLE_EXTENSION] = FailureThrottle(clock=clock)
    with app.app_context():
        yield app


def post_login(client: FlaskClient, token: str) -> object:
    return client.post(
        "/login", data={"csrf_token": csrf(client, "/login"), "token": token, "next": "/"}
    )


def test_the_sixth_wrong_bearer_token_is_429_until_the_window_passes(
    secured: Flask, clock: Clock
) -> None:
    client = secured.test_client()
    for _ in range(5):
        assert client.get("/api/jobs", headers=WRONG).status_code == 401
    clock.now += 10
    locked = client.get("/api/jobs", headers=WRONG)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "50"
    assert locked.get_json()["error"].startswith("too many failed sign-in attempts")
    # The right token is refused too while locked: else a 429 would just mean "wrong".
    assert client.get("/api/jobs", headers=RIGHT).status_code == 429
    clock.now += 50
    assert client.get("/api/jobs", headers=RIGHT).status_code == 200


def test_the_sign_in_form_is_throttled_with_a_page(secured: Flask, clock: Clock) -> None:
    client = secured.test_client()
    for _ in range(5):
        assert post_login(client, "not-the-token").status_code == 401
    locked = post_login(client, TOKEN)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "60"
    assert "Too many failed sign-in attempts" in locked.get_data(as_text=True)
    assert client.get("/", headers=HTML).status_code == 302  # not signed in
    clock.now += 60
    assert post_login(client, TOKEN).status_code == 303
    assert client.get("/", headers=HTML).status_code == 200


def test_form_and_bearer_failures_add_up(secured: Flask) -> None:
    client = secured.test_client()
    for _ in range(3):
        post_login(client, "not-the-token")
    for _ in range(2):
        client.get("/api/stats", headers=WRONG)
    assert client.get("/api/stats", headers=WRONG).status_code == 429


def test_only_wrong_tokens_count(secured: Flask) -> None:
    client = secured.test_client()
    for _ in range(10):  # no token at all (an expired dashboard polling): not a guess
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": "Basic eDp5"}).status_code == 401
    assert client.get("/api/jobs", headers=RIGHT).status_code == 200
    assert len(secured.extensions[THROTTLE_EXTENSION]) == 0


def test_other_clients_and_signed_in_sessions_are_not_refused(secured: Flask) -> None:
    browser = secured.test_client()
    assert post_login(browser, TOKEN).status_code == 303
    guesser = secured.test_client()
    for _ in range(6):
        guesser.get("/api/jobs", headers=WRONG)
    assert guesser.get("/api/jobs", headers=WRONG).status_code == 429
    # The signed-in browser shares the address (127.0.0.1 in tests): a session is no guess.
    assert browser.get("/api/jobs").status_code == 200
    other = {"REMOTE_ADDR": "198.51.100.9"}
    assert guesser.get("/api/jobs", headers=RIGHT, environ_base=other).status_code == 200
    # X-Forwarded-For is not trusted: it does not move the guesser to another counter.
    spoofed = {**WRONG, "X-Forwarded-For": "203.0.113.5"}
    assert guesser.get("/api/jobs", headers=spoofed).status_code == 429


def test_presented_tokens_are_compared_with_compare_digest(
    secured: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    client = secured.test_client()
    expected = hashlib.sha256(TOKEN.encode()).digest()
    for given in ("wrong-token-wrong-token-0000", TOKEN):
        calls.clear()
        client.get("/api/jobs", headers={"Authorization": f"Bearer {given}"})
        assert (hashlib.sha256(given.encode()).digest(), expected) in calls
        calls.clear()
        post_login(secured.test_client(), given)
        assert (hashlib.sha256(given.encode()).digest(), expected) in calls


def test_throttle_memory_is_bounded_and_expired_clients_go_first(clock: Clock) -> None:
    throttle = FailureThrottle(max_failures=2, window=60, max_clients=3, clock=clock)
    throttle.failed("old")
    clock.now += 61
    for name in ("a", "b", "c", "d"):
        throttle.failed(name)
    assert len(throttle) == 3  # "old" (expired) went first, then "a" (least recent)
    throttle.failed("d")
    assert throttle.retry_after("d") == 60
    assert throttle.retry_after("a") == 0


def test_throttle_counts_every_failure_from_many_threads(clock: Clock) -> None:
    throttle = FailureThrottle(max_failures=400, window=60, clock=clock)
    threads = [
        threading.Thread(target=lambda: [throttle.failed("x") for _ in range(50)]) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert throttle.retry_after("x") == 60  # all 400 failures were kept


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        (None, "unknown"),
    ],
)
def test_client_key(address: str | None, key: str) -> None:
    assert client_key(address) == key
