"""Sign-in with COLLECTOR_TOKEN: a bearer token for the API, a login form for the pages.

Without a token (loopback only, see ``collector serve``) everything is open. With one,
API calls need ``Authorization: Bearer <token>`` (or the session of a signed-in
browser, which is how the dashboard's own script polls), and pages need a login.
Tokens are compared with :func:`hmac.compare_digest` over their SHA-256 digests (so
neither content nor length shows in the time taken); the session keeps a keyed
fingerprint of the token, so changing the token signs every browser out.

Guessing is slowed down: a client (``request.remote_addr``; X-Forwarded-For is not
trusted) whose token was wrong 5 times within 60 seconds, on the sign-in form or as
a Bearer token, gets 429 with ``Retry-After`` until the oldest of those failures is
a minute old, whatever token it sends meanwhile: were a right token let through, a
429 would only mean "wrong", and guessing would go on at full speed. A signed-in
session is not a guess and is never refused.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from collector.models.values import quoted

from .throttle import FailureThrottle, client_key

bp = Blueprint("auth", __name__)

OPEN_ENDPOINTS = frozenset({"auth.login", "static", "api.healthz", "api.openapi"})
MIN_TOKEN_LENGTH = 16
THROTTLE_EXTENSION = "collector.sign_in_throttle"


@bp.record_once
def _install_throttle(state: BlueprintSetupState) -> None:
    state.app.extensions.setdefault(THROTTLE_EXTENSION, FailureThrottle())


def throttle() -> FailureThrottle:
    """This app's count of failed sign-ins (one per process)."""
    found: FailureThrottle = current_app.extensions[THROTTLE_EXTENSION]
    return found


def client() -> str:
    """Who a failed attempt is charged to: the connecting address (see client_key)."""
    return client_key(request.remote_addr)


def token_matches(given: str) -> bool:
    """Whether ``given`` is the configured token, compared in constant time."""
    token = required_token()
    if token is None:
        return False
    given_digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(given_digest, hashlib.sha256(token.encode()).digest())


def too_many_attempts(seconds: int) -> str:
    return f"too many failed sign-in attempts from this address; try again in {seconds} s"


def required_token() -> str | None:
    """The configured token, or None when collector runs without sign-in."""
    return current_app.config.get("AUTH_TOKEN") or None


def is_api_request() -> bool:
    """The API, and /metrics (web/metrics.py), which answer as the API does: 401, not a sign-in."""
    return request.path.startswith("/api/") or request.path == "/metrics"


def _fingerprint(token: str) -> str:
    key = str(current_app.secret_key).encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def signed_in() -> bool:
    """Whether this browser session signed in with the current token."""
    token = required_token()
    if token is None:
        return True
    return hmac.compare_digest(str(session.get("auth", "")), _fingerprint(token))


def bearer_ok() -> bool:
    """Whether the request carries ``Authorization: Bearer <the token>``."""
    given = bearer_token()
    return given is not None and token_matches(given)


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None without one."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def loopback_host(host: str) -> bool:
    """Whether a Host header names this machine: localhost, 127.0.0.0/8 or ::1."""
    try:
        name = urlsplit("//" + host).hostname or ""
    except ValueError:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def guard() -> ResponseReturnValue | None:
    """before_request: let the request through, or ask for the token.

    Without a token collector serves loopback only, and only to requests that name a
    loopback host: a web page whose own host name was re-pointed at 127.0.0.1 (DNS
    rebinding) would otherwise read and drive the API as if it were this machine.
    """
    if required_token() is None:
        if not loopback_host(request.host):
            abort(
                403,
                f"host {quoted(request.host)} is not this machine: without COLLECTOR_TOKEN "
                "use http://127.0.0.1, http://localhost or http://[::1]",
            )
        return None
    if request.endpoint in OPEN_ENDPOINTS or request.routing_exception is not None:
        return None  # open, or a 404/405 that errors.py answers (never a sign-in redirect)
    if is_api_request():
        return None if signed_in() else _check_bearer()
    if signed_in():
        return None
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _check_bearer() -> ResponseReturnValue | None:
    """The API without a session: a right Bearer token passes; a wrong one is counted."""
    given = bearer_token()
    if given is not None:
        wait = throttle().retry_after(client())
        if wait:
            response = jsonify(error=too_many_attempts(wait))
            response.status_code = 429
            response.headers["Retry-After"] = str(wait)
            return response
        if token_matches(given):
            return None
        throttle().failed(client())
    response = jsonify(error="authentication required: send Authorization: Bearer <token>")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="collector"'
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host) is followed after sign-in.

    Control characters and spaces are refused: a URL loses its tabs and line breaks
    (in the Location header, in browsers), so ``/<TAB>/evil.example`` is ``//evil.example``.
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and not any(ch.isspace() for ch in target)
    ):
        return target
    return url_for("pages.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if required_token() is None:
        return redirect(url_for("pages.dashboard"))
    if request.method == "GET":
        return _login_page(None, 200)
    wait = throttle().retry_after(client())
    if wait:
        message = too_many_attempts(wait).capitalize() + "."
        return _login_page(message, 429, {"Retry-After": str(wait)})
    if not token_matches(request.form.get("token", "")):
        throttle().failed(client())
        return _login_page("That token is not right.", 401)
    session.clear()
    session["auth"] = _fingerprint(str(required_token()))
    return redirect(_safe_next(request.form.get("next")), code=303)


def _login_page(
    error: str | None, status: int, headers: dict[str, str] | None = None
) -> ResponseReturnValue:
    page = render_template("login.html", error=error, next=request.values.get("next", ""))
    return page, status, headers or {}


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("auth.login"), code=303)
