"""Sign-in with COLLECTOR_TOKEN: a bearer token for the API, a login form for the pages.

Without a token (loopback only, see ``collector serve``) everything is open. With one,
API calls need ``Authorization: Bearer <token>`` (or the session of a signed-in
browser, which is how the dashboard's own script polls), and pages need a login.
Tokens are compared with :func:`hmac.compare_digest`; the session keeps a keyed
fingerprint of the token, so changing the token signs every browser out.
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
from flask.typing import ResponseReturnValue

from collector.models.values import quoted

bp = Blueprint("auth", __name__)

OPEN_ENDPOINTS = frozenset({"auth.login", "static", "api.healthz", "api.openapi"})
MIN_TOKEN_LENGTH = 16


def required_token() -> str | None:
    """The configured token, or None when collector runs without sign-in."""
    return current_app.config.get("AUTH_TOKEN") or None


def is_api_request() -> bool:
    return request.path.startswith("/api/")


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
    token = required_token()
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token is None or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


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
        if bearer_ok() or signed_in():
            return None
        response = jsonify(error="authentication required: send Authorization: Bearer <token>")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="collector"'
        return response
    if signed_in():
        return None
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


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
    error = None
    if request.method == "POST":
        given = request.form.get("token", "")
        if hmac.compare_digest(given.encode(), str(required_token()).encode()):
            session.clear()
            session["auth"] = _fingerprint(str(required_token()))
            return redirect(_safe_next(request.form.get("next")), code=303)
        error = "That token is not right."
    status = 401 if error else 200
    return render_template("login.html", error=error, next=request.values.get("next", "")), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("auth.login"), code=303)
