"""The JSON API: jobs, files, statistics, health, and the OpenAPI document describing them."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from collector.config import conditions
from collector.config.database import DatabaseDamagedError, DatabaseFullError, get_db_config
from collector.models.file import FILE_TYPES
from collector.models.formats import InvalidFormatError, check_format
from collector.models.job import PLATFORMS, Job
from collector.models.redaction import redact_text
from collector.models.subscription import InvalidOptionError
from collector.models.urls import InvalidURLError
from collector.models.values import quoted
from collector.repositories import FileRepository, JobRepository
from collector.repositories.job_repository import STATUS_FILTERS
from collector.repositories.queue import JobNotFoundError, JobQueue, JobStateError
from collector.repositories.subscriptions import (
    NotAPlaylistError,
    SubscriptionExistsError,
    SubscriptionNotFoundError,
    SubscriptionRepository,
)

from . import content, params
from .auth import required_token
from .openapi import openapi_document
from .views import file_dict, job_dict, playlist_dict, subscription_dict

bp = Blueprint("api", __name__)

DEFAULT_PAGE = 50


STARTUP_ERROR = "collector.startup_error"


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """ok, or 503 with why: a damaged file or a full disk, as this process has met them.

    The probe reads the newest job and the counts (a few pages, whatever the size);
    damage elsewhere shows once any request or worker meets it, or `collector db check`.
    """
    db = get_db_config()
    if STARTUP_ERROR not in current_app.extensions:
        try:
            repo = JobRepository(db)
            repo.page(limit=1)
            repo.get_job_statistics()
        except (DatabaseDamagedError, DatabaseFullError):
            pass  # noted as the database's condition, answered below
    condition = conditions.current(db.key)
    if condition is None:
        return jsonify(status="ok")
    return jsonify(status=condition.kind, error=condition.describe()), 503


@bp.get("/api/stats")
def stats() -> ResponseReturnValue:
    return jsonify(JobRepository().get_job_statistics())


@bp.get("/api/jobs")
def list_jobs() -> ResponseReturnValue:
    args = request.args
    try:
        page = JobRepository().page(
            limit=params.limit(args, DEFAULT_PAGE),
            cursor=params.cursor(args),
            status=params.choice(args, "status", STATUS_FILTERS),
            platform=params.choice(args, "platform", PLATFORMS),
            q=params.search(args),
            parent=params.job_id(args, "parent"),
            subscription=params.subscription_id(args),
        )
    except ValueError as exc:  # parent and subscription together
        abort(400, str(exc))
    return jsonify(items=[job_dict(job) for job in page.items], next_cursor=page.next_cursor)


@bp.post("/api/jobs")
def create_job() -> ResponseReturnValue:
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # nested too deeply to parse, so not a job's object either
        payload = None
    body = params.json_object(payload)
    if "url" not in body:
        abort(400, 'missing "url"')
    unknown = sorted(set(body) - {"url", "format"})
    if unknown:
        abort(400, f'unknown field {quoted(unknown[0])}; the body takes only "url" and "format"')
    format_ = body.get("format")
    try:
        if format_ is not None:
            check_format(format_)
        job, created = JobQueue().enqueue(body["url"], format=format_)
    except InvalidFormatError as exc:
        abort(400, str(exc))
    except InvalidURLError as exc:
        abort(400, redact_text(str(exc)))  # the message may quote the URL
    response = jsonify(job_dict(job))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("api.get_job", job_id=job.id)
    return response


@bp.get("/api/jobs/<job_id>")
def get_job(job_id: str) -> ResponseReturnValue:
    job = params.job_or_404(job_id)
    files = FileRepository().get_job_files(job.id)
    playlist = None
    if job.is_playlist:
        playlist = playlist_dict(job, JobRepository().children_counts(job.id))
    return jsonify({**job_dict(job), "files": [file_dict(f) for f in files], "playlist": playlist})


@bp.post("/api/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> ResponseReturnValue:
    return _change(JobQueue().cancel, job_id)


@bp.post("/api/jobs/<job_id>/retry")
def retry_job(job_id: str) -> ResponseReturnValue:
    return _change(JobQueue().retry, job_id)


def _change(action: Callable[[str], Job], job_id: str) -> ResponseReturnValue:
    try:
        return jsonify(job_dict(action(job_id)))
    except JobNotFoundError as exc:
        abort(404, str(exc))
    except JobStateError as exc:
        abort(409, str(exc))


# What a subscription's body may hold: POST takes url and the options, PATCH the options.
SUBSCRIPTION_OPTIONS = ("every", "format", "after_date", "keep_newest")
REFUSED = (InvalidURLError, NotAPlaylistError, InvalidFormatError, InvalidOptionError)


def _body(allowed: tuple[str, ...]) -> dict[str, object]:
    """The request's JSON object, holding only ``allowed`` fields (else a 400)."""
    try:
        payload = request.get_json(silent=True)
    except RecursionError:
        payload = None
    body = params.json_object(payload)
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        names = ", ".join(f'"{name}"' for name in allowed)
        abort(400, f"unknown field {quoted(unknown[0])}; the body takes only {names}")
    return body


