"""Formats: the fixed list, the yt-dlp options each maps to, the metadata kept."""

from __future__ import annotations

import pytest

from collector.config.runtime import check_setting
from collector.models.formats import FORMATS, InvalidFormatError, check_format
from collector.worker.engine import format_options, media_metadata

CHOICES = "best, 1080p, 720p, 480p, audio-m4a, audio-mp3"


def test_the_choices() -> None:
    assert ", ".join(FORMATS) == CHOICES
    for choice in FORMATS:
        assert check_format(choice) == choice


@pytest.mark.parametrize("bad", ["4k", "", "BEST", " best", None, 5, ["best"]])
def test_an_unknown_format_is_a_value_error_listing_the_choices(bad: object) -> None:
    with pytest.raises(InvalidFormatError, match=f"valid: {CHOICES}$"):
        check_format(bad)
    assert issubclass(InvalidFormatError, ValueError)


def test_the_default_format_setting_is_checked() -> None:
    assert check_setting("default_format", "720p") == "720p"
    with pytest.raises(
        ValueError, match=f"^default_format: unknown format '4k'; valid: {CHOICES}$"
    ):
        check_setting("default_format", "4k")


def test_video_formats_merge_the_best_streams_under_their_height() -> None:
    assert format_options("best") == {"format": "bv*+ba/b", "merge_output_format": "mp4/mkv"}
    for name, height in (("1080p", 1080), ("720p", 720), ("480p", 480)):
        assert format_options(name) == {
            "format": f"bv*[height<={height}]+ba/b[height<={height}]/b[height<=?{height}]",
            "merge_output_format": "mp4/mkv",
        }


@pytest.mark.parametrize(("name", "codec"), [("audio-m4a", "m4a"), ("audio-mp3", "mp3")])
def test_audio_formats_extract_the_audio_with_ffmpeg(name: str, codec: str) -> None:
    assert format_options(name) == {
        "format": "ba/b",
        "postprocessors": [{"key": "FFmpegExtractAudio", "preferredcodec": codec}],
    }


def test_format_options_refuses_an_unknown_format() -> None:
    with pytest.raises(InvalidFormatError):
        format_options("4k")


def test_media_metadata_from_the_extracted_information() -> None:
    info = {
        "id": "dQw4w9WgXcQ",
        "extractor": "youtube",
        "extractor_key": "Youtube",
        "uploader": "Some Channel",
        "channel": "Other",
        "duration": 212.4,
        "upload_date": "20091025",
    }
    assert media_metadata(info) == {
        "uploader": "Some Channel",
        "extractor": "Youtube",
        "extractor_id": "dQw4w9WgXcQ",
        "duration": 212,
        "upload_date": "2009-10-25",
    }


def test_media_metadata_keeps_only_what_is_known() -> None:
    assert media_metadata({}) == {}
    assert media_metadata({"channel": "C", "duration": "long", "upload_date": "2009"}) == {
        "uploader": "C"
    }
    assert media_metadata({"duration": True, "uploader": ""}) == {}


def test_media_metadata_masks_the_urls_secrets() -> None:
    url = "https://cdn.example.com/get?token=s3cr3tvalue"
    found = media_metadata({"id": "get?token=s3cr3tvalue", "extractor": "generic"}, url)
    assert "s3cr3tvalue" not in found["extractor_id"]
