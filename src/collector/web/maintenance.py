"""The maintenance page: orphaned file rows (with a confirmed clean-up) and index health."""

from __future__ import annotations

from collections import Counter

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from collector.config.database import get_db
from collector.models import ALL_MODELS
from collector.repositories import FileRepository, JobRepository
from collector.schema.reconcile import INDEX_STATES, derived_states, inspect

bp = Blueprint("maintenance", __name__)

# Orphans are read through the trigger-kept orphan ids and idx_files_job_id: the cost
# is the number of orphans, not of files. The pages list the first ones.
ORPHANS_SHOWN = 100


@bp.get("/maintenance")
def maintenance() -> ResponseReturnValue:
    orphans = FileRepository().get_orphaned_files()
    conn = get_db()
    indexes = inspect(conn, ALL_MODELS)
    tally = Counter(state.state for state in indexes)
    return render_template(
        "maintenance.html",
        orphans=orphans[:ORPHANS_SHOWN],
        orphan_count=len(orphans),
        indexes=indexes,
        derived=derived_states(conn, ALL_MODELS),
        tally={state: tally.get(state, 0) for state in INDEX_STATES},
        jobs_total=JobRepository().count(),
        files_total=FileRepository().count(),
    )


@bp.get("/maintenance/orphans")
def confirm_cleanup() -> ResponseReturnValue:
    """Ask first: what the clean-up removes, and a button to go ahead."""
    orphans = FileRepository().get_orphaned_files()
    return render_template(
        "cleanup.html", orphans=orphans[:ORPHANS_SHOWN], orphan_count=len(orphans)
    )


@bp.post("/maintenance/orphans")
def cleanup() -> ResponseReturnValue:
    if request.form.get("confirm") != "yes":
        abort(400, "confirm the clean-up on its confirmation page first")
    removed = FileRepository().delete_orphaned_files()
    flash(f"Removed {removed} orphaned file record{'s' if removed != 1 else ''}.", "ok")
    return redirect(url_for("maintenance.maintenance"), code=303)
