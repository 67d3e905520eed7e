"""The OpenAPI 3.1 document of the JSON API (tests check it matches the routes both ways,
and schemathesis checks every answer against it).

The document is built per request from the app's configuration: the bearer scheme,
``security`` and the 401 answers appear only when collector runs with a token, and
the 403 for a Host that is not this machine only when it runs without one. Every
response schema lists every field the API returns, and ``additionalProperties:
false`` says there are no others. Nullable fields use 3.1's ``type: [..., "null"]``.
"""

from __future__ import annotations

from typing import Any

from collector.models.base import BaseModel
from collector.models.file import FILE_TYPES, File
from collector.models.formats import FORMATS
from collector.models.job import PLATFORMS, STATUSES, Job
from collector.models.subscription import (
    DATE_FORM,
    EVERY_FORMS,
    MAX_EVERY_SECONDS,
    MAX_KEEP,
    MIN_EVERY_SECONDS,
    Subscription,
)
from collector.repositories.job_repository import ACTIVE_FILTER, STATUS_FILTERS

from .params import MAX_PAGE, MAX_SEARCH

ERROR = {"$ref": "#/components/schemas/Error"}
JOB = {"$ref": "#/components/schemas/Job"}
BEARER = "bearerAuth"
# Cursors are the URL-safe base64 (no padding) of the last row's position. Only the
# next_cursor of a previous page is one: any other value is refused with a 400.
CURSOR_FORMAT = "collector-cursor"
CURSOR_LETTERS = "^[A-Za-z0-9_-]+$"
CURSOR = {
    "type": "string",
    "format": CURSOR_FORMAT,
    "minLength": 1,
    "description": "opaque (URL-safe base64 letters): the next_cursor of a previous page "
    "of the same list; any other value is a 400",
}
# What POST /api/jobs takes (models/urls.py validate_url, which also refuses hosts the
# outbound policy does not allow): an http or https URL with a host, no spaces.
URL = {"type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://", "maxLength": 4096}
# A job's format (models/formats.py); absent or null: the default_format setting.
QUEUE_BODY = {
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": URL,
        "format": {
            "enum": [*FORMATS, None],
            "description": "what to download: best video, video at most 1080p/720p/480p, "
            "or the audio alone as m4a or mp3; absent or null: the default_format setting; "
            "any other value is a 400",
        },
    },
    "additionalProperties": False,
}
# A subscription's options (models/subscription.py), as POST and PATCH take them.
SUBSCRIPTION = {"$ref": "#/components/schemas/Subscription"}
EVERY = {
    "oneOf": [
        {"type": "string", "pattern": f"^(?:{EVERY_FORMS})$"},
        {"type": "integer", "minimum": MIN_EVERY_SECONDS, "maximum": MAX_EVERY_SECONDS},
    ],
    "description": "how often to check: minutes (5m-99999m), hours (1h-999h) or days "
    "(1d-365d), or a number of seconds (300 to a year)",
}
AFTER_DATE = {
    "type": ["string", "null"],
    "format": "date",
    "pattern": f"^{DATE_FORM}$",
    "description": "only videos uploaded on or after this date (videos whose listing gives "
    "no date are queued too); null: no limit",
}
KEEP_NEWEST = {
    "type": ["integer", "null"],
    "minimum": 1,
    "maximum": MAX_KEEP,
    "description": "keep the files of the newest N downloads, remove older ones' files; "
    "null: keep all",
}
SUBSCRIPTION_FORMAT = {
    "enum": [*FORMATS, None],
    "description": "the format of the jobs it queues; absent or null: the default_format setting",
}
SUBSCRIBE_BODY = {
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": URL,
        "every": {**EVERY, "default": "6h"},
        "format": SUBSCRIPTION_FORMAT,
        "after_date": AFTER_DATE,
        "keep_newest": KEEP_NEWEST,
    },
    "additionalProperties": False,
}
SUBSCRIPTION_CHANGES = {
    "type": "object",
    "properties": {
        "every": EVERY,
        "format": SUBSCRIPTION_FORMAT,
        "after_date": AFTER_DATE,
        "keep_newest": KEEP_NEWEST,
        "paused": {"type": "boolean", "description": "true: no checks until resumed"},
    },
    "additionalProperties": False,
}
SUBSCRIPTION_ID = {
    "name": "subscription_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
SUBSCRIPTION_REASONS = {404: "no such subscription"}
# /healthz's 503: the condition of the database (damaged, full) and what it means, or
# the busy error alone.
HEALTH_PROBLEM = {
    "oneOf": [
        {
            "type": "object",
            "required": ["status", "error"],
            "properties": {"status": {"enum": ["damaged", "full"]}, "error": {"type": "string"}},
            "additionalProperties": False,
        },
        ERROR,
    ]
}
# One event of GET /api/events, as a client parses it (the stream's first block,
# `retry:`, and its keep-alive comments carry no data, so they are no events).
EVENT = {
    "type": "object",
    "required": ["event", "data", "id"],
    "properties": {
        "event": {"enum": ["active", "stats", "recent", "job"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": {"type": "string", "minLength": 1},
    },
    "additionalProperties": False,
}
REASONS = {
    400: "bad input: the message names the parameter and what is valid",
    401: "missing or wrong token: send Authorization: Bearer <token>",
    403: "refused: a Host header that is not this machine (without a token), "
    "or a cross-site request without the bearer token",
    404: "no such job",
    409: "the job's status does not allow this",
    429: "too many wrong tokens from this client: wait Retry-After seconds",
    503: "the database is busy, damaged or unavailable (the message says which)",
    507: "no space left to store this change; nothing of it was kept",
}
COLUMN_SCHEMAS = {
    "TEXT": {"type": "string"},
    "INTEGER": {"type": "integer", "minimum": 0},
    "TIMESTAMP": {"type": "string", "format": "date-time"},
}
FIELD_SCHEMAS = {
    "id": {"type": "string", "format": "uuid"},
    "job_id": {"type": "string", "format": "uuid"},
    "platform": {"enum": list(PLATFORMS)},
    "status": {"enum": list(STATUSES)},
    "progress": {"type": "integer", "minimum": 0, "maximum": 100},
    "file_type": {"enum": list(FILE_TYPES)},
    "format": {"enum": list(FORMATS)},
    "upload_date": {"type": "string", "format": "date"},
    "after_date": {"type": "string", "format": "date"},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description + " (an empty value is refused)",
    }


PAGING = [
    _query(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50}, "page size"
    ),
    _query("cursor", CURSOR, "where the page starts"),
]
# A search: at least one letter or digit (Python's \w less "_": the words searched).
# At least one letter or digit, in any script: ECMA 262's \w (what OpenAPI's patterns
# are) is ASCII only, so the classes are named by Unicode property.
SEARCH = {"type": "string", "maxLength": MAX_SEARCH, "pattern": "[\\p{L}\\p{N}]"}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
FILE_ID = {"name": "file_id", "in": "path", "required": True, "schema": {"type": "string"}}
# What a file is sent as (web/content.py content_type): the type of its extension, in
# one of these families (application/octet-stream when unknown).
FILE_MEDIA_RANGES = ("video/*", "audio/*", "image/*", "text/*", "application/*")
RANGE_PATTERN = "^bytes=([0-9]+-[0-9]*|-[0-9]+)$"
FILE_REASONS = {
    403: "the recorded path (or a link in it) leads outside the download folder: not served; "
    "without a token also a Host header that is not this machine",
    404: "no such file, or it is not on this host's disk (the message says which)",
}


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    """A closed object: these properties, all of them present, no others."""
    schema = {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _model_schema(model: type[BaseModel], **extra: Any) -> dict[str, Any]:
    """A model as the API returns it (``to_dict``): every field, null where nullable."""
    properties: dict[str, Any] = {}
    for name in model.field_names():
        column = model.field(name)
        schema = dict(FIELD_SCHEMAS.get(name) or COLUMN_SCHEMAS[column.type])
        if column.nullable and not column.primary_key and "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        elif column.nullable and not column.primary_key:
            schema["type"] = [schema["type"], "null"]
        properties[name] = schema
    return _object({**properties, **extra})


def _page_of(ref: str, operation_id: str) -> dict[str, Any]:
    response = _json(
        _object(
            {
                "items": {"type": "array", "items": {"$ref": ref}, "maxItems": MAX_PAGE},
                "next_cursor": {**CURSOR, "type": ["string", "null"], "pattern": CURSOR_LETTERS},
            }
        ),
        "a page, newest first; next_cursor is null on the last page",
    )
    response["links"] = {
        "NextPage": {
            "operationId": operation_id,
            "parameters": {"cursor": "$response.body#/next_cursor"},
            "description": "the next page (while next_cursor is not null)",
        }
    }
    return response


class _Document:
    """The parts of the document that depend on whether a token is configured."""

    def __init__(self, secured: bool) -> None:
        self.secured = secured

    def errors(
        self,
        *codes: int,
        database: bool = True,
        unsafe: bool = False,
        reasons: dict[int, str] | None = None,
    ) -> dict[str, Any]:
        """The error answers of an operation that needs the token (if one is configured);
        ``reasons`` words some of them for this operation."""
        extra = [401, 429] if self.secured else [403]
        if unsafe and self.secured:
            extra.append(403)
        if database:
            extra.append(503)
        if database and unsafe:
            extra.append(507)
        return {
            str(code): self.error(code, (reasons or {}).get(code))
            for code in sorted({*codes, *extra})
        }

    @staticmethod
    def error(code: int, reason: str | None = None) -> dict[str, Any]:
        """The JSON error answer ``code``; a 429 says when to try again."""
        answer = _json(ERROR, reason or REASONS[code])
        if code == 429:
            answer["headers"] = {
                "Retry-After": {
                    "description": "seconds until a token is taken from this client again",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        return answer

    def open_errors(self, database: bool) -> dict[str, Any]:
        """The error answers of an operation that is open even with a token."""
        codes = ([] if self.secured else [403]) + ([503] if database else [])
        return {str(code): _json(ERROR, REASONS[code]) for code in codes}

    def job_action(self, summary: str, operation_id: str) -> dict[str, Any]:
        return {
            "post": {
                "operationId": operation_id,
                "summary": summary,
                "parameters": [JOB_ID],
                "responses": {
                    "200": _json(JOB, "the job, changed"),
                    **self.errors(404, 409, unsafe=True),
                },
            }
        }

    def paths(self) -> dict[str, Any]:
        open_op: dict[str, Any] = {"security": []} if self.secured else {}
        return {
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness: the database answers",
                    **open_op,
                    "responses": {
                        "200": _json(_object({"status": {"const": "ok"}}), "ok"),
                        **self.open_errors(database=True),
                        "503": _json(HEALTH_PROBLEM, REASONS[503]),
                    },
                }
            },
            "/api/stats": {
                "get": {
                    "operationId": "stats",
                    "summary": "Jobs per status",
                    "responses": {
                        "200": _json(
                            _object(
                                {s: {"type": "integer", "minimum": 0} for s in STATUSES},
                                "a count for each status",
                            ),
                            "a count for each of the six statuses",
                        ),
                        **self.errors(),
                    },
                }
            },
            "/api/jobs": {
                "get": {
                    "operationId": "listJobs",
                    "summary": "Jobs, newest first, one keyset page",
                    "parameters": [
                        _query(
                            "status",
                            {"enum": list(STATUS_FILTERS)},
                            f"one status, or {ACTIVE_FILTER} (pending, running, cancelling)",
                        ),
                        _query("platform", {"enum": list(PLATFORMS)}, "one platform"),
                        _query(
                            "q",
                            SEARCH,
                            "words the title, uploader or URL must all hold (whole words, any "
                            "case); punctuation only separates words, no search syntax is read; "
                            "with the other filters and the cursor",
                        ),
                        _query(
                            "parent",
                            {"type": "string", "minLength": 1},
                            "the jobs a playlist job queued, in the playlist's order (oldest "
                            "first); with the other filters and the cursor",
                        ),
                        _query(
                            "subscription",
                            {"type": "string", "minLength": 1},
                            "the jobs a subscription queued, newest first; with the other "
                            "filters (not parent) and the cursor",
                        ),
                        *PAGING,
                    ],
                    "responses": {
                        "200": _page_of("#/components/schemas/Job", "listJobs"),
                        **self.errors(
                            400,
                            404,
                            reasons={
                                404: "no job with the id given as parent, or no subscription "
                                "with the id given as subscription"
                            },
                        ),
                    },
                },
                "post": {
                    "operationId": "queueJob",
                    "summary": "Queue a URL (a URL already pending or running is one job)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": QUEUE_BODY},
                        },
                    },
                    "responses": {
                        "201": {**_json(JOB, "queued"), "headers": self.location()},
                        "200": {
                            **_json(JOB, "already queued: the existing job"),
                            "headers": self.location(),
                        },
                        **self.errors(400, unsafe=True),
                    },
                },
            },
            "/api/jobs/{job_id}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "One job with its files",
                    "parameters": [JOB_ID],
                    "responses": {
                        "200": _json(
                            {"$ref": "#/components/schemas/JobWithFiles"}, "the job and its files"
                        ),
                        **self.errors(404),
                    },
                }
            },
            "/api/jobs/{job_id}/cancel": self.job_action(
                "Cancel a pending or running job", "cancelJob"
            ),
            "/api/jobs/{job_id}/retry": self.job_action(
                "Queue a failed or cancelled job again", "retryJob"
            ),
            **self.subscription_paths(),
            "/api/files": {
                "get": {
                    "operationId": "listFiles",
                    "summary": "Downloaded files, newest first, one keyset page",
                    "parameters": [
                        _query("type", {"enum": list(FILE_TYPES)}, "one file type"),
                        _query(
                            "q",
                            SEARCH,
                            "the files of the jobs whose title, uploader or URL holds every "
                            "word (as listJobs searches); with the type and the cursor",
                        ),
                        *PAGING,
                    ],
                    "responses": {
                        "200": _page_of("#/components/schemas/File", "listFiles"),
                        **self.errors(400),
                    },
                }
            },
            "/api/events": {
                "get": {
                    "operationId": "events",
                    "summary": "Live progress as Server-Sent Events: the dashboard's, or one job's",
                    "description": "A stream that starts with `retry:` and sends whole "
                    "states, each as an event with an `id:`: without `job`, `active` (the "
                    "20 newest active jobs, as listJobs with status=active), `stats` (as "
                    "stats) and `recent` (the 10 newest jobs, each with `thumbnail_id`: "
                    "its image file's id, for getFileContent, or null); with `job`, `job` "
                    "(the job, as "
                    "getJob without files; `null` once deleted). An event is sent when what "
                    "it shows changed, checked once a second; a comment line every 15 s "
                    "keeps the connection open. The stream ends after 10 minutes or when "
                    "the server stops: reconnect (EventSource does, with Last-Event-ID).",
                    "parameters": [
                        _query(
                            "job",
                            {"type": "string", "minLength": 1},
                            "a job's id: the stream of this job instead of the dashboard's",
                        )
                    ],
                    "responses": {
                        "200": {
                            "description": "the stream (text/event-stream)",
                            "content": {"text/event-stream": {"schema": EVENT}},
                        },
                        **self.errors(400, 404),
                        "503": {
                            **_json(
                                ERROR,
                                REASONS[503] + ", or too many streams are open (poll instead)",
                            ),
                            "headers": {
                                "Retry-After": {
                                    "description": "when too many streams are open: "
                                    "seconds before trying again",
                                    "required": False,
                                    "schema": {"type": "integer", "minimum": 1},
                                }
                            },
                        },
                    },
                }
            },
            "/api/files/{file_id}/content": {"get": self.file_content()},
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    **open_op,
                    "responses": {
                        "200": _json({"type": "object"}, "OpenAPI"),
                        **self.open_errors(database=False),
                    },
                }
            },
        }

    def subscription_paths(self) -> dict[str, Any]:
        one = [SUBSCRIPTION_ID]
        return {
            "/api/subscriptions": {
                "get": {
                    "operationId": "listSubscriptions",
                    "summary": "The followed channels and playlists, newest first",
                    "responses": {
                        "200": _json(
                            _object({"items": {"type": "array", "items": SUBSCRIPTION}}),
                            "every subscription",
                        ),
                        **self.errors(),
                    },
                },
                "post": {
                    "operationId": "subscribe",
                    "summary": "Follow a channel or playlist: its first check is due at once",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": SUBSCRIBE_BODY}},
                    },
                    "responses": {
                        "201": {
                            **_json(SUBSCRIPTION, "followed"),
                            "headers": self.location("the subscription's URL in the API"),
                        },
                        **self.errors(
                            400,
                            409,
                            unsafe=True,
                            reasons={
                                400: REASONS[400] + "; a URL of a single video is refused",
                                409: "the channel or playlist is already followed",
                            },
                        ),
                    },
                },
            },
            "/api/subscriptions/{subscription_id}": {
                "get": {
                    "operationId": "getSubscription",
                    "summary": "One subscription",
                    "parameters": one,
                    "responses": {
                        "200": _json(SUBSCRIPTION, "the subscription"),
                        **self.errors(404, reasons=SUBSCRIPTION_REASONS),
                    },
                },
                "patch": {
                    "operationId": "changeSubscription",
                    "summary": "Pause, resume or change a subscription's options",
                    "description": "A new `every` counts from the last check.",
                    "parameters": one,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": SUBSCRIPTION_CHANGES}},
                    },
                    "responses": {
                        "200": _json(SUBSCRIPTION, "the subscription, changed"),
                        **self.errors(400, 404, unsafe=True, reasons=SUBSCRIPTION_REASONS),
                    },
                },
                "delete": {
                    "operationId": "unsubscribe",
                    "summary": "Stop following (the jobs it queued and their files stay)",
                    "parameters": one,
                    "responses": {
                        "200": _json(SUBSCRIPTION, "no longer followed: what it was"),
                        **self.errors(404, unsafe=True, reasons=SUBSCRIPTION_REASONS),
                    },
                },
            },
        }

    def file_content(self) -> dict[str, Any]:
        """GET (and HEAD) of a file's bytes: werkzeug's conditional send_file."""
        disposition = {
            "description": "inline (or attachment with download=1, and always for a type "
            "a browser should not show) with the file's name, RFC 5987 filename* when "
            "it is not ASCII",
            "required": True,
            "schema": {"type": "string"},
        }
        headers = {
            "Content-Disposition": disposition,
            "Accept-Ranges": {"required": True, "schema": {"const": "bytes"}},
            "ETag": {"required": True, "schema": {"type": "string"}},
            "Last-Modified": {"required": True, "schema": {"type": "string"}},
        }
        body = {media: {"schema": {}} for media in FILE_MEDIA_RANGES}
        unsatisfiable = _json(
            ERROR, "the range starts past the end of the file, or asks for several ranges"
        )
        unsatisfiable["headers"] = {
            "Content-Range": {
                "description": "bytes */<size of the file>",
                "required": True,
                "schema": {"type": "string", "pattern": "^bytes \\*/[0-9]+$"},
            }
        }
        return {
            "operationId": "getFileContent",
            "summary": "A library file's bytes, whole or one byte range (seeking a player)",
            "description": "Only a file recorded in the library, inside the download folder "
            "and on this host's disk. One range per request is answered with 206 (a range "
            "that does not fit, several ranges or one that does not parse: 416). If-Range, "
            "If-None-Match and If-Modified-Since are honoured.",
            "parameters": [
                FILE_ID,
                _query(
                    "download",
                    {"enum": ["0", "1"]},
                    "1: as an attachment (save), 0 or absent: inline (play)",
                ),
                {
                    "name": "Range",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": RANGE_PATTERN},
                    "description": "one range: bytes=<first>-[<last>] or bytes=-<suffix length>",
                },
            ],
            "responses": {
                "200": {"description": "the whole file", "headers": headers, "content": body},
                "206": {
                    "description": "the bytes of the range asked for",
                    "headers": {
                        **headers,
                        "Content-Range": {
                            "description": "bytes <first>-<last>/<size of the file>",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^bytes [0-9]+-[0-9]+/[0-9]+$"},
                        },
                    },
                    "content": body,
                },
                "304": {"description": "not modified (If-None-Match, If-Modified-Since)"},
                "416": unsatisfiable,
                **self.errors(400, 403, 404, reasons=FILE_REASONS),
            },
        }

    @staticmethod
    def location(description: str = "the job's URL in the API") -> dict[str, Any]:
        return {
            "Location": {
                "description": description,
                "required": True,
                "schema": {"type": "string"},
            }
        }

    def components(self) -> dict[str, Any]:
        files = {"type": "array", "items": {"$ref": "#/components/schemas/File"}}
        counts = {"type": "integer", "minimum": 0}
        playlist = _object(
            {
                "entries": {**counts, "description": "entries the listing found"},
                "queued": {**counts, "description": "jobs the listing queued (its children)"},
                "known": {
                    **counts,
                    "description": "entries already in the library or the queue: not queued",
                },
                "done": {**counts, "description": "known or completed"},
                "children": _object({status: counts for status in STATUSES}),
            },
            "a playlist job's entries (null for a single video)",
        )
        playlist = {"oneOf": [playlist, {"type": "null"}]}
        components: dict[str, Any] = {
            "schemas": {
                "Error": _object({"error": {"type": "string"}}),
                "Job": _model_schema(Job),
                "JobWithFiles": _model_schema(Job, files=files, playlist=playlist),
                "File": _model_schema(File, name={"type": "string"}),
                "Subscription": _model_schema(
                    Subscription,
                    paused={"type": "boolean"},
                    every={"type": "string"},
                    every_seconds={
                        "type": "integer",
                        "minimum": MIN_EVERY_SECONDS,
                        "maximum": MAX_EVERY_SECONDS,
                    },
                ),
            }
        }
        if self.secured:
            components["securitySchemes"] = {BEARER: {"type": "http", "scheme": "bearer"}}
        return components


def openapi_document(secured: bool = False) -> dict[str, Any]:
    """The whole document; ``secured``: collector runs with a token (COLLECTOR_TOKEN)."""
    parts = _Document(secured)
    sign_in = (
        "This instance needs its token: send Authorization: Bearer <token>."
        if secured
        else "This instance runs without a token and answers loopback host names only."
    )
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "collector",
            "version": "1",
            "description": "Queue URLs, watch their downloads, list their files. " + sign_in,
        },
        "paths": parts.paths(),
        "components": parts.components(),
    }
    if secured:
        document["security"] = [{BEARER: []}]
    return document
