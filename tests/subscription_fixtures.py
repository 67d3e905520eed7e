"""Test doubles for subscription checks: a downloader that lists what it is told to."""

from __future__ import annotations

from typing import Any

from collector.models.entries import Entry, Listing
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
