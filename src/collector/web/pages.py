"""The dashboard pages: overview, jobs, one job, files. Every list is one keyset page."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from collector.models.file import FILE_TYPES
from collector.models.formats import InvalidFormatError
from collector.models.job import PLATFORMS, Job
from collector.models.redaction import redact_text, redact_url
from collector.models.urls import InvalidURLError
from collector.models.values import quoted
from collector.repositories import FileRepository, JobRepository
from collector.repositories.job_repository import STATUS_FILTERS
from collector.repositories.queue import JobNotFoundError, JobQueue, JobStateError
from collector.repositories.subscriptions import (
    SubscriptionNotFoundError,
    SubscriptionRepository,
)

from . import params, views
from .charts import status_bars

bp = Blueprint("pages", __name__)

PAGE_SIZE = 50
ACTIVE_ON_DASHBOARD = 20
RECENT_ON_DASHBOARD = 10
MAX_URLS_PER_FORM = 100
OUTCOMES = {
    "cancelled": "Cancelled.",
    "cancelling": "Cancelling: the download stops within a few seconds.",
    "pending": "Queued again.",
}


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    jobs = JobRepository()
    stats = jobs.get_job_statistics()
    active = jobs.page(limit=ACTIVE_ON_DASHBOARD, active=True)
    recent = jobs.get_recent_jobs(RECENT_ON_DASHBOARD)
    # Both lists' thumbnails in one statement, not one a job.
    thumbnails = FileRepository().get_thumbnails([j.id for j in [*active.items, *recent]])
    return render_template(
        "dashboard.html",
        stats=stats,
        total=sum(stats.values()),
        bars=status_bars(stats),
        active=active,
        recent=recent,
        thumbnails=thumbnails,
    )


@bp.post("/jobs")
def add_jobs() -> ResponseReturnValue:
    """Queue the URLs of the dashboard's form (one per line): all of them or none."""
    urls = request.form.get("urls", "").split()
    # "" (the select's first choice): the default_format setting.
    format_ = request.form.get("format", "") or None
    queue = JobQueue()
    try:
        if not urls:
            raise InvalidURLError("paste at least one URL")
        if len(urls) > MAX_URLS_PER_FORM:
            raise InvalidURLError(f"at most {MAX_URLS_PER_FORM} URLs at once")
        # Every URL checked before any is queued.
        results = queue.enqueue_many(urls, format=format_)
    except (InvalidURLError, InvalidFormatError) as exc:
        flash(redact_text(str(exc)), "error")  # the message may quote the URL
        return redirect(url_for("pages.dashboard"), code=303)
    created = sum(1 for r in results if r.created)
    message = f"Queued {created} job{'s' if created != 1 else ''}."
    if created < len(results):
        message += f" {len(results) - created} already queued."
    flash(message, "ok")
    return redirect(url_for("pages.dashboard"), code=303)


@bp.get("/jobs")
def jobs() -> ResponseReturnValue:
    args = params.filled(request.args)
    status = params.choice(args, "status", STATUS_FILTERS)
    platform = params.choice(args, "platform", PLATFORMS)
    q = params.search(args)
    subscription = params.subscription_id(args)
    limit = params.limit(args, PAGE_SIZE)
    page = JobRepository().page(
        limit=limit,
        cursor=params.cursor(args),
        status=status,
        platform=platform,
        q=q,
        subscription=subscription,
    )
    filters = {"status": status, "platform": platform, "q": q, "subscription": subscription}
    # The pager's links keep the filters and a page size that was asked for.
    kept = {**filters, "limit": None if limit == PAGE_SIZE else limit}
    next_url = None
    if page.next_cursor:
        next_url = url_for("pages.jobs", **kept, cursor=page.next_cursor)
    return render_template(
        "jobs.html",
        page=page,
        filters=filters,
        first_url=url_for("pages.jobs", **kept),
        statuses=STATUS_FILTERS,
        platforms=PLATFORMS,
        first_page=params.cursor(args) is not None,
        next_url=next_url,
        subscription=SubscriptionRepository().get(subscription) if subscription else None,
    )


@bp.get("/jobs/<job_id>")
def job(job_id: str) -> ResponseReturnValue:
    found = params.job_or_404(job_id)
    files = FileRepository().get_job_files(found.id)
    jobs = JobRepository()
    playlist = children = next_url = None
    if found.is_playlist:
        playlist = views.playlist_dict(found, jobs.children_counts(found.id))
        args = params.filled(request.args)
        limit = params.limit(args, PAGE_SIZE)
        children = jobs.page(limit=limit, cursor=params.cursor(args), parent=found.id)
        if children.next_cursor:
            next_url = url_for("pages.job", job_id=found.id, cursor=children.next_cursor)
    parent = jobs.get_job(found.parent_id) if found.parent_id else None
    subscription = None
    if found.subscription_id:
        subscription = SubscriptionRepository().find(found.subscription_id)
    return render_template(
        "job.html",
        job=found,
        files=files,
        thumbnail=views.thumbnail(files),
        playlist=playlist,
        children=children,
        children_next=next_url,
        parent=parent,
        subscription=subscription,
    )


