"""What a URL may be queued as: http(s) only, and which platform it belongs to."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .outbound import NO_HOSTS, AllowedHosts, refusal
from .values import quoted

ALLOWED_SCHEMES = ("http", "https")
MAX_URL_LENGTH = 4096
# Any whitespace, as str.isspace() has it (the same characters: checked for all of Unicode).
_SPACE = re.compile(r"\s")

# Host suffixes per platform; a host matches a suffix exactly or as a subdomain of it.
PLATFORM_HOSTS: dict[str, tuple[str, ...]] = {
    "youtube": ("youtube.com", "youtu.be", "youtube-nocookie.com"),
    "instagram": ("instagram.com", "instagr.am"),
    "tiktok": ("tiktok.com",),
}


class InvalidURLError(ValueError):
    """A URL that cannot be queued: not http(s), without a host, or malformed."""


class RefusedHostError(InvalidURLError):
    """A URL whose host is internal and not allowed (see models/outbound.py)."""


def validate_url(url: object, allowed: AllowedHosts = NO_HOSTS) -> str:
    """The URL, stripped of surrounding space, if it is an http or https URL with a host.

    A host that is internal (``localhost``, ``10.0.0.1``, ``0x7f000001``...) and not
    in ``allowed`` is refused (RefusedHostError), without a DNS look-up.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidURLError("a URL must be a non-empty string")
    url = url.strip()
    # Not printable: control characters (NUL, BEL...), lone surrogates (which no
    # database or HTTP client can encode), invisible format and bidi characters.
    if len(url) > MAX_URL_LENGTH or not url.isprintable() or _SPACE.search(url):
        raise InvalidURLError(f"not a valid URL: {quoted(url, 200)}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError:
        raise InvalidURLError(f"not a valid URL: {quoted(url, 200)}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise InvalidURLError(f"only http and https URLs can be queued, not {url!r}")
    if not host:
        raise InvalidURLError(f"URL has no host: {url!r}")
    reason = refusal(host, allowed)
    if reason is not None:
        raise RefusedHostError(reason)
    return url


def detect_platform(url: str) -> str:
    """youtube, instagram, tiktok, or other, from the URL's host."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    for platform, suffixes in PLATFORM_HOSTS.items():
        if any(host == s or host.endswith("." + s) for s in suffixes):
            return platform
    return "other"
