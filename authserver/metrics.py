"""Prometheus metrics. Lifecycle counters are a projector of the domain events (domain_events): each audited
event counts once under its audit action when its transaction commits, whichever surface (API, UI, CLI, revocation
endpoint, jobs) caused it."""

from __future__ import annotations

import os
import time

from flask import Blueprint, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from .domain_events import DomainEvent
from .extensions import db

INTROSPECTIONS = Counter("authserver_introspections_total", "Introspection requests by result", ["result"])
REQUEST_LATENCY = Histogram(
    "authserver_request_seconds",
    "Request latency by endpoint",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
LIFECYCLE = Counter(
    "authserver_lifecycle_actions_total", "Committed lifecycle actions (from the audit log)", ["action"]
)

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics_endpoint():
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:  # pre-fork servers: aggregate every worker's files
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    return Response(payload, mimetype=CONTENT_TYPE_LATEST)


def init_app(app) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def observe(response):
        started = g.get("started")
        if request.endpoint == "oauth.introspect":  # the view returns its result on the response it answers with
            observe_introspection(response.status_code, getattr(response, "introspection_result", None), started)
        elif started is not None:
            REQUEST_LATENCY.labels(request.endpoint or "unmatched").observe(time.perf_counter() - started)
        return response


_INTROSPECTION_LATENCY = REQUEST_LATENCY.labels("oauth.introspect")
_INTROSPECTION_RESULTS = {
    result: INTROSPECTIONS.labels(result) for result in ("active", "inactive", "refused", "error")
}


def observe_introspection(status: int, result: str | None, started: float | None) -> None:
    """Count one introspection by result ("active"/"inactive", or "refused"/"error" when not answered 200) and
    observe its latency; the labelled children are looked up once, not per request."""
    if started is not None:
        _INTROSPECTION_LATENCY.observe(time.perf_counter() - started)
    if status != 200:
        result = "error" if status >= 500 else "refused"
    _INTROSPECTION_RESULTS[result or "inactive"].inc()


# -- the projector: lifecycle counters, one per audited domain event, counted when its transaction commits --------
_PENDING = "authserver.metrics.actions"


def project(event: DomainEvent) -> None:
    """Note ``event``'s action on its session; it is counted only if the transaction commits."""
    if event.AUDIT is not None:
        db.session().info.setdefault(_PENDING, []).append(event.AUDIT)


@sa_event.listens_for(Session, "after_commit")
def _count_actions(session: Session) -> None:
    for action in session.info.pop(_PENDING, []):
        LIFECYCLE.labels(action).inc()


@sa_event.listens_for(Session, "after_rollback")
def _forget_actions(session: Session) -> None:
    session.info.pop(_PENDING, None)
