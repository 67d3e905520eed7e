"""Secrets in URLs, hidden wherever a URL is shown or logged.

A queued URL may carry credentials: a user and password (``http://user:pw@host/``)
or a token in its query string (``?token=...``). The database keeps the URL whole,
and the worker hands it whole to yt-dlp, the one place that needs it. Everything
else (pages, API, CLI, logs, stored error messages) shows it through
:func:`redact_url` or, for free text that may contain URLs, :func:`redact_text`:

- the whole user-information part becomes ``***`` (``http://***@host/``): a user name
  alone can be the secret (``https://<token>@host/``);
- the value of a query or fragment parameter whose name is secret-like becomes
  ``***``. A name is secret-like when, lower-cased with ``-`` read as ``_``, it is in
  :data:`SECRET_PARAMETERS` or ends with ``_`` and one of :data:`SECRET_SUFFIXES`
  (``X-Amz-Signature``, ``client_secret``, ``refresh_token``).

Secrets in a URL's path (``/share/<token>/file``) cannot be told from a name and
are shown as they are.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

MASK = "***"

SECRET_PARAMETERS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "code",
        "credential",
        "credentials",
        "jwt",
        "key",
        "pass",
        "passwd",
        "password",
        "pwd",
        "secret",
        "session",
        "sessionid",
        "sid",
        "sig",
        "signature",
        "token",
    }
)
SECRET_SUFFIXES = (
    "token",
    "key",
    "secret",
    "signature",
    "sig",
    "password",
    "credential",
    "session",
)

# RFC 3986, appendix B: scheme, authority, path, query, fragment (never fails to match).
_PARTS = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*:)?(?://(?P<authority>[^/?#]*))?"
    r"(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?$",
    re.DOTALL,
)
# A URL inside free text: a scheme, ://, then up to a space, quote or angle bracket,
# less the punctuation that ends a sentence.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]*[^\s\"'<>.,;:!?)\]]")
# User information left over where a quote in a password cut the URL short above.
_USERINFO_IN_TEXT = re.compile(r"(://)[^\s/?#@]*@")


def is_secret_parameter(name: str) -> bool:
    """Whether a query parameter of this name carries a secret (see the module's rule)."""
    key = unquote_plus(name).strip().lower().replace("-", "_")
    return key in SECRET_PARAMETERS or any(key.endswith("_" + s) for s in SECRET_SUFFIXES)


def _redact_parameters(text: str) -> str:
    """``a=1&token=x`` as ``a=1&token=***``; every other byte kept as written."""
    pieces = []
    for piece in text.split("&"):
        name, sep, value = piece.partition("=")
        if sep and value and is_secret_parameter(name):
            piece = f"{name}={MASK}"
        pieces.append(piece)
    return "&".join(pieces)


def redact_url(url: str) -> str:
    """``url`` with its user information and secret-like parameter values masked."""
    parts = _PARTS.match(url)
    if parts is None:  # the pattern matches any string; this is for the type checker
        return url
    out = parts.group("scheme") or ""
    authority = parts.group("authority")
    if authority is not None:
        host = authority.rpartition("@")[2]
        out += "//" + (f"{MASK}@{host}" if "@" in authority else host)
    out += parts.group("path")
    query, fragment = parts.group("query"), parts.group("fragment")
    if query is not None:
        out += "?" + _redact_parameters(query)
    if fragment is not None:
        out += "#" + (_redact_parameters(fragment) if "=" in fragment else fragment)
    return out


def secret_values(url: str) -> list[str]:
    """The secrets :func:`redact_url` masks in ``url``, as written and decoded, longest first.

    For text derived from a URL without quoting it whole: yt-dlp names a file after
    the last segment of its URL, query string and all, when it has no extension.
    """
    parts = _PARTS.match(url)
    found: set[str] = set()
    if parts is None:
        return []
    authority = parts.group("authority") or ""
    if "@" in authority:
        found.update(p for p in authority.rpartition("@")[0].split(":") if p)
    for section in (parts.group("query"), parts.group("fragment")):
        for piece in (section or "").split("&"):
            name, sep, value = piece.partition("=")
            if sep and value and is_secret_parameter(name):
                found.add(value)
    found |= {unquote_plus(value) for value in found}
    return sorted(found, key=lambda value: (-len(value), value))


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (error messages, log lines, tracebacks)."""
    text = _URL_IN_TEXT.sub(lambda found: redact_url(found.group(0)), text)
    return _USERINFO_IN_TEXT.sub(rf"\1{MASK}@", text)


# The prefix of an identity that is a URL's text (repositories/identity.py).
URL_IDENTITY = "url:"


def redact_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A job's dict as shown: ``url``, ``identity`` (``url:`` and the URL, for a URL no
    extractor names) and ``error_message`` redacted, the rest as it is."""
    shown = dict(data)
    if isinstance(shown.get("url"), str):
        shown["url"] = redact_url(shown["url"])
    identity = shown.get("identity")
    if isinstance(identity, str) and identity.startswith(URL_IDENTITY):
        shown["identity"] = URL_IDENTITY + redact_url(identity.removeprefix(URL_IDENTITY))
    if isinstance(shown.get("error_message"), str):
        shown["error_message"] = redact_text(shown["error_message"])
    return shown


class RedactingFilter(logging.Filter):
    """A handler filter: every record's message and traceback with its URLs redacted.

    The safety net under the redaction done where messages are written: it also
    covers yt-dlp's own messages and exception texts in tracebacks.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: logging reports it itself
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Add a :class:`RedactingFilter` to each handler of ``logger`` (default: root), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
