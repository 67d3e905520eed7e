"""create_app(): the Flask application factory."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, current_app, request

from collector.config.database import (
    APP_EXTENSION,
    DatabaseConfig,
    DatabaseDamagedError,
    DatabaseError,
    DatabaseFullError,
    close_db,
    get_db_config,
)
from collector.config.settings import Config
from collector.models import ALL_MODELS

logger = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app and reconcile its database schema (tables, then indexes).

    ``AUTH_TOKEN`` (default: env COLLECTOR_TOKEN) turns on sign-in; ``SECRET_KEY``
    (default: env COLLECTOR_SECRET_KEY, else one kept in the settings table) signs
    the session cookie.

    A damaged file or a full disk met while reconciling does not stop the app: it
    starts, answers every request with that error (503 or 507 JSON, /healthz saying
    why), and logs it once. Other database errors (not a database at all) raise.
    """
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.from_mapping(
        # The database: an SQLite file, or a database URL (sqlite:///, postgresql://).
        DB_PATH=str(Config.database()),
        AUTH_TOKEN=os.environ.get("COLLECTOR_TOKEN") or None,
    )
    if test_config:
        app.config.update(test_config)

    Config.allowed_hosts()  # a bad COLLECTOR_ALLOWED_HOSTS stops the start, not a request
    database = DatabaseConfig(app.config["DB_PATH"])
    app.extensions[APP_EXTENSION] = database
    with app.app_context():
        try:
            get_db_config().initialize_schema(ALL_MODELS)
        except (DatabaseDamagedError, DatabaseFullError) as exc:
            from collector.web.api import STARTUP_ERROR

            app.extensions[STARTUP_ERROR] = exc
            app.before_request(_refuse_requests)
        _install_web(app, database)
        database.close()
    app.teardown_appcontext(close_db)
    return app


def _refuse_requests() -> None:
    """before_request of an app whose schema could not be reconciled: its error, anew."""
    from collector.web.api import STARTUP_ERROR

    if request.endpoint in ("static", "api.healthz"):
        return
    error: DatabaseError = current_app.extensions[STARTUP_ERROR]
    raise type(error)(str(error), error.reason)


def _install_web(app: Flask, database: DatabaseConfig) -> None:
    from collector.web import (
        api,
        auth,
        csrf,
        errors,
        events,
        maintenance,
        methods,
        pages,
        security,
        templating,
    )
    from collector.web.metrics import install as install_metrics

    install_metrics(app)  # first: its timer starts before any other before_request
    security.install(app, database)
    app.before_request(methods.answer_options)
    app.before_request(auth.guard)
    app.before_request(csrf.protect)
    templating.install(app)
    for blueprint in (api.bp, auth.bp, pages.bp, maintenance.bp):
        app.register_blueprint(blueprint)
    events.install(app, database)
    errors.register(app)
