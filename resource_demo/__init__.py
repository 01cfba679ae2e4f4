"""resource_demo: a v2 API service (a small CRM slice) protected by tokens from the authorization server.

``create_app`` wires configuration, the database, the token guard (the ``authserver_resource`` package), blueprints
and error handlers. What is left in this package is the CRM and its wiring.
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

    from authserver_resource.flask import FlaskResource

    from . import database, errors, events
    from .api import bp as v2_bp
    from .metrics import bp as metrics_bp
    from .protection import build_guard
    from .status import bp as status_bp
    from .v1 import bp as v1_bp

    db.init_app(app)
    database.init_app(app)
    guard = app.extensions["resource_demo"] = build_guard(app.config, clock=clock)
    events.init_app(app, guard.settings)  # data events, sent off the request path once serving starts
    FlaskResource(app, guard, autostart=False)  # RFC 6750 refusals, RFC 9728 document; serving.serve starts it
    errors.init_app(app)
    app.register_blueprint(v2_bp, url_prefix="/v2")
    app.register_blueprint(v1_bp, url_prefix="/v1")  # legacy v1 keys, deprecated (resource_demo/v1/)
    app.register_blueprint(status_bp)
    app.register_blueprint(metrics_bp)
    return app
