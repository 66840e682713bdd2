"""wxbot: the WeChat backend of the recruitment platform."""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from wxbot import request_ids
from wxbot.config import Settings, load_settings
from wxbot.logs import setup_logging
from wxbot.services import Services, build_services
from wxbot.web import close_db, register_errorhandlers


def create_app(settings: Settings | None = None, *, start_scheduler: bool | None = None) -> Flask:
    """The app factory: settings -> logging -> services -> router and edges -> (embedded) scheduler."""
    settings = settings or load_settings()
    setup_logging(settings.app.log_format, settings.app.log_level)
    warn_of_plaintext_accounts(settings)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.app.secret_key,
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.app.proxy_hops:
        hops = settings.app.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    services = build_services(settings)
    app.extensions["wxbot"] = services
    app.teardown_appcontext(close_db)
    request_ids.register(app)
    register_errorhandlers(app)
    from wxbot.handlers import build_router  # the edges load with the app, not with `import wxbot`

    services.router = build_router()  # from wxbot.handlers.MODULES
    register_blueprints(app)
    if settings.sandbox.enabled:
        from wxbot.sandbox.web import mount_sandbox

        mount_sandbox(app, services)

    if settings.scheduler.embedded if start_scheduler is None else start_scheduler:
        register_scheduler(app, services)
    return app


def warn_of_plaintext_accounts(settings: Settings) -> None:
    """Production accounts in plaintext mode: their deliveries are unencrypted and signed by the query alone."""
    plain = [a.name for a in settings.wechat.official if a.mode == "plaintext"]
    if plain and not settings.development:
        logging.getLogger(__name__).warning(
            "official account(s) %s in plaintext mode: deliveries travel unencrypted, signed by the query "
            'alone; choose 安全模式 in WeChat\'s console and set mode = "safe" with the EncodingAESKey',
            ", ".join(plain),
        )


def register_scheduler(app: Flask, services: Services) -> None:
    """The embedded scheduler runs in the process that serves requests, once per process.

    Under `flask run` the process that builds the app may be the reloader's watcher, which never serves: there
    the scheduler waits for the first request. Everywhere else (gunicorn workers, wsgi servers) it starts now.
    """
    from werkzeug.serving import is_running_from_reloader

    from jobs import start_embedded

    def start() -> None:
        scheduler = start_embedded(services)
        if scheduler is not None:
            services.scheduler = scheduler

    if os.environ.get("FLASK_RUN_FROM_CLI") == "true" and not is_running_from_reloader():
        started = threading.Event()

        @app.before_request
        def start_on_first_request() -> None:
            if not started.is_set():
                started.set()
                start()

    else:
        start()


def register_blueprints(app: Flask) -> None:
    """Each edge owns its blueprints (the order does not matter); the development environment has pages of
    its own (404 in production)."""
    from wxbot.api_docs import bp as api_docs_bp
    from wxbot.api_docs import index_bp as api_docs_index_bp
    from wxbot.callback.miniprogram import bp as callback_mp_bp
    from wxbot.callback.views import bp as callback_bp
    from wxbot.console import bp as console_bp
    from wxbot.console.reader import reader_bp
    from wxbot.health import bp as health_bp
    from wxbot.metrics_web import bp as metrics_bp
    from wxbot.miniprogram import bp as miniprogram_bp
    from wxbot.miniprogram.openapi import docs_bp as miniprogram_docs_bp
    from wxbot.platform import bp as platform_bp
    from wxbot.platform.openapi import docs_bp as platform_docs_bp

    for blueprint in (
        health_bp,
        metrics_bp,
        callback_bp,
        callback_mp_bp,
        miniprogram_bp,
        miniprogram_docs_bp,
        platform_bp,
        platform_docs_bp,
        api_docs_bp,
        console_bp,
        reader_bp,
    ):
        app.register_blueprint(blueprint)
    if app.extensions["wxbot"].settings.development:
        for blueprint in (api_docs_index_bp,):
            app.register_blueprint(blueprint)
