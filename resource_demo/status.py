"""/healthz: unauthenticated liveness plus how fresh the token verdicts are (mode, feed, cache sizes)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("status", __name__)


@bp.get("/healthz")
def healthz():
    guard = current_app.extensions["resource_demo"]
    body = guard.status()
    body["status"] = "ok" if guard.is_ready() else "degraded"
    return jsonify(body)
