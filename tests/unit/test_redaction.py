"""Masking credentials and tokens in URLs and in text quoting them."""

from __future__ import annotations

import logging
import sys

import pytest

from collector.models.redaction import (
    RedactingFilter,
    install_log_filter,
    is_secret_parameter,
    redact_fields,
    redact_text,
    redact_url,
    secret_values,
)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:s3cret@host/v", "http://***@host/v"),
        ("https://ghp_tokenasuser@github.com/x", "https://***@github.com/x"),
        ("http://u:p@ss@host:8080/v", "http://***@host:8080/v"),  # the last @ ends it
        ("https://e.com/v?id=1&token=abc&x=2", "https://e.com/v?id=1&token=***&x=2"),
        ("https://e.com/v?ACCESS_TOKEN=abc", "https://e.com/v?ACCESS_TOKEN=***"),
        (
            "https://e.com/v?api_key=a&apikey=b&key=c",
            "https://e.com/v?api_key=***&apikey=***&key=***",
        ),
        (
            "https://e.com/v?sig=a&Signature=b&X-Amz-Signature=c",
            "https://e.com/v?sig=***&Signature=***&X-Amz-Signature=***",
        ),
        (
            "https://e.com/v?password=a&secret=b&auth=c&session=d",
            "https://e.com/v?password=***&secret=***&auth=***&session=***",
        ),
        (
            "https://e.com/v?client_secret=a&refresh_token=b",
            "https://e.com/v?client_secret=***&refresh_token=***",
        ),
        ("https://e.com/cb#access_token=abc&state=1", "https://e.com/cb#access_token=***&state=1"),
        (
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42",
        ),
        (
            "https://e.com/v?keyword=cats&monkey=1&token=",
            "https://e.com/v?keyword=cats&monkey=1&token=",
        ),
        ("https://e.com/page#section-2", "https://e.com/page#section-2"),
        ("http://[::1]:22/x?a=%20b", "http://[::1]:22/x?a=%20b"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown  # masking twice changes nothing


def test_parameter_names_are_matched_case_insensitively_and_by_suffix() -> None:
    secret = ["TOKEN", "Api-Key", "x-goog-signature", "my_session", "csrf%5Ftoken"]
    assert all(is_secret_parameter(name) for name in secret)
    plain = ["v", "list", "keyword", "monkey", "tokens", "signed", "t"]
    assert not any(is_secret_parameter(name) for name in plain)


def test_redact_text_masks_every_url_in_it() -> None:
    text = (
        "ERROR: Unsupported URL: http://user:s3cret@127.0.0.1:8/x?token=t0ken; "
        "also 'https://e.com/?sig=abc' and http://a:p'q@h/ (a quote in the password)"
    )
    shown = redact_text(text)
    assert shown == (
        "ERROR: Unsupported URL: http://***@127.0.0.1:8/x?token=***; "
        "also 'https://e.com/?sig=***' and http://***@h/ (a quote in the password)"
    )


def test_secret_values_lists_what_redact_url_masks() -> None:
    url = "http://user:pa%20ss@h/get?token=t%2Bk&v=1#sig=zz"
    assert secret_values(url) == ["pa%20ss", "pa ss", "t%2Bk", "user", "t+k", "zz"]
    assert secret_values("https://e.com/watch?v=1") == []


def test_redact_fields_masks_url_and_error_only() -> None:
    data = {
        "url": "http://u:s3cret@h/v",
        "error_message": "Unsupported URL: http://u:s3cret@h/v",
        "title": "t",
    }
    assert redact_fields(data) == {
        "url": "http://***@h/v",
        "error_message": "Unsupported URL: http://***@h/v",
        "title": "t",
    }
    assert redact_fields({"url": "x", "error_message": None}) == {"url": "x", "error_message": None}


def test_log_filter_masks_messages_and_tracebacks() -> None:
    try:
        raise ValueError("bad http://u:s3cret@h/v?token=t0ken")
    except ValueError:
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "fetching %s", ("http://u:s3cret@h/",), sys.exc_info()
        )
    assert RedactingFilter().filter(record) is True
    formatted = logging.Formatter().format(record)
    assert "s3cret" not in formatted and "t0ken" not in formatted
    assert "fetching http://***@h/" in formatted
    assert "bad http://***@h/v?token=***" in formatted


def test_install_log_filter_adds_one_filter_per_handler() -> None:
    logger = logging.getLogger("collector.tests.redaction")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        install_log_filter(logger)
        install_log_filter(logger)
        assert [type(f) for f in handler.filters] == [RedactingFilter]
    finally:
        logger.removeHandler(handler)
