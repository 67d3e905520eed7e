"""CSRF protection: a per-session token in every form, checked on every POST.

Pages: the form's hidden ``csrf_token`` must equal the session's (compared in
constant time). API: a request signed with the bearer token cannot be forged by
another site; any other unsafe API request (a browser's cookies, or loopback
without a token) is refused when the browser says it comes from another site
(``Origin`` or ``Sec-Fetch-Site``), so curl and scripts keep working.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import abort, request, session

from .auth import bearer_ok, is_api_request

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FIELD = "csrf_token"


def csrf_token() -> str:
    """This session's token (made on first use); templates put it in every form."""
    token = session.get(FIELD)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[FIELD] = token
    return token


def protect() -> None:
    """before_request: refuse a forged unsafe request with a 400 (pages) or 403 (API)."""
    if request.method not in UNSAFE_METHODS or request.routing_exception is not None:
        return  # nothing to protect: a 404 or 405 follows
    if is_api_request():
        if not bearer_ok() and _cross_site():
            abort(403, "cross-site requests to the API are refused")
        return
    expected = session.get(FIELD)
    given = request.form.get(FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        abort(400, "the form has expired or did not come from this site; reload it and try again")


def _cross_site() -> bool:
    if request.headers.get("Sec-Fetch-Site", "") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if not origin:
        return False
    return origin == "null" or urlsplit(origin).netloc != request.host
