"""The playlist benchmark: a listing of 5,000 entries queued as jobs, on either engine.

A playlist job is claimed as a worker claims it, then its listing (entries with a
YouTube identity each, as yt-dlp's flat extraction gives them: no network here) is
recorded with ``JobQueue.complete_listing``: the parent completed, every entry looked
up by identity, the new ones inserted as its children, in one transaction. Timed
alone (the listing itself is yt-dlp's and the site's time), on a database that
already holds ``jobs`` jobs (bench/dataset.py, every one with an identity), then
again with the same entries, all known by then (what a playlist added a second
time, or a subscription's next check, costs).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from collector.config.database import DatabaseConfig
from collector.models import ALL_MODELS
from collector.models.entries import Entry, Listing
from collector.repositories import JobRepository
from collector.repositories.queue import JobQueue
from collector.schema.reconcile import reconcile

from .dataset import write_dataset
from .queue import bench_database

WORKER = "bench-playlist"


@dataclass(frozen=True)
class PlaylistFigures:
    engine: str
    jobs_before: int
    entries: int
    queued: int  # children the first listing queued (every entry: all new)
    first_ms: float  # complete_listing with every entry new
    entries_per_second: int
    again_ms: float  # the same entries listed again: every one known, none queued
    again_queued: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def prepare(db: DatabaseConfig, num_jobs: int) -> None:
    """A database of ``num_jobs`` jobs (no files), its indexes built after the load."""
    reconcile(db, ALL_MODELS, indexes=False)
    if num_jobs:
        write_dataset(db, num_jobs, files_per_job=0)
    db.initialize_schema(ALL_MODELS, online=False)


def listing(num_entries: int, tag: str) -> Listing:
    """A flat playlist of ``num_entries`` YouTube videos whose ids start with ``tag``."""
    entries = []
    for i in range(num_entries):
        video = f"{tag}{i:07d}"[-11:].rjust(11, "x")
        url = f"https://www.youtube.com/watch?v={video}"
        entries.append(Entry(url, f"Youtube:{video}", f"Entry {i}", "2026-01-01"))
    return Listing(True, f"Playlist {tag}", entries, {"extractor": "YoutubeTab"})


def _list_once(queue: JobQueue, tag: str, items: Listing) -> tuple[float, int]:
    parent = queue.enqueue(f"https://www.youtube.com/playlist?list=PL{tag}").job
    claimed = queue.claim_many(WORKER, 600, 1_000_000)
    if parent.id not in {job.id for job in claimed}:
        raise RuntimeError("the playlist job was not claimable")
    started = time.perf_counter()
    done = queue.complete_listing(parent.id, WORKER, items)
    elapsed = (time.perf_counter() - started) * 1000
    if done is None:
        raise RuntimeError("the playlist job was not running under the benchmark")
    return elapsed, len(done[1])


def measure(db: DatabaseConfig, num_entries: int = 5_000) -> PlaylistFigures:
    """Time two listings of the same ``num_entries`` entries on a ``prepare``d database."""
    queue = JobQueue(db)
    jobs_before = JobRepository(db).count()
    items = listing(num_entries, "b")
    first_ms, queued = _list_once(queue, "first", items)
    if queued != num_entries:
        raise RuntimeError(f"{queued} of {num_entries} new entries were queued")
    again_ms, again = _list_once(queue, "again", items)
    return PlaylistFigures(
        engine=db.dialect.display_name,
        jobs_before=jobs_before,
        entries=num_entries,
        queued=queued,
        first_ms=round(first_ms, 1),
        entries_per_second=round(num_entries / (first_ms / 1000)) if first_ms else 0,
        again_ms=round(again_ms, 1),
        again_queued=again,
    )


def playlist_lines(figures: PlaylistFigures) -> list[str]:
    return [
        f"{figures.engine}, {figures.jobs_before:,} jobs before",
        f"  listing of {figures.entries:,} new entries: {figures.first_ms:,.1f} ms "
        f"({figures.entries_per_second:,} entries/s, {figures.queued:,} jobs queued)",
        f"  the same listing again: {figures.again_ms:,.1f} ms "
        f"({figures.again_queued} queued: every entry known)",
    ]


def run_playlist(
    folder: Path, num_jobs: int, num_entries: int, database_url: str | None = None
) -> PlaylistFigures:
    """One run on a new SQLite file in ``folder``, or in a schema of its own of the
    PostgreSQL database ``database_url`` (dropped at the end)."""
    with bench_database(folder, "playlist.db", database_url) as db:
        prepare(db, num_jobs)
        return measure(db, num_entries)
