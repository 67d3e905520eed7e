"""The formats a job may be downloaded in: a fixed list of choices.

``best`` is the best video with the best audio (merged with ffmpeg); ``1080p``,
``720p`` and ``480p`` are the same at most that height; ``audio-m4a`` and
``audio-mp3`` are the audio alone, extracted with ffmpeg. A job's format is NULL
when it takes the ``default_format`` setting (itself ``best`` unless set).
"""

from __future__ import annotations

FORMATS = ("best", "1080p", "720p", "480p", "audio-m4a", "audio-mp3")
DEFAULT_FORMAT = "best"
# The largest height of the video formats that cap it.
MAX_HEIGHTS = {"1080p": 1080, "720p": 720, "480p": 480}
# The audio formats' file extension (the codec ffmpeg extracts to).
AUDIO_CODECS = {"audio-m4a": "m4a", "audio-mp3": "mp3"}


class InvalidFormatError(ValueError):
    """A format that is not one of FORMATS."""


def check_format(value: object) -> str:
    """``value`` if it is one of FORMATS; else InvalidFormatError listing them."""
    if not isinstance(value, str) or value not in FORMATS:
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise InvalidFormatError(f"unknown format {shown}; valid: {', '.join(FORMATS)}")
    return value
