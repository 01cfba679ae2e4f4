"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from .extensions import db
from .services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive and serving requests."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready for traffic: the database answers and, when configured, Redis does too."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the type is enough for the operator
        db.session.rollback()
        checks["database"] = f"unavailable ({exc.__class__.__name__})"
    found = services()
    if found.redis is not None:
        checks["redis"] = "ok" if found.bus.ping() else "unavailable"
    ready = all(value == "ok" for value in checks.values())
    response = jsonify(status="ready" if ready else "unavailable", checks=checks)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response
