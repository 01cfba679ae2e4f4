"""authserver: an authorization server for private integrations.

``create_app`` wires configuration, extensions, blueprints, error handlers and the CLI. No logic lives here.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from .config import load_config
from .extensions import db


def create_app(overrides: dict | None = None, *, clock=None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    overrides = dict(overrides or {})
    instance = overrides.pop("INSTANCE_PATH", None)
    if instance:
        app.instance_path = str(instance)
    app.config.update(load_config(Path(app.instance_path), overrides))

    from . import bus, database, health, httpbase, logs, metrics
    from .admin_api import bp as admin_api_bp
    from .admin_ui import bp as admin_ui_bp
    from .oauth import (
        feed,  # noqa: F401  (adds the feed routes to the oauth blueprint)
        v1_keys,  # noqa: F401  (adds the v1 key check for resource services)
    )
    from .oauth.views import bp as oauth_bp
    from .services import build_services

    db.init_app(app)
    database.init_app(app)
    app.extensions["authserver"] = build_services(app, clock=clock)
    app.extensions["authserver_bus"] = bus.EventBus(app.config["REDIS_URL"], app.config["REDIS_KEY_PREFIX"])
    if app.config["REDIS_URL"]:
        app.extensions["authserver_redis"] = app.extensions["authserver_bus"]
    httpbase.init_app(app)
    metrics.init_app(app)
    logs.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(oauth_bp)
    app.register_blueprint(admin_api_bp, url_prefix="/api")
    app.register_blueprint(admin_ui_bp)

    from .hotpath.direct import DirectIntrospection

    app.wsgi_app = DirectIntrospection(app.wsgi_app, app)  # the hot path, before Flask's request handling
    proxies = app.config["AUTHSERVER_TRUSTED_PROXIES"]
    if proxies:  # outermost: every path, the direct one included, sees the caller's scheme, host and address
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)

    from .cli import register

    register(app)
    return app
