"""Run-time settings the user changes with ``collector settings`` (stored in the database).

Each known key has a parser that validates a new value and a default; reading a
stored value that no longer parses logs a warning and falls back to the default.
The store sits below the repositories, so the settings are read from the database
by :func:`collector.repositories.settings_repository.load_settings`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from collector.models.formats import DEFAULT_FORMAT, FORMATS, check_format
from collector.models.outbound import NO_HOSTS, AllowedHosts

DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_BACKOFF_SECONDS = 30.0
MAX_RETRIES_LIMIT = 100
MAX_BACKOFF_SECONDS = 86_400.0
# Room for the download in flight, and for the database and logs if they share the disk.
DEFAULT_MIN_FREE_SPACE = 1024**3
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1} | {
    spelling: (1024 if binary else 1000) ** power
    for power, letter in enumerate("kmgt", start=1)
    for binary, spellings in ((False, (letter, letter + "b")), (True, (letter + "ib",)))
    for spelling in spellings
}


def _non_negative_int(value: str) -> str:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"expected a whole number, not {value!r}") from None
    if not 0 <= number <= MAX_RETRIES_LIMIT:
        raise ValueError(f"expected a number from 0 to {MAX_RETRIES_LIMIT}, not {number}")
    return str(number)


def _seconds(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number of seconds, not {value!r}") from None
    if not 0 <= number <= MAX_BACKOFF_SECONDS:
        raise ValueError(f"expected seconds from 0 to {MAX_BACKOFF_SECONDS:.0f}, not {value}")
    return repr(number)


def _byte_size(value: str) -> str:
    """A size in bytes: ``0``, ``500000000``, ``500MB``, ``2GiB`` (KB = 1000, KiB = 1024)."""
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"expected a size such as 500MB, 2GiB or 0, not {value!r}")
    number, unit = match.group(1), (match.group(2) or "").lower()
    return str(int(float(number) * _SIZE_UNITS[unit]))


def _directory(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a directory path")
    path = Path(value).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} exists and is not a directory")
    return str(path)


def _usable_directory(value: str) -> None:
    """Create the folder ``value`` names if needed and check a file can be written there.

    Run when the download folder is set, so a typo or a read-only place is refused
    then, not discovered by the first download. Not run on every read: a folder on
    a disk that is briefly unmounted must not silently send downloads elsewhere.
    """
    path = Path(value)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValueError(f"cannot write downloads to {path}: {reason}") from None


def _allowed_hosts(value: str) -> str:
    return str(AllowedHosts.parse(value))


@dataclass(frozen=True)
class SettingSpec:
    """One known setting: how to check a new value, and what it means.

    ``prepare`` checks the parsed value against this machine when it is set (not
    when it is read back), and may create what it names.
    """

    key: str
    parse: Callable[[str], str]
    help: str
    prepare: Callable[[str], None] | None = None


KNOWN_SETTINGS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec(
            "download_dir",
            _directory,
            "folder downloads go to (default: COLLECTOR_DOWNLOAD_DIR or ./data/downloads)",
            prepare=_usable_directory,
        ),
        SettingSpec(
            "max_retries",
            _non_negative_int,
            f"times a transient failure is retried (default {DEFAULT_MAX_RETRIES})",
        ),
        SettingSpec(
            "retry_backoff_seconds",
            _seconds,
            "wait before the first retry, doubled each time "
            f"(default {DEFAULT_RETRY_BACKOFF_SECONDS:.0f})",
        ),
        SettingSpec(
            "allowed_hosts",
            _allowed_hosts,
            "internal host names, addresses or networks downloads may reach, comma-separated; "
            "added to COLLECTOR_ALLOWED_HOSTS (default: none)",
        ),
        SettingSpec(
            "min_free_space",
            _byte_size,
            "the worker claims no job while the download folder has less free "
            "(e.g. 500MB, 2GiB; 0: no minimum; default: COLLECTOR_MIN_FREE_SPACE or 1GiB)",
        ),
        SettingSpec(
            "default_format",
            check_format,
            f"the format of a job queued without one: {', '.join(FORMATS)} "
            f"(default {DEFAULT_FORMAT})",
        ),
    )
}


def prepare_setting(key: str, value: str) -> str:
    """check_setting, then the setting's own check against this machine (its prepare)."""
    checked = check_setting(key, value)
    prepare = KNOWN_SETTINGS[key].prepare
    if prepare is not None:
        try:
            prepare(checked)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return checked


def check_setting(key: str, value: str) -> str:
    """The value to store for ``key`` (normalised), or ValueError naming the fault."""
    spec = KNOWN_SETTINGS.get(key)
    if spec is None:
        raise ValueError(f"unknown setting {key!r}; known: {', '.join(KNOWN_SETTINGS)}")
    try:
        return spec.parse(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


@dataclass(frozen=True)
class RuntimeSettings:
    """The settings the worker reads before each job."""

    download_dir: Path
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_backoff_seconds: float = DEFAULT_RETRY_BACKOFF_SECONDS
    allowed_hosts: AllowedHosts = NO_HOSTS
    min_free_space: int = DEFAULT_MIN_FREE_SPACE
    default_format: str = DEFAULT_FORMAT

    def retry_delay(self, retry_count: int) -> float:
        """Seconds to wait before retry number ``retry_count + 1``: exponential, capped."""
        return min(self.retry_backoff_seconds * 2 ** min(retry_count, 30), MAX_BACKOFF_SECONDS)


def default_min_free_space() -> str:
    """``COLLECTOR_MIN_FREE_SPACE`` checked as the setting is (default 1 GiB), in bytes.

    ValueError naming the variable if it does not parse: the worker calls this at
    start, so a typo stops it there and not at each job.
    """
    raw = os.environ.get("COLLECTOR_MIN_FREE_SPACE", "").strip()
    if not raw:
        return str(DEFAULT_MIN_FREE_SPACE)
    try:
        return check_setting("min_free_space", raw)
    except ValueError as exc:
        raise ValueError(f"COLLECTOR_MIN_FREE_SPACE: {exc}") from None
