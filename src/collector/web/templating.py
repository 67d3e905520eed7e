"""Jinja set-up: autoescaping everywhere, and the filters and globals templates use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask

from collector.models.formats import FORMATS
from collector.models.redaction import redact_text, redact_url
from collector.models.subscription import format_every

from . import views
from .auth import required_token
from .charts import BAR_SPAN, ROW_HEIGHT
from .csrf import csrf_token


def when(value: datetime | None) -> str:
    """A timestamp as shown: UTC to the minute."""
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def number(value: int) -> str:
    """A count with thousands separators: 1,000,000."""
    return f"{value:,}"


def shown_url(value: str | None) -> str:
    """A URL as a page shows it: credentials and tokens masked."""
    return redact_url(value) if value else ""


def shown_text(value: str | None) -> str:
    """A message as a page shows it: any URL in it masked."""
    return redact_text(value) if value else ""


def install(app: Flask) -> None:
    # Titles and paths come from remote sites: escape in every template, whatever its name.
    app.jinja_env.autoescape = True
    # Every URL a template shows goes through redact_url (error texts: redact_text).
    app.jinja_env.filters.update(
        size=views.human_size,
        when=when,
        number=number,
        redact_url=shown_url,
        redact_text=shown_text,
        duration=views.duration,
        every=format_every,
    )
    app.jinja_env.globals.update(
        csrf_token=csrf_token,
        can_cancel=views.can_cancel,
        can_retry=views.can_retry,
        is_active=views.is_active,
        FORMATS=FORMATS,
        BAR_SPAN=BAR_SPAN,
        ROW_HEIGHT=ROW_HEIGHT,
    )

    @app.context_processor
    def sign_in() -> dict[str, Any]:
        return {"sign_in_required": required_token() is not None}
