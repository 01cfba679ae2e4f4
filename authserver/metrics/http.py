"""``GET /metrics`` and the request hooks that time every Flask request.

A scrape under ``authserver serve`` reads every worker's files (dead workers' counters included, their live gauges
dropped), so each scrape sums all workers whichever worker answers it. One process (``authserver run``) shows its own
set, plus prometheus_client's process and platform collectors. Either way the signing key's age is computed at
scrape time from the database, not kept in any process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..services import services
from .recording import INTROSPECT_ENDPOINT, observe_introspection, observe_request
from .registry import active, forget_dead_workers, shared_directory

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's own method
    return Response(scrape(app), mimetype=CONTENT_TYPE_LATEST)


def scrape(app: Flask) -> bytes:
    registry = CollectorRegistry()
    directory = shared_directory()
    if directory is not None:
        forget_dead_workers(directory)
        multiprocess.MultiProcessCollector(registry, path=str(directory))
    else:
        registry.register(_Forward(active().registry))
        registry.register(_Forward(REGISTRY))  # process_* and python_* of this one process
    registry.register(SigningKeyAge(app))
    return generate_latest(registry)


class _Forward:
    """A collector that yields another registry's metrics, so one scrape joins several registries."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()


class SigningKeyAge:
    """``authserver_signing_key_age_seconds``: how long the key signing now has signed. Absent when no key signs
    (nothing can be minted: alert on its absence) or the database cannot be read."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        found = services(self.app)
        now = found.clock.now()
        try:
            since = found.keystore.signing_since(now)
        except SQLAlchemyError:
            db.session.rollback()
            return
        if since is None:
            return
        gauge = GaugeMetricFamily(
            "authserver_signing_key_age_seconds", "Seconds since the current signing key began signing"
        )
        gauge.add_metric([], (now - since).total_seconds())
        yield gauge


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.get("started")
        if request.endpoint == INTROSPECT_ENDPOINT:  # the view returns its result on the response it answers with
            observe_introspection(response.status_code, getattr(response, "introspection_result", None), started)
        elif started is not None:
            observe_request(request.endpoint, request.method, response.status_code, time.perf_counter() - started)
        return response
