"""Prometheus metrics of the v2 service: how token verdicts were reached (cache hit, introspection, local)."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

VERDICTS = Counter("resource_demo_token_verdicts_total", "How each token verdict was reached", ["source"])

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics_endpoint():
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
