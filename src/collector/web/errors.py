"""Errors: JSON ``{"error": ...}`` with the status code; a readable page for browsers.

The API and any client that does not ask for HTML get JSON. A browser asking for a
page gets the same message in the site's layout. Nothing ever shows a traceback.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    ServiceUnavailable,
)

from collector import dialects
from collector.config.database import (
    DatabaseBusyError,
    DatabaseDamagedError,
    DatabaseFullError,
    InvalidValueError,
    get_db_config,
)

logger = logging.getLogger(__name__)


class InsufficientStorage(HTTPException):
    """507: the change was refused for lack of space, and nothing of it was kept.

    Chosen over 503 with Retry-After: a full disk clears when someone frees space,
    not after a delay a client could wait out, and 503 already means "busy" here.
    """

    code = 507
    description = "no space left to store this change"


def wants_html() -> bool:
    """A browser asking for a page (not the API, not a client that prefers JSON)."""
    if request.path.startswith("/api/") or request.path == "/healthz":
        return False
    accept = request.accept_mimetypes
    return accept["text/html"] > accept["application/json"]


def render_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    message = exc.description or exc.name
    if wants_html():
        try:
            page = render_template("error.html", code=code, name=exc.name, message=message)
            return make_response(page, code)
        except Exception:  # the page itself failed: the plain answer still goes out
            logger.exception("could not render the error page")
    return make_response(jsonify(error=message), code)


def register(app: Flask) -> None:
    """Install the handlers on ``app``."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        response = render_error(exc)
        allowed = getattr(exc, "valid_methods", None)
        if exc.code == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(DatabaseBusyError)
    def busy(exc: DatabaseBusyError) -> ResponseReturnValue:
        logger.warning("database busy: %s", exc)
        return render_error(ServiceUnavailable("the database is busy; try again in a moment"))

    # Damaged and full are logged once per condition where they are met (conditions.py),
    # not once per request.
    @app.errorhandler(DatabaseDamagedError)
    def damaged(exc: DatabaseDamagedError) -> ResponseReturnValue:
        return render_error(
            ServiceUnavailable(
                f"{exc.reason}; the operator must check it (`collector db check`) "
                "and restore a backup"
            )
        )

    @app.errorhandler(DatabaseFullError)
    def full(exc: DatabaseFullError) -> ResponseReturnValue:
        return render_error(InsufficientStorage(f"{exc.reason}; try again once space is freed"))

    @app.errorhandler(InvalidValueError)
    def invalid_value(exc: InvalidValueError) -> ResponseReturnValue:
        return render_error(BadRequest(exc.reason))

    def database(exc: Exception) -> ResponseReturnValue:
        """A query run on the connection directly: the same answers as through the layer."""
        translated = get_db_config().translate(exc)
        if isinstance(translated, InvalidValueError):
            return invalid_value(translated)
        if isinstance(translated, DatabaseDamagedError):
            return damaged(translated)
        if isinstance(translated, DatabaseFullError):
            return full(translated)
        if isinstance(translated, DatabaseBusyError):
            return busy(translated)
        return unexpected(exc)

    for dialect in dialects.DIALECTS.values():
        app.register_error_handler(dialect.DatabaseError, database)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(InternalServerError("internal error; see the server log"))
