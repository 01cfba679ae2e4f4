"""/healthz: unauthenticated liveness plus how fresh the token verdicts are (mode, feed, cache sizes)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("status", __name__)


@bp.get("/healthz")
def healthz():
    runtime = current_app.extensions["resource_demo"]
    body = runtime.status()
    body["status"] = "ok" if runtime.feed.is_live() else "degraded"
    return jsonify(body)
