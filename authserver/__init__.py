"""authserver: an authorization server for private integrations.

``create_app`` wires configuration, extensions, blueprints, error handlers and the CLI. No logic lives here.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import api_reference, database, health, httpbase, logs, secret_scanning, services
from .admin_api import bp as admin_api_bp
from .admin_ui import bp as admin_ui_bp
from .cli.commands import register as register_cli
from .config import load_config
from .extensions import db
from .feed_wakeups import install_feed_wakeups
from .hotpath.direct import DirectIntrospection
from .metrics import http as metrics_http
from .oauth.views import bp as oauth_bp


def create_app(overrides: dict | None = None, *, clock=None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    overrides = dict(overrides or {})
    instance = overrides.pop("INSTANCE_PATH", None)
    if instance:
        app.instance_path = str(instance)
    app.config.update(load_config(Path(app.instance_path), overrides))

    db.init_app(app)
    database.init_app(app)
    services.init_app(app, clock=clock)
    install_feed_wakeups()
    httpbase.init_app(app)
    metrics_http.init_app(app)
    logs.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(oauth_bp)
    app.register_blueprint(admin_api_bp, url_prefix="/api")
    app.register_blueprint(admin_ui_bp)
    app.register_blueprint(api_reference.bp)  # GET /docs/api, the metadata's service_documentation
    secret_scanning.init_app(app)  # POST /secret-scanning/alerts, when AUTHSERVER_SECRET_SCANNING_KEYS_URL is set

    # The hot path, before Flask's request handling. (Wrapping wsgi_app is Flask's documented middleware hook; its
    # stubs declare it a method, hence the ignores.)
    app.wsgi_app = DirectIntrospection(app.wsgi_app, app)  # type: ignore[method-assign]
    proxies = app.config["AUTHSERVER_TRUSTED_PROXIES"]
    if proxies:  # outermost: every path, the direct one included, sees the caller's scheme, host and address
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )

    register_cli(app)
    return app
