"""The OpenAPI 3.1 document of the JSON API (tests check it matches the routes)."""

from __future__ import annotations

from typing import Any

from collector.models.file import FILE_TYPES
from collector.models.job import PLATFORMS, STATUSES
from collector.repositories.job_repository import ACTIVE_FILTER, STATUS_FILTERS

from .params import MAX_PAGE

ERROR = {"$ref": "#/components/schemas/Error"}
JOB = {"$ref": "#/components/schemas/Job"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "bad input",
        401: "missing or wrong token",
        404: "no such job",
        409: "the job's status does not allow this",
    }
    return {str(code): _json(ERROR, reasons[code]) for code in (*codes, 401)}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


PAGING = [
    _query(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50}, "page size"
    ),
    _query("cursor", {"type": "string"}, "next_cursor of the previous page"),
]
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _page_of(ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": ref}},
            "next_cursor": {"type": ["string", "null"], "description": "null on the last page"},
        },
    }


def _job_action(summary: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": [JOB_ID],
            "responses": {"200": _json(JOB, "the job, changed"), **_errors(404, 409)},
        }
    }


def _paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": {
                "summary": "Liveness: the database answers",
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "ok"),
                    "503": _json(
                        {"type": "object"}, "the database is damaged or its disk is full (why)"
                    ),
                },
            }
        },
        "/api/stats": {
            "get": {
                "summary": "Jobs per status",
                "responses": {
                    "200": _json(
                        {"type": "object", "additionalProperties": {"type": "integer"}},
                        "a count for each of the six statuses",
                    ),
                    **_errors(),
                },
            }
        },
        "/api/jobs": {
            "get": {
                "summary": "Jobs, newest first, one keyset page",
                "parameters": [
                    _query(
                        "status",
                        {"enum": list(STATUS_FILTERS)},
                        f"one status, or {ACTIVE_FILTER} (pending, running, cancelling)",
                    ),
                    _query("platform", {"enum": list(PLATFORMS)}, "one platform"),
                    *PAGING,
                ],
                "responses": {
                    "200": _json(_page_of("#/components/schemas/Job"), "a page"),
                    **_errors(400),
                },
            },
            "post": {
                "summary": "Queue a URL (a URL already pending or running is one job)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["url"],
                                "properties": {"url": {"type": "string", "format": "uri"}},
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(JOB, "queued"),
                    "200": _json(JOB, "already queued: the existing job"),
                    **_errors(400),
                },
            },
        },
        "/api/jobs/{job_id}": {
            "get": {
                "summary": "One job with its files",
                "parameters": [JOB_ID],
                "responses": {"200": _json(JOB, "the job and its files"), **_errors(404)},
            }
        },
        "/api/jobs/{job_id}/cancel": _job_action("Cancel a pending or running job"),
        "/api/jobs/{job_id}/retry": _job_action("Queue a failed or cancelled job again"),
        "/api/files": {
            "get": {
                "summary": "Downloaded files, newest first, one keyset page",
                "parameters": [
                    _query("type", {"enum": list(FILE_TYPES)}, "one file type"),
                    *PAGING,
                ],
                "responses": {
                    "200": _json(_page_of("#/components/schemas/File"), "a page"),
                    **_errors(400),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI")},
            }
        },
    }


def _schemas() -> dict[str, Any]:
    text, number = {"type": "string"}, {"type": "integer"}
    maybe_text = {"type": ["string", "null"]}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": text}},
        "Job": {
            "type": "object",
            "properties": {
                "id": text,
                "url": text,
                "platform": {"enum": list(PLATFORMS)},
                "status": {"enum": list(STATUSES)},
                "title": maybe_text,
                "progress": number,
                "current_operation": maybe_text,
                "error_message": maybe_text,
                "retry_count": number,
                "bytes_downloaded": number,
                "created_at": text,
                "updated_at": text,
                "completed_at": maybe_text,
                "files": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/File"},
                    "description": "only in GET /api/jobs/{job_id}",
                },
            },
        },
        "File": {
            "type": "object",
            "properties": {
                "id": text,
                "job_id": text,
                "file_path": text,
                "name": text,
                "file_type": {"enum": list(FILE_TYPES)},
                "file_size": number,
                "created_at": text,
                "updated_at": text,
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """The whole document: paths, schemas, and the bearer token scheme."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "collector",
            "version": "1",
            "description": "Queue URLs, watch their downloads, list their files. "
            "When collector runs with COLLECTOR_TOKEN, send Authorization: Bearer <token>.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
