"""The fault runs: what a fleet survives, and what each fault lost.

``collector bench faults`` runs each scenario on a database of its own, with the
real commands in their own processes, and checks the database afterwards:

- ``worker-kill``: a worker is SIGKILLed in the middle of a download; another one
  must take the job over once its lease expires and finish every job.
- ``upgrade-kill``: ``collector db upgrade`` is SIGKILLed again and again while it
  builds the indexes of an index-less database; after each kill the file must pass
  the integrity check with every row, and the next upgrade must finish the job.
- ``database-full``: the database sits on a tmpfs that fills up while the API
  queues jobs; every acknowledged job must be in the database, every refusal a
  clear 507, and queueing must work again once space is freed.
- ``downloads-full``: the download folder is a tmpfs too small for the queue; the
  worker must hand the job back and wait, and finish everything once it grows.
- ``damaged``: pages of the database are overwritten; every command must exit 1
  with one line, and ``serve`` answer 503.

The tmpfs scenarios need root (``mount``); without it they report why they did not
run. Nothing here asserts: it reports, and the tests check the same behaviours.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from collector.schema.sql import quote_identifier

from .fleet import Fleet, request
from .loopback import LoopbackMedia
from .upgrade_wait import build_indexless

Scenario = Callable[[Path], dict[str, Any]]
POLL = 0.1


def _wait(condition: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(POLL)
    return None


def _statuses(fleet: Fleet) -> dict[str, int]:
    from collector.config.database import DatabaseConfig

    db = DatabaseConfig(fleet.db_path)
    try:
        rows = db.execute_query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
        return {row["status"]: row["n"] for row in rows}
    finally:
        db.close()


def _add(fleet: Fleet, urls: list[str]) -> list[str]:
    done = fleet.run("add", "--json", *urls)
    if done.returncode != 0:
        raise RuntimeError(f"collector add failed: {done.stderr.strip()}")
    return [job["id"] for job in json.loads(done.stdout)]


def worker_kill(folder: Path, jobs: int = 6, lease: float = 2.0) -> dict[str, Any]:
    """SIGKILL a worker mid-download; a second worker must finish every job."""
    media = LoopbackMedia(size=64_000, delay=0.4).start()  # about 1.6 s a download
    fleet = Fleet(folder, folder / "collector.db")
    try:
        ids = _add(fleet, [media.url(f"kill-{n}") for n in range(jobs)])
        fleet.worker("doomed", "--lease-seconds", str(lease))
        running = _wait(lambda: _statuses(fleet).get("running"), 60)
        time.sleep(0.5)  # well inside the download
        fleet.kill("doomed")
        killed_at = time.monotonic()
        fleet.worker("survivor", "--lease-seconds", str(lease))
        done = _wait(lambda: _statuses(fleet).get("completed", 0) == jobs, 120)
        recovered_s = time.monotonic() - killed_at
    finally:
        fleet.stop()
        media.stop()
    statuses = _statuses(fleet)
    retried = _count(fleet, "SELECT COUNT(*) FROM jobs WHERE retry_count > 0")
    return {
        "jobs": jobs,
        "running_when_killed": running or 0,
        "all_completed": bool(done),
        "seconds_to_finish_after_kill": round(recovered_s, 1),
        "jobs_retried_after_the_kill": retried,
        "jobs_by_status": statuses,
        "lost_jobs": jobs - sum(statuses.values()),
        "acknowledged": len(ids),
    }


def _count(fleet: Fleet, sql: str) -> int:
    from collector.config.database import DatabaseConfig

    db = DatabaseConfig(fleet.db_path)
    try:
        return int(db.execute_query(sql)[0][0])
    finally:
        db.close()


def upgrade_kill(folder: Path, jobs: int = 300_000, kills: int = 7) -> dict[str, Any]:
    """SIGKILL ``db upgrade`` at random moments of an upgrade; check the file after each.

    Every kill starts from the same index-less database (a copy), so the kills land
    all over the upgrade; after each, the file must pass the integrity check with
    every row, and the next ``db upgrade`` must finish what the killed one left.
    """
    fleet = Fleet(folder, folder / "collector.db")
    template = folder / "index-less.db"
    build_indexless(template, jobs, seed=3)
    _fresh_copy(template, fleet.db_path)
    before = _row_counts(fleet)
    started = time.monotonic()
    full = fleet.run("db", "upgrade")
    upgrade_s = time.monotonic() - started
    rng = random.Random(7)
    results = []
    for number in range(kills):
        _fresh_copy(template, fleet.db_path)
        process = fleet.start(f"upgrade-{number}", "db", "upgrade")
        after = rng.uniform(0.05, 0.95) * upgrade_s
        time.sleep(after)
        finished_first = process.poll() is not None
        process.kill()
        process.wait()
        fleet.processes.clear()
        killed = {
            "killed_after_seconds": round(after, 1),
            "killed_after_it_finished": finished_first,
            "indexes_present": _count(
                fleet,
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'",
            ),
            "integrity_check": _integrity(fleet),
            "rows_equal": _row_counts(fleet) == before,
        }
        killed["next_upgrade_exit"] = fleet.run("db", "upgrade").returncode
        status = fleet.run("db", "status", "--json")
        killed["indexes_not_ok_after_it"] = _indexes_not_ok(status.stdout)
        killed["rows_equal_after_it"] = _row_counts(fleet) == before
        results.append(killed)
    return {
        "jobs": jobs,
        "upgrade_seconds": round(upgrade_s, 1),
        "first_upgrade_exit": full.returncode,
        "kills": results,
        "killed_mid_upgrade": sum(not kill["killed_after_it_finished"] for kill in results),
        "integrity_ok_after_every_kill": all(k["integrity_check"] == "ok" for k in results),
        "rows_equal_after_every_kill": all(
            k["rows_equal"] and k["rows_equal_after_it"] for k in results
        ),
        "upgrade_finished_after_every_kill": all(
            k["next_upgrade_exit"] == 0 and not k["indexes_not_ok_after_it"] for k in results
        ),
    }


def _fresh_copy(template: Path, path: Path) -> None:
    """``path`` as a copy of ``template``, with no journal of an earlier file beside it."""
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)


def _row_counts(fleet: Fleet) -> dict[str, int]:
    return {
        table: _count(fleet, "SELECT COUNT(*) FROM " + quote_identifier(table))
        for table in ("jobs", "files")
    }


def _integrity(fleet: Fleet) -> str:
    from collector.config.database import DatabaseConfig

    db = DatabaseConfig(fleet.db_path)
    try:
        return str(db.execute_query("PRAGMA integrity_check")[0][0])
    finally:
        db.close()


def _indexes_not_ok(status_json: str) -> list[str]:
    try:
        tables = json.loads(status_json)["tables"]
    except (ValueError, KeyError):
        return ["<db status --json did not answer>"]
    return [
        f"{index['name']}: {index['state']}"
        for table in tables
        for index in table["indexes"]
        if index["state"] != "ok"
    ]


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
    import os
    import tempfile

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
        present = _job_ids(fleet)
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


def _job_ids(fleet: Fleet) -> set[str]:
    from collector.config.database import DatabaseConfig

    db = DatabaseConfig(fleet.db_path)
    try:
        return {row["id"] for row in db.execute_query("SELECT id FROM jobs")}
    finally:
        db.close()


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
            _add(fleet, [media.url(f"big-{n}") for n in range(jobs)])
            fleet.worker("worker")
            stopped = _wait(lambda: fleet.logged("not claiming"), 60)
            while_full = _statuses(fleet)
            subprocess.run(
                ["mount", "-o", "remount,size=64m", str(downloads)], check=True, capture_output=True
            )
            grown_at = time.monotonic()
            done = _wait(lambda: _statuses(fleet).get("completed", 0) == jobs, 120)
            resumed_s = time.monotonic() - grown_at
        finally:
            fleet.stop()
            media.stop()
        spent = _count(fleet, "SELECT COALESCE(SUM(retry_count), 0) FROM jobs")
        statuses = _statuses(fleet)
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
    from collector.config.database import DatabaseConfig

    fleet = Fleet(folder, folder / "collector.db")
    db = DatabaseConfig(fleet.db_path)
    try:
        create_dataset(db, jobs, 3, "realistic", 5)
        db.execute_query("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = [
            row[0]
            for row in db.execute_query(
                "SELECT pageno FROM dbstat WHERE name = 'jobs' ORDER BY pageno"
            )
        ]
        page_size = int(db.execute_query("PRAGMA page_size")[0][0])
    finally:
        db.close()
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


SCENARIOS: dict[str, Scenario] = {
    "worker-kill": worker_kill,
    "upgrade-kill": upgrade_kill,
    "database-full": database_full,
    "downloads-full": downloads_full,
    "damaged": damaged,
}


def run_faults(
    folder: Path, names: list[str], progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Each named scenario in a folder of its own under ``folder``."""
    results: dict[str, Any] = {}
    for name in names:
        progress(f"fault: {name}")
        started = time.monotonic()
        scenario_folder = folder / name
        scenario_folder.mkdir(parents=True, exist_ok=True)
        results[name] = SCENARIOS[name](scenario_folder)
        results[name]["seconds"] = round(time.monotonic() - started, 1)
    return results
