"""wxbot: the WeChat backend of the recruitment platform."""

from __future__ import annotations

from flask import Flask

from wxbot.config import Settings, load_settings
from wxbot.logs import setup_logging
from wxbot.services import Services, build_services
from wxbot.web import close_db, register_errorhandlers


def create_app(settings: Settings | None = None, *, start_scheduler: bool | None = None) -> Flask:
    """The app factory: settings -> services -> blueprints -> (embedded) scheduler."""
    settings = settings or load_settings()
    setup_logging(settings.app.log_format, settings.app.log_level)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.app.secret_key,
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    services = build_services(settings)
    app.extensions["wxbot"] = services
    app.teardown_appcontext(close_db)
    register_errorhandlers(app)
    register_blueprints(app, services)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def register_blueprints(app: Flask, services: Services) -> None:
    # Each concern owns one blueprint; the order does not matter.
    from wxbot.handlers import router
    from wxbot.miniprogram import bp as miniprogram_bp
    from wxbot.miniprogram.openapi import docs_bp as miniprogram_docs_bp
    from wxbot.platform import bp as platform_bp
    from wxbot.wechat.gateway import bp as wechat_bp

    app.register_blueprint(platform_bp)
    app.register_blueprint(wechat_bp)
    services.extra["router"] = router
    app.register_blueprint(miniprogram_bp)
    app.register_blueprint(miniprogram_docs_bp)