@bp.post("/jobs/<job_id>/cancel")
def cancel(job_id: str) -> ResponseReturnValue:
    return _change(job_id, JobQueue().cancel)


@bp.post("/jobs/<job_id>/retry")
def retry(job_id: str) -> ResponseReturnValue:
    return _change(job_id, JobQueue().retry)


def _change(job_id: str, action: Callable[[str], Job]) -> ResponseReturnValue:
    """Cancel or retry from a form: the outcome, or why not, flashed on the job's page."""
    try:
        changed = action(job_id)
    except JobNotFoundError as exc:
        abort(404, str(exc))
    except JobStateError as exc:
        flash(str(exc), "error")
    else:
        flash(OUTCOMES.get(changed.status, f"The job is {changed.status}."), "ok")
    return redirect(url_for("pages.job", job_id=job_id), code=303)


@bp.get("/files")
def files() -> ResponseReturnValue:
    args = params.filled(request.args)
    file_type = params.choice(args, "type", FILE_TYPES)
    q = params.search(args)
    limit = params.limit(args, PAGE_SIZE)
    repository = FileRepository()
    page = repository.page(limit=limit, cursor=params.cursor(args), file_type=file_type, q=q)
    counts = repository.get_type_counts()
    kept = {"type": file_type, "q": q, "limit": None if limit == PAGE_SIZE else limit}
    next_url = None
    if page.next_cursor:
        next_url = url_for("pages.files", **kept, cursor=page.next_cursor)
    return render_template(
        "files.html",
        first_url=url_for("pages.files", **kept),
        page=page,
        file_type=file_type,
        q=q,
        counts=counts,
        total=sum(counts.values()),
        first_page=params.cursor(args) is not None,
        next_url=next_url,
    )


# -- subscriptions ---------------------------------------------------------------------------

SUBSCRIPTION_OUTCOMES = {
    "pause": "Paused: no checks until resumed.",
    "resume": "Resumed.",
    "remove": "Removed: the videos it queued and their files stay.",
}


@bp.get("/subscriptions")
def subscriptions() -> ResponseReturnValue:
    return render_template("subscriptions.html", subscriptions=SubscriptionRepository().list_all())


@bp.post("/subscriptions")
def subscribe() -> ResponseReturnValue:
    """Follow the form's URL with its options (empty fields: the defaults)."""
    form = request.form
    keep = form.get("keep_newest", "").strip()
    try:
        sub = SubscriptionRepository().create(
            form.get("url", "").strip(),
            every=form.get("every", "").strip() or "6h",
            format=form.get("format", "") or None,
            after_date=form.get("after_date", "").strip() or None,
            keep_newest=_whole_number(keep),
        )
    except ValueError as exc:  # every refusal names the fault; the URL's may quote it
        flash(redact_text(str(exc)), "error")
    else:
        flash(f"Subscribed: the first check of {redact_url(sub.url)} is due now.", "ok")
    return redirect(url_for("pages.subscriptions"), code=303)


def _whole_number(text: str) -> int | str | None:
    """A form's number field: None if empty, an int if it is digits, else the text (which
    the repository refuses, naming the field)."""
    if text == "":
        return None
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else text


@bp.post("/subscriptions/<subscription_id>/pause")
def pause_subscription(subscription_id: str) -> ResponseReturnValue:
    return _subscription_change(subscription_id, "pause")


@bp.post("/subscriptions/<subscription_id>/resume")
def resume_subscription(subscription_id: str) -> ResponseReturnValue:
    return _subscription_change(subscription_id, "resume")


@bp.post("/subscriptions/<subscription_id>/remove")
def remove_subscription(subscription_id: str) -> ResponseReturnValue:
    return _subscription_change(subscription_id, "remove")


def _subscription_change(subscription_id: str, action: str) -> ResponseReturnValue:
    repository = SubscriptionRepository()
    changes = {"pause": repository.pause, "resume": repository.resume, "remove": repository.remove}
    try:
        if not params.can_be_an_id(subscription_id):
            raise SubscriptionNotFoundError(f"no subscription with id {quoted(subscription_id)}")
        changes[action](subscription_id)
    except SubscriptionNotFoundError as exc:
        abort(404, str(exc))
    flash(SUBSCRIPTION_OUTCOMES[action], "ok")
    return redirect(url_for("pages.subscriptions"), code=303)
