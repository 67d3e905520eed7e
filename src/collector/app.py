"""create_app(): the Flask application factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from collector.config.database import APP_EXTENSION, DatabaseConfig, close_db, get_db_config
from collector.config.settings import Config
from collector.models import ALL_MODELS

logger = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app and reconcile its database schema (tables, then indexes)."""
    app = Flask(__name__)
    app.config.from_mapping(DB_PATH=str(Config.DB_PATH))
    if test_config:
        app.config.update(test_config)

    app.extensions[APP_EXTENSION] = DatabaseConfig(app.config["DB_PATH"])
    with app.app_context():
        db_config = get_db_config()
        db_config.initialize_schema(ALL_MODELS)
        db_config.close()
    app.teardown_appcontext(close_db)

    from collector.web.api import bp as api_bp

    app.register_blueprint(api_bp)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        return jsonify(error=exc.description), exc.code

    return app
