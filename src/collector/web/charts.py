"""The dashboard's bar chart of jobs per status, laid out for an inline SVG.

Sizes are SVG attributes computed here (and by the script on each poll), not inline
styles, which the Content-Security-Policy forbids.
"""

from __future__ import annotations

from typing import NamedTuple

BAR_SPAN = 240  # SVG units the longest bar spans
ROW_HEIGHT = 28
MIN_BAR = 2  # a status with any job stays visible next to a million completed ones


class Bar(NamedTuple):
    status: str
    count: int
    width: int
    y: int


def bar_width(count: int, largest: int) -> int:
    """The SVG width of a bar for ``count`` when the largest count is ``largest``."""
    if count <= 0 or largest <= 0:
        return 0
    return max(MIN_BAR, round(count / largest * BAR_SPAN))


def status_bars(stats: dict[str, int]) -> list[Bar]:
    """One bar per status, in the statuses' order."""
    largest = max(stats.values(), default=0)
    return [
        Bar(status, count, bar_width(count, largest), index * ROW_HEIGHT)
        for index, (status, count) in enumerate(stats.items())
    ]
