"""What a playlist or channel lists: its entries, found without downloading them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    """One entry of a listing: the URL to queue, its identity (repositories/identity.py),
    and what the listing said of it (title, upload date as YYYY-MM-DD), when it did."""

    url: str
    identity: str
    title: str | None = None
    upload_date: str | None = None


@dataclass
class Listing:
    """A URL's flat extraction: a playlist (``entries`` in the playlist's order) or,
    when ``playlist`` is False, one video (no entries)."""

    playlist: bool
    title: str | None = None
    entries: list[Entry] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)  # the jobs' media columns
