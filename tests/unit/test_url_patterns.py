"""The URL pattern index: what a pattern's matches must contain, and that the index
finds the very pattern trying every one in order finds."""

from __future__ import annotations

import re

import pytest
from yt_dlp.extractor import gen_extractor_classes

from collector.repositories import identity
from collector.repositories.url_patterns import PatternIndex, needle


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"https?://(?:www\.)?youtube\.com/watch\?v=(?P<id>\w+)", {"youtube.com/watch?v="}),
        # A branch: one string per alternative (the parser factors a common prefix out).
        (r"https?://(?:foo\.tv|bar\.net)/(?P<id>\d+)", {"foo.tv", "bar.net"}),
        (r"https?://(?:www\.)?(?:vimeo\.com|vimeopro\.com)/(?P<id>\d+)", {"vimeo"}),
        (r"https?://(?:[a-z]+\.)+example\.org/v/(?P<id>\d+)", {"example.org/v/"}),
        (r"https?://(?:\w+\.){1,3}clips\.tv/(?P<id>\d+)", {"clips.tv/"}),
        (r"(?x)https?://  host\.net  /(?P<id>\d+)  # verbose", {"://host.net/"}),
        (r"https?://(?P<host>[^/]+)/videos/(?P<id>\d+)", {"/videos/"}),
    ],
)
def test_a_needle_is_what_every_match_contains(pattern: str, expected: set[str]) -> None:
    assert needle(re.compile(pattern)) == frozenset(expected)


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?i)https?://youtube\.com/(?P<id>\w+)",  # any case: a literal may not be there
        r"https?://(?:(?i:Site)\.com|[^/]+)/(?P<id>\d+)",  # a branch with no needle
        r"(?:https?://)?(?:www\.)?(?:abc)?/(?P<id>\d+)",  # optional literals only
        r"https?://[^/]+/(?P<id>\d+)",  # only what every URL holds
    ],
)
def test_no_needle_is_read_where_a_match_need_not_contain_one(pattern: str) -> None:
    assert needle(re.compile(pattern)) is None


def test_the_index_finds_what_trying_every_pattern_finds() -> None:
    items = identity._compiled().items

    def first(url: str) -> object:
        return next((e for e, p in items if p.match(url) and e.suitable(url)), None)

    urls = [
        t["url"]
        for extractor in gen_extractor_classes()
        for t in getattr(extractor, "_TESTS", None) or []
        if isinstance(t.get("url"), str)
    ]
    assert len(urls) > 3000
    checked = 0
    for url in urls:
        for variant in (url, url.replace("https://", "http://"), url.replace("://www.", "://")):
            assert identity._extractor(variant) is first(variant), variant
            checked += 1
    assert checked == 3 * len(urls)


def test_candidates_keep_the_patterns_order() -> None:
    index = PatternIndex(
        [
            ("b", re.compile(r"https?://b\.example/(?P<id>\d+)")),
            ("any", re.compile(r"https?://[^/]+/(?P<id>\d+)")),
            ("a", re.compile(r"https?://a\.example/(?P<id>\d+)")),
        ]
    )
    assert [name for name, _ in index.candidates("https://a.example/1")] == ["any", "a"]
    assert [name for name, _ in index.candidates("https://c.example/1")] == ["any"]
    assert index.always == [1]
