"""Test doubles for subscription checks: a downloader that lists what it is told to.

``enqueue_entries`` is the queue's (repositories/queue.py); until it lands there,
``entries_queue`` puts a stand-in of the same contract on JobQueue for the test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from collector.models.entries import Entry, Listing
from collector.models.job import Job
from collector.models.urls import detect_platform
from collector.repositories.queue import ENQUEUE_LOCK, JobQueue
from collector.worker.errors import DownloadFailed


class FakeLister:
    """``list_entries`` answering from ``listings`` (URL -> Listing, or an exception to
    raise); every call is recorded as (url, allowed)."""

    def __init__(self, listings: dict[str, Listing | Exception] | None = None) -> None:
        self.listings: dict[str, Listing | Exception] = dict(listings or {})
        self.calls: list[tuple[str, Any]] = []

    def list_entries(self, url: str, stop: object = None, allowed: Any = None) -> Listing:
        self.calls.append((url, allowed))
        answer = self.listings.get(url)
        if answer is None:
            raise DownloadFailed(f"ERROR: [generic] no listing for {url}")
        if isinstance(answer, Exception):
            raise answer
        return answer


def entry(n: int, date: str | None = None) -> Entry:
    """A YouTube video entry numbered ``n``."""
    video = f"vid{n:08d}"
    return Entry(
        url=f"https://www.youtube.com/watch?v={video}",
        identity=f"Youtube:{video}",
        title=f"Video {n}",
        upload_date=date,
    )


def _stand_in(
    self: JobQueue,
    entries: Sequence[Entry],
    *,
    parent_id: str | None = None,
    subscription_id: str | None = None,
    format: str | None = None,
) -> list[Job]:
    created: list[Job] = []
    with self.db.transaction() as conn:
        self.db.dialect.serialize(conn, ENQUEUE_LOCK)
        seen: set[str] = set()
        for item in entries:
            if item.identity in seen:
                continue
            seen.add(item.identity)
            if self.db.execute_query("SELECT 1 FROM jobs WHERE identity = ?", (item.identity,)):
                continue
            job = Job(
                url=item.url,
                platform=detect_platform(item.url),
                title=item.title,
                identity=item.identity,
                parent_id=parent_id,
                subscription_id=subscription_id,
                format=format,
            )
            self.db.execute_update(self.insert_sql(), job.to_row())
            created.append(job)
    return created


@pytest.fixture
def entries_queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not hasattr(JobQueue, "enqueue_entries"):
        monkeypatch.setattr(JobQueue, "enqueue_entries", _stand_in, raising=False)
    yield
