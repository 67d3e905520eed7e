"""OPTIONS, answered the API's way: 200 JSON listing the methods, and an ``Allow`` header.

Flask's automatic answer is an empty 200. This one names the methods in the body
too, and is the same for the API and the pages. It runs before sign-in: the methods
of a path are no secret (the OpenAPI document is open). No CORS: collector sends no
``Access-Control-*`` header, so a page on another origin cannot call the API.
"""

from __future__ import annotations

from flask import Response, current_app, jsonify, request


def allowed_methods() -> list[str]:
    """Every method some route of this path serves (HEAD and OPTIONS included)."""
    adapter = current_app.create_url_adapter(request)
    if adapter is None:  # only outside a request
        return []
    return sorted(adapter.allowed_methods(request.path))


def answer_options() -> Response | None:
    """before_request: the answer to OPTIONS on a path that exists (else a 404 follows)."""
    if request.method != "OPTIONS" or request.routing_exception is not None:
        return None
    allowed = allowed_methods()
    response = jsonify(allow=allowed)
    response.headers["Allow"] = ", ".join(allowed)
    return response
