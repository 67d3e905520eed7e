"""What a URL is, by yt-dlp's extractors, without a network call.

A video queued as ``youtu.be/ID``, ``youtube.com/watch?v=ID`` or as a playlist's entry
is one video: its identity is ``<extractor>:<id>`` (``Youtube:ID``), the first of
yt-dlp's extractors (in yt-dlp's own order) that claims the URL, and the id its URL
pattern names. A URL that only yt-dlp's generic extractor takes (a direct link, a page
of some unknown site) has no identity but its exact text: ``url:<url>``. Once a
download knows better (the extracted information's extractor and id) a job without an
identity gets that one (repositories/queue.py), never one that already had one.

Matching is yt-dlp's: the first of about 1,800 URL patterns, in yt-dlp's order, that
matches, confirmed by the extractor's own ``suitable`` (some exclude URLs their pattern
matches). Only the patterns that could match are tried (repositories/url_patterns.py:
each pattern's match must hold one of its literal strings): 0.035 ms for a URL no
extractor takes, where trying every pattern took 0.26 ms and asking every extractor
class, as yt-dlp does, 2.9 ms.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from yt_dlp.extractor import gen_extractor_classes

from collector.models.redaction import URL_IDENTITY

from .url_patterns import PatternIndex

GENERIC = "Generic"
URL_PREFIX = URL_IDENTITY
MAX_IDENTITY = 4200  # an extractor name and an id, or "url:" and a URL (at most 4096)

_lock = threading.Lock()
_patterns: PatternIndex[Any] | None = None


def _compiled() -> PatternIndex[Any]:
    """Every extractor but the generic one with each of its URL patterns, in yt-dlp's
    order, indexed by what their matches must contain (repositories/url_patterns.py)."""
    global _patterns
    with _lock:
        if _patterns is None:
            found = []
            for extractor in gen_extractor_classes():
                pattern = getattr(extractor, "_VALID_URL", None)
                if extractor.ie_key() == GENERIC or not pattern:
                    continue
                for text in pattern if isinstance(pattern, (list, tuple)) else (pattern,):
                    found.append((extractor, re.compile(text)))
            _patterns = PatternIndex(found)
        return _patterns


def warm() -> None:
    """Import and index yt-dlp's URL patterns now (0.8 s), not in the first request that
    queues a URL; ``collector serve`` calls it from a thread as it starts."""
    _compiled()


def _extractor(url: str) -> Any | None:
    for extractor, pattern in _compiled().candidates(url):
        if pattern.match(url) and extractor.suitable(url):
            return extractor
    return None


def url_identity(url: str) -> str:
    """``<extractor>:<id>`` when an extractor names the URL's id, else ``url:<url>``."""
    extractor = _extractor(url)
    if extractor is not None:
        media_id = extractor.get_temp_id(url)
        if media_id:
            return make_identity(extractor.ie_key(), media_id)
    return URL_PREFIX + url


def make_identity(extractor: str, media_id: object) -> str:
    """The identity of the media ``media_id`` of ``extractor`` (its ie_key)."""
    return f"{extractor}:{media_id}"[:MAX_IDENTITY]


def info_identity(info: Mapping[str, Any]) -> str | None:
    """The identity extracted information (or a playlist's flat entry) names: its
    extractor key and id, when it has both; None otherwise."""
    extractor = info.get("ie_key") or info.get("extractor_key")
    media_id = info.get("id")
    if not extractor or media_id in (None, ""):
        return None
    if extractor == GENERIC:
        return None  # a generic "id" is the file name: not an identity
    return make_identity(str(extractor), media_id)


def single_video(url: str) -> bool | None:
    """Whether yt-dlp's extractor for the URL says it is one video (True), a playlist
    or channel (False), or cannot tell without fetching it (None)."""
    extractor = _extractor(url)
    if extractor is None:
        return None
    return extractor.is_single_video(url)
