"""The fault runs on storage: a database disk that fills, a download folder that fills,
a damaged database file (``collector bench faults``, see faults.py).

The two full-disk scenarios mount a small tmpfs, which needs root; without it they
report why they did not run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .fleet import Fleet, request, wait_for
from .loopback import LoopbackMedia


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (root only), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def can_mount() -> str | None:
    """None if a tmpfs can be mounted here, else why not."""
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs"
    with tempfile.TemporaryDirectory() as scratch:
        try:
            with tmpfs(Path(scratch) / "probe", "1m"):
                return None
        except (OSError, subprocess.CalledProcessError) as exc:
            return f"cannot mount a tmpfs here: {exc}"


def database_full(folder: Path, size: str = "4m", posts: int = 3000) -> dict[str, Any]:
    """Queue jobs through the API while the database's disk fills; then free space."""
    why_not = can_mount()
    if why_not is not None:
        return {"ran": False, "why": why_not}
    with tmpfs(folder / "disk", size) as disk:
        fleet = Fleet(folder, disk / "collector.db")
        acked: set[str] = set()
        statuses: Counter[int] = Counter()
        try:
            port = fleet.serve(workers=0)
            _fill(disk, leave=256 * 1024)
            for number in range(posts):
                status, body = request(
                    port, "POST", "/api/jobs", {"url": f"https://example.com/full/{number}"}
                )
                statuses[status] += 1
                if status == 201:
                    acked.add(json.loads(body)["id"])
                if statuses[507] >= 50:
                    break
            full_healthz = request(port, "GET", "/healthz")[0]
            (disk / "filler").unlink()
            after_status, after_body = request(
                port, "POST", "/api/jobs", {"url": "https://example.com/full/after"}
            )
            if after_status == 201:
                acked.add(json.loads(after_body)["id"])
        finally:
            fleet.stop()
        present = fleet.job_ids()
        return {
            "ran": True,
            "tmpfs": size,
            "answers": {str(code): count for code, count in sorted(statuses.items())},
            "other_5xx": sum(n for code, n in statuses.items() if code >= 500 and code != 507),
            "healthz_while_full": full_healthz,
            "post_after_freeing_space": after_status,
            "acknowledged": len(acked),
            "lost": len(acked - present),
            "kept_without_acknowledgement": len(present - acked),
            "full_lines_logged": fleet.logged("no space left for the database"),
            "tracebacks_logged": fleet.logged("Traceback"),
        }


def _fill(disk: Path, leave: int) -> None:
    """Fill the filesystem at ``disk`` with one file until ``leave`` bytes remain."""
    free = shutil.disk_usage(disk).free
    with (disk / "filler").open("wb") as filler:
        filler.write(b"\0" * max(0, free - leave))


def downloads_full(folder: Path, jobs: int = 3, clip_bytes: int = 1_500_000) -> dict[str, Any]:
    """The download folder fills mid-download; the job waits, and all finish once it grows."""
    why_not = can_mount()
    if why_not is not None:
        return {"ran": False, "why": why_not}
    media = LoopbackMedia(size=clip_bytes).start()
    with tmpfs(folder / "downloads", "2m") as downloads:
        fleet = Fleet(folder, folder / "collector.db", downloads=downloads)
        try:
            fleet.run("settings", "min_free_space", "0")
            fleet.add([media.url(f"big-{n}") for n in range(jobs)])
            fleet.worker("worker")
            stopped = wait_for(lambda: fleet.logged("not claiming"), 60)
            while_full = fleet.statuses()
            subprocess.run(
                ["mount", "-o", "remount,size=64m", str(downloads)], check=True, capture_output=True
            )
            grown_at = time.monotonic()
            done = wait_for(lambda: fleet.statuses().get("completed", 0) == jobs, 120)
            resumed_s = time.monotonic() - grown_at
        finally:
            fleet.stop()
            media.stop()
        spent = fleet.count("SELECT COALESCE(SUM(retry_count), 0) FROM jobs")
        statuses = fleet.statuses()
        return {
            "ran": True,
            "tmpfs": "2m, then 64m",
            "clip_bytes": clip_bytes,
            "jobs": jobs,
            "stopped_claiming": bool(stopped),
            "while_full": while_full,
            "all_completed_after_growing": bool(done),
            "seconds_to_finish_after_growing": round(resumed_s, 1),
            "retries_spent": spent,
            "jobs_by_status": statuses,
            "lost_jobs": jobs - sum(statuses.values()),
            "not_claiming_lines": fleet.logged("not claiming"),
            "claiming_again_lines": fleet.logged("claiming again"),
            "tracebacks_logged": fleet.logged("Traceback"),
        }


DAMAGE_COMMANDS = (
    ("jobs",),
    ("add", "https://example.com/after-damage"),
    ("cancel", "00000000-0000-0000-0000-000000000000"),
    ("settings",),
    ("worker", "--burst"),
    ("db", "status"),
    ("db", "check"),
    ("db", "upgrade"),
)


def damaged(folder: Path, jobs: int = 3000) -> dict[str, Any]:
    """Overwrite the jobs table's pages; every command, and serve, must say so in one line."""
    from collector.bench.dataset import create_dataset

    fleet = Fleet(folder, folder / "collector.db")
    with fleet.database() as db:
        create_dataset(db, jobs, 3, "realistic", 5)
        db.execute_query("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = [
            row[0]
            for row in db.execute_query(
                "SELECT pageno FROM dbstat WHERE name = 'jobs' ORDER BY pageno"
            )
        ]
        page_size = int(db.execute_query("PRAGMA page_size")[0][0])
    damaged_pages = [pages[0], *pages[len(pages) // 2 : len(pages) // 2 + 3]]
    with fleet.db_path.open("r+b") as file:
        for page in damaged_pages:
            file.seek((page - 1) * page_size)
            file.write(b"\xa5" * page_size)
    commands = {}
    for command in DAMAGE_COMMANDS:
        done = fleet.run(*command, timeout=60)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        commands[" ".join(command[:2])] = {
            "exit": done.returncode,
            "stderr_lines": len(lines),
            "traceback": "Traceback" in done.stderr,
            "first_line": lines[0][:200] if lines else "",
        }
    try:
        port = fleet.serve(workers=1)
        answers = {
            path: request(port, "GET", path)[0] for path in ("/healthz", "/api/jobs", "/api/stats")
        }
        answers["POST /api/jobs"] = request(
            port, "POST", "/api/jobs", {"url": "https://example.com/x"}
        )[0]
    finally:
        codes = fleet.stop()
    return {
        "jobs": jobs,
        "pages_overwritten": len(damaged_pages),
        "commands": commands,
        "serve_answers": answers,
        "serve_exit": codes.get("serve"),
        "tracebacks_logged_by_serve": fleet.logged("Traceback"),
    }
