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

import json
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import storage_faults
from .fleet import Fleet, wait_for
from .loopback import LoopbackMedia
from .upgrade_wait import build_indexless

Scenario = Callable[[Path], dict[str, Any]]


def worker_kill(folder: Path, jobs: int = 6, lease: float = 2.0) -> dict[str, Any]:
    """SIGKILL a worker mid-download; a second worker must finish every job."""
    media = LoopbackMedia(size=64_000, delay=0.4).start()  # about 1.6 s a download
    fleet = Fleet(folder, folder / "collector.db")
    try:
        ids = fleet.add([media.url(f"kill-{n}") for n in range(jobs)])
        fleet.worker("doomed", "--lease-seconds", str(lease))
        running = wait_for(lambda: fleet.statuses().get("running"), 60)
        time.sleep(0.5)  # well inside the download
        fleet.kill("doomed")
        killed_at = time.monotonic()
        fleet.worker("survivor", "--lease-seconds", str(lease))
        done = wait_for(lambda: fleet.statuses().get("completed", 0) == jobs, 120)
        recovered_s = time.monotonic() - killed_at
    finally:
        fleet.stop()
        media.stop()
    statuses = fleet.statuses()
    retried = fleet.count("SELECT COUNT(*) FROM jobs WHERE retry_count > 0")
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
    before = fleet.row_counts()
    started = time.monotonic()
    full = fleet.run("db", "upgrade")
    upgrade_s = time.monotonic() - started
    rng = random.Random(7)
    results = []
    for number in range(kills):
        _fresh_copy(template, fleet.db_path)
        name = f"upgrade-{number}"
        process = fleet.start(name, "db", "upgrade")
        after = rng.uniform(0.05, 0.95) * upgrade_s
        time.sleep(after)
        finished_first = process.poll() is not None
        fleet.kill(name)
        killed = {
            "killed_after_seconds": round(after, 1),
            "killed_after_it_finished": finished_first,
            "indexes_present": fleet.indexes("idx_"),
            "integrity_check": fleet.integrity(),
            "rows_equal": fleet.row_counts() == before,
        }
        killed["next_upgrade_exit"] = fleet.run("db", "upgrade").returncode
        status = fleet.run("db", "status", "--json")
        killed["indexes_not_ok_after_it"] = _indexes_not_ok(status.stdout)
        killed["rows_equal_after_it"] = fleet.row_counts() == before
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


SCENARIOS: dict[str, Scenario] = {
    "worker-kill": worker_kill,
    "upgrade-kill": upgrade_kill,
    "database-full": storage_faults.database_full,
    "downloads-full": storage_faults.downloads_full,
    "damaged": storage_faults.damaged,
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
