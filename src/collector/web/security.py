"""Response headers that limit what a page may do, and the app's persistent secret key."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time

from flask import Flask, Response, g

from collector.config.database import DatabaseConfig, DatabaseDamagedError, DatabaseFullError
from collector.repositories import SettingsRepository

logger = logging.getLogger(__name__)

SECRET_KEY_SETTING = "web.secret_key"
# No inline script or style anywhere: the dashboard's script and CSS are static files.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",  # the job page's players: the library's files, from this site
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def secret_key(db: DatabaseConfig) -> str:
    """COLLECTOR_SECRET_KEY, else the key stored in settings (made once, then kept).

    Read and written in one IMMEDIATE transaction, so two processes starting on one
    database at once agree on a single key.
    """
    from_env = os.environ.get("COLLECTOR_SECRET_KEY")
    if from_env:
        return from_env
    settings = SettingsRepository(db)
    with db.transaction():
        stored = settings.get(SECRET_KEY_SETTING)
        if stored:
            return stored
        key = secrets.token_urlsafe(48)
        settings.set(SECRET_KEY_SETTING, key)
    logger.info("generated the web app's secret key (stored in settings)")
    return key


def start_timer() -> None:
    g.started = time.perf_counter()


def add_headers(response: Response) -> Response:
    """after_request: security headers, and the server time of this request."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    started = g.get("started")
    if started is not None:
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
    return response


def session_cookie_name(db: DatabaseConfig) -> str:
    """A cookie name of this database's own: browsers do not tell cookies apart by
    port, so two instances on one host (say :5000 and :5001) sharing the name
    "session" would sign each other's users out."""
    digest = hashlib.sha256(db.key.encode()).hexdigest()[:12]
    return f"collector_session_{digest}"


def install(app: Flask, db: DatabaseConfig) -> None:
    """Secret key, cookie settings, headers and timing for ``app``."""
    if not app.config.get("SECRET_KEY"):
        try:
            app.config["SECRET_KEY"] = secret_key(db)
        except (DatabaseDamagedError, DatabaseFullError) as exc:
            # The app still starts, to answer 503/507 and say why; sign-ins last until restart.
            logger.warning("secret key not stored (%s): using one for this run only", exc.reason)
            app.config["SECRET_KEY"] = secrets.token_urlsafe(48)
    if app.config.get("SESSION_COOKIE_NAME") == "session":  # Flask's default
        app.config["SESSION_COOKIE_NAME"] = session_cookie_name(db)
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.before_request(start_timer)
    app.after_request(add_headers)
