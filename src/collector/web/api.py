"""The JSON API blueprint (the part that exists so far: health and statistics)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from collector.repositories import JobRepository

bp = Blueprint("api", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    JobRepository().db.execute_query("SELECT 1")
    return jsonify(status="ok")


@bp.get("/api/stats")
def stats() -> Any:
    return jsonify(JobRepository().get_job_statistics())