def _subscription_id(subscription_id: str) -> str:
    """A path's id, or a 404 if no row could have it (params.can_be_an_id)."""
    if not params.can_be_an_id(subscription_id):
        abort(404, f"no subscription with id {quoted(subscription_id)}")
    return subscription_id


@bp.get("/api/subscriptions")
def list_subscriptions() -> ResponseReturnValue:
    found = SubscriptionRepository().list_all()
    return jsonify(items=[subscription_dict(sub) for sub in found])


@bp.post("/api/subscriptions")
def create_subscription() -> ResponseReturnValue:
    body = _body(("url", *SUBSCRIPTION_OPTIONS))
    if "url" not in body:
        abort(400, 'missing "url"')
    options = {name: body[name] for name in SUBSCRIPTION_OPTIONS if name in body}
    try:
        sub = SubscriptionRepository().create(body["url"], **options)
    except REFUSED as exc:
        abort(400, redact_text(str(exc)))  # the message may quote the URL
    except SubscriptionExistsError as exc:
        abort(409, redact_text(str(exc)))
    response = jsonify(subscription_dict(sub))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_subscription", subscription_id=sub.id)
    return response


@bp.get("/api/subscriptions/<subscription_id>")
def get_subscription(subscription_id: str) -> ResponseReturnValue:
    try:
        return jsonify(
            subscription_dict(SubscriptionRepository().get(_subscription_id(subscription_id)))
        )
    except SubscriptionNotFoundError as exc:
        abort(404, str(exc))


@bp.patch("/api/subscriptions/<subscription_id>")
def change_subscription(subscription_id: str) -> ResponseReturnValue:
    body = _body((*SUBSCRIPTION_OPTIONS, "paused"))
    try:
        return jsonify(
            subscription_dict(
                SubscriptionRepository().update(_subscription_id(subscription_id), body)
            )
        )
    except SubscriptionNotFoundError as exc:
        abort(404, str(exc))
    except ValueError as exc:
        abort(400, str(exc))


@bp.delete("/api/subscriptions/<subscription_id>")
def remove_subscription(subscription_id: str) -> ResponseReturnValue:
    """Stop following; the jobs it queued and their files stay. Answers what was removed."""
    try:
        removed = SubscriptionRepository().remove(_subscription_id(subscription_id))
    except SubscriptionNotFoundError as exc:
        abort(404, str(exc))
    return jsonify(subscription_dict(removed))


@bp.get("/api/files")
def list_files() -> ResponseReturnValue:
    args = request.args
    page = FileRepository().page(
        limit=params.limit(args, DEFAULT_PAGE),
        cursor=params.cursor(args),
        file_type=params.choice(args, "type", FILE_TYPES),
        q=params.search(args),
    )
    return jsonify(items=[file_dict(f) for f in page.items], next_cursor=page.next_cursor)


@bp.get("/api/files/<file_id>/content")
def file_content(file_id: str) -> ResponseReturnValue:
    """A library file's bytes (Range requests too): inline, or ``?download=1`` to save it."""
    download = params.flag(request.args, "download")
    return content.serve(file_id, download=download)


@bp.get("/api/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document(secured=required_token() is not None))
