"""Schemathesis against the app, without a token and with one: every check, no failure.

Each operation of /api/openapi.json runs schemathesis' examples, coverage and fuzzing
phases, positive and negative data, through the WSGI transport (no server, no
network: the app starts no worker, so queued URLs are never fetched). Every check
schemathesis registers runs on every answer. Examples are few and derandomized,
so the run is the same each time and takes seconds.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, is_check_class, load_all_checks
from schemathesis.config import SchemathesisConfig

from collector.app import create_app
from collector.config.database import DatabaseConfig
from collector.repositories import FileRepository, JobRepository, SettingsRepository
from collector.repositories.paging import encode_cursor
from collector.web.auth import THROTTLE_EXTENSION
from collector.web.openapi import BEARER, CURSOR_FORMAT
from collector.web.throttle import FailureThrottle

TOKEN = "fuzz-token-0123456789-abcdef"
# The schemas load when pytest collects this module, so their databases live in a
# folder of the module's own, removed when its tests end.
_FOLDER = tempfile.TemporaryDirectory(prefix="collector-fuzz-")

load_all_checks()
ALL_CHECKS = [check for check in CHECKS.get_all() if not is_check_class(check)]

# A client that follows the document only sends cursors it was given (next_cursor):
# any pair of texts makes one, as encode_cursor builds them.
schemathesis.openapi.format(CURSOR_FORMAT, st.builds(encode_cursor, st.text(), st.text()))

# More examples for a longer run (docs/reliability.md): COLLECTOR_FUZZ_EXAMPLES=200, and
# COLLECTOR_FUZZ_REPORT=PATH to write what was tried there as JSON.
EXAMPLES = int(os.environ.get("COLLECTOR_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Status codes seen per (instance, operation), to prove the runs got past sign-in.
SEEN: dict[tuple[str, str], set[int]] = defaultdict(set)
# Cases per (instance, status code), every one validated by all of ALL_CHECKS.
CASES: Counter[tuple[str, int]] = Counter()


def _app(name: str, token: str | None) -> Flask:
    path = Path(_FOLDER.name) / f"{name}.db"
    # GET /api/events is a stream that stays open (10 minutes, web/events.py) and the
    # WSGI transport reads an answer to its end: here a stream ends right after its
    # first events, which are then checked like any answer (status, headers, type).
    # Those are the next tick's: ticks every 50 ms keep each such answer short.
    config = {"EVENTS_STREAM_SECONDS": 0, "EVENTS_INTERVAL": 0.05}
    app = create_app({"TESTING": True, "DB_PATH": str(path), "AUTH_TOKEN": token, **config})
    # The negative cases send wrong tokens, all from one address: with the real limit
    # (5 a minute, test_sign_in_throttle.py) every later answer would be a 429 and the
    # operations would never be reached past sign-in. The limit stays in force, higher.
    app.extensions[THROTTLE_EXTENSION] = FailureThrottle(max_failures=1_000_000)
    return app


OPEN = schemathesis.openapi.from_wsgi("/api/openapi.json", _app("open", None))
SECURED = schemathesis.openapi.from_wsgi(
    "/api/openapi.json",
    _app("secured", TOKEN),
    config=SchemathesisConfig.from_dict({"auth": {"openapi": {BEARER: {"bearer": TOKEN}}}}),
)


@pytest.fixture(scope="module", autouse=True)
def _remove_the_databases():
    yield
    _FOLDER.cleanup()


@OPEN.parametrize()
@FUZZ
def test_without_a_token(case) -> None:
    response = case.call_and_validate(checks=ALL_CHECKS)
    SEEN["open", case.operation.label].add(response.status_code)
    CASES["open", response.status_code] += 1


@SECURED.parametrize()
@FUZZ
def test_with_a_token(case) -> None:
    response = case.call_and_validate(checks=ALL_CHECKS)
    SEEN["secured", case.operation.label].add(response.status_code)
    CASES["secured", response.status_code] += 1


def _seed_a_file(name: str) -> str:
    """A video in the instance's library and download folder (the fuzzing ran on ids it
    made up, all 404s); its id."""
    folder = Path(_FOLDER.name) / f"{name}-downloads"
    (folder / "job").mkdir(parents=True, exist_ok=True)
    path = folder / "job" / "Clip été.mp4"
    path.write_bytes(bytes(range(256)) * 8)
    db = DatabaseConfig(Path(_FOLDER.name) / f"{name}.db")
    try:
        SettingsRepository(db).set("download_dir", str(folder))
        job = JobRepository(db).create_job("https://example.com/clip", "other")
        return FileRepository(db).create_file(job.id, str(path), "video", 2048).id
    finally:
        db.close()


@pytest.mark.parametrize(
    ("instance", "schema", "auth"),
    [("open", OPEN, {}), ("secured", SECURED, {"Authorization": f"Bearer {TOKEN}"})],
    ids=["open", "secured"],
)
def test_a_file_s_answers_follow_the_document(instance: str, schema, auth: dict) -> None:
    """A recorded file's 200, 206 and 416, in both modes, pass every check."""
    operation = schema["/api/files/{file_id}/content"]["GET"]
    file_id = _seed_a_file(instance)
    asked = [({}, {}), ({}, {"Range": "bytes=10-19"}), ({"download": "1"}, {"Range": "bytes=-5"})]
    asked.append(({}, {"Range": "bytes=4096-"}))
    for query, headers in asked:
        case = operation.Case(
            path_parameters={"file_id": file_id}, query=query, headers={**headers, **auth}
        )
        response = case.call_and_validate(checks=ALL_CHECKS)
        SEEN[instance, operation.label].add(response.status_code)
        CASES[instance, response.status_code] += 1
    assert {200, 206, 416} <= SEEN[instance, operation.label]


def test_every_operation_was_answered_past_sign_in() -> None:
    """The runs above got past sign-in everywhere (not only 401s), and every operation
    that names no job or subscription (a random id is a 404) answered a success."""
    labels = {result.ok().label for result in OPEN.get_all_operations()}
    # Every operation but the document's own (schemathesis loaded it, and leaves it out).
    assert len(labels) == 15
    assert "GET /api/openapi.json" not in labels
    for instance in ("open", "secured"):
        for label in labels:
            seen = SEEN[instance, label]
            assert seen - {401, 403}, (instance, label, seen)
            if "{job_id}" not in label and "{subscription_id}" not in label:
                assert any(200 <= code < 300 for code in seen), (instance, label, seen)


def test_what_was_tried_is_reported() -> None:
    """Every answer of both runs was checked; written out when COLLECTOR_FUZZ_REPORT asks."""
    instances = {instance for instance, _ in CASES}
    assert instances == {"open", "secured"}
    report = {
        "examples_per_operation": EXAMPLES,
        "checks": sorted(check.__name__ for check in ALL_CHECKS),
        "failures": 0,  # any failure above fails its test, and this one runs after them
        "cases": {
            instance: {
                "total": sum(n for (i, _), n in CASES.items() if i == instance),
                "by_status": {
                    str(code): n for (i, code), n in sorted(CASES.items()) if i == instance
                },
            }
            for instance in sorted(instances)
        },
    }
    assert all(entry["total"] > 0 for entry in report["cases"].values())
    target = os.environ.get("COLLECTOR_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps(report, indent=2) + "\n")
