"""Which of many URL patterns could match a URL, found without trying them all.

Each pattern is read once by Python's own regular-expression parser for a **needle**: a
set of literal strings at least one of which every match of the pattern must contain
(``www.youtube.com/``, or one string per branch of ``(?:vimeo\\.com|vimeopro\\.com)``).
A pattern can only match a URL that holds one of its needles, so for a URL the
candidates are the patterns with a needle in the URL, found through an index of the
needles by their first ``GRAM`` characters (a look-up per position of the URL), plus
the patterns no needle could be read from, which are always tried. The candidates are
then matched in the patterns' own order, so the first pattern that matches is the one
trying every pattern in order would find.

The reading is conservative: a literal counts only where the parser shows it must be
matched (in the pattern's main sequence, in a group, in a repetition of at least one);
a branch gives a needle only when every alternative does; case-insensitive parts,
look-arounds, classes and back-references give none. A pattern the parser cannot read
is always tried. Reading about 1,800 patterns takes about as long as compiling them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# Python's own regular-expression parser and its opcodes (the stdlib's, 3.11 and later;
# private names: a pattern they cannot read is simply always tried).
from re import _constants as sre
from re import _parser as sre_parse
from typing import Any, Generic, TypeVar

T = TypeVar("T")

GRAM = 3  # a needle shorter than this is no needle
EVERY_URL = "https://www."  # what many URLs begin with: no needle
REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)

Needle = frozenset[str]


def needle(pattern: re.Pattern[str]) -> Needle | None:
    """Literal strings one of which every match of ``pattern`` contains; None if none
    could be read (the pattern must then always be tried)."""
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        parsed = sre_parse.parse(pattern.pattern, pattern.flags)
    except (re.error, TypeError, ValueError, RecursionError):
        return None
    return _best(_needles(list(parsed)))


def _best(found: Iterable[Needle]) -> Needle | None:
    """The most selective needle: its shortest string the longest. A needle every URL
    may hold ("http", "://", "www.") is none."""
    usable = [
        n for n in found if n and min(map(len, n)) >= GRAM and not any(s in EVERY_URL for s in n)
    ]
    if not usable:
        return None
    return max(usable, key=lambda n: min(map(len, n)))


def _needles(items: Sequence[tuple[Any, Any]]) -> list[Needle]:
    """Every needle of a parsed sequence: each must be present in a match."""
    found: list[Needle] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            found.append(frozenset(["".join(run)]))
            run.clear()

    for op, value in items:
        if op is sre.LITERAL:
            run.append(chr(value))
            continue
        end_run()
        if op is sre.SUBPATTERN:
            _group, add_flags, _del_flags, inner = value
            if not add_flags & sre.SRE_FLAG_IGNORECASE:
                found.extend(_needles(list(inner)))
        elif op in REPEATS:
            low, _high, inner = value
            if low >= 1:
                found.extend(_needles(list(inner)))
        elif op is sre.ATOMIC_GROUP:
            found.extend(_needles(list(value)))
        elif op is sre.BRANCH:
            branch = _branch(value[1])
            if branch is not None:
                found.append(branch)
    end_run()
    return found


def _branch(alternatives: Sequence[Any]) -> Needle | None:
    """One needle for a branch: every alternative's best, together (None if any has none)."""
    strings: set[str] = set()
    for alternative in alternatives:
        best = _best(_needles(list(alternative)))
        if best is None:
            return None
        strings |= best
    return frozenset(strings)


class PatternIndex(Generic[T]):
    """Items, each with a compiled pattern, in order; ``candidates(url)`` gives those
    whose pattern could match ``url``, in that order."""

    def __init__(self, items: Sequence[tuple[T, re.Pattern[str]]]) -> None:
        self.items = list(items)
        self.always: list[int] = []
        needles: list[tuple[int, str]] = []
        for position, (_item, pattern) in enumerate(self.items):
            found = needle(pattern)
            if found is None:
                self.always.append(position)
            else:
                needles.extend((position, text) for text in found)
        # Each needle string is filed under its rarest gram (and that gram's offset in
        # it), so a gram every URL holds ("://", "www") leads to few strings to check.
        counts: dict[str, int] = {}
        for _, text in needles:
            for gram in _grams(text):
                counts[gram] = counts.get(gram, 0) + 1
        self.by_gram: dict[str, list[tuple[str, int, int]]] = {}
        for position, text in needles:
            offset = min(range(len(text) - GRAM + 1), key=lambda i: counts[text[i : i + GRAM]])
            entry = (text, offset, position)
            self.by_gram.setdefault(text[offset : offset + GRAM], []).append(entry)

    def candidates(self, url: str) -> list[tuple[T, re.Pattern[str]]]:
        positions = set(self.always)
        grams = self.by_gram
        for start in range(len(url) - GRAM + 1):
            for text, offset, position in grams.get(url[start : start + GRAM], ()):
                if start >= offset and url.startswith(text, start - offset):
                    positions.add(position)
        return [self.items[p] for p in sorted(positions)]


def _grams(text: str) -> set[str]:
    return {text[i : i + GRAM] for i in range(len(text) - GRAM + 1)}
