"""Serving: prepare the instance, start each process's background work, listen, and shut down cleanly.

``authserver serve`` is production: granian (WSGI) with pre-forked worker processes, chosen by measurement
(docs/performance.md). ``authserver run`` is one threaded werkzeug process for development and tests. Either way
each serving process runs its own activity flusher (and webhook worker), started in that process and flushed
when it stops: SIGTERM lets in-flight requests finish, then every process writes what it buffered.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from granian.constants import Interfaces
from granian.log import LogLevels
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.serving import make_server

from . import metrics
from .config import ConfigError
from .database import prepare
from .expiry_job import ExpiryJob
from .expiry_mail_job import ExpiryMailJob, announce
from .extensions import db
from .hotpath.granian_workers import DrainingWorkerServer
from .httpbase import describe_database_error
from .issuer import require_issuer
from .keys import KeyStoreError
from .logs import GRANIAN_LOG_CONFIG, configure_logging, flush_access_log
from .migration_lock import migration_lock
from .principals import SYSTEM
from .prune_job import PruneJob
from .services import services
from .unit_of_work import unit_of_work
from .webhooks.worker import WebhookWorker, start_in_process

log = logging.getLogger("authserver")

# The pre-fork parent's app, inherited by workers that fork; a worker started another way builds its own.
_APP: Flask | None = None


def _prepare_or_exit(app) -> None:
    configure_logging(app.config["AUTHSERVER_LOG_LEVEL"], access=app.config["AUTHSERVER_ACCESS_LOG"])
    try:
        prepare(app)
        with app.app_context():  # tokens name the recorded issuer, or this start refuses
            with migration_lock(db.engine, app.config["AUTHSERVER_MIGRATION_LOCK_TIMEOUT"]), unit_of_work():
                require_issuer(SYSTEM, app.config["AUTHSERVER_ISSUER"], now=services(app).clock.now())
    except (KeyStoreError, ConfigError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except SQLAlchemyError as exc:  # unreachable, read-only or full: one clear line, not a traceback
        reason = getattr(exc, "orig", None) or exc.__class__.__name__
        print(
            f"Error: {describe_database_error(exc)} ({reason}); check DATABASE_URL and that the database "
            "(and, for SQLite, its file and folder) can be written",
            file=sys.stderr,
        )
        raise SystemExit(1) from None


def _announce(app, host: str, port: int, how: str) -> None:
    issuer = app.config["AUTHSERVER_ISSUER"]
    print(f"authserver listening on http://{host}:{port} (issuer {issuer}; {how})", flush=True)
    print(
        f"  metadata:  {issuer}/.well-known/oauth-authorization-server\n"
        "  next:      authserver account create --name 'My company'   (see README: Getting started)",
        flush=True,
    )


class ProcessWork:
    """The background work one serving process owns: the activity flusher and the in-process webhook worker."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.webhook_worker: WebhookWorker | None = None
        self.prune_job = PruneJob(app)  # retention, every AUTHSERVER_PRUNE_INTERVAL
        self.expiry_job = ExpiryJob(app)  # idle tokens and grace ends, every AUTHSERVER_EXPIRY_SCAN_INTERVAL
        self.expiry_mail = ExpiryMailJob(app)  # warnings to account admins, if AUTHSERVER_SMTP_URL is set

    def start(self) -> ProcessWork:
        found = services(self.app)
        if found.flusher is not None:
            found.flusher.start()
        found.oauth.client_uses.start(self.app)
        self.webhook_worker = start_in_process(self.app)  # None unless AUTHSERVER_WEBHOOK_WORKER=in-process
        self.prune_job.start()
        self.expiry_job.start()
        self.expiry_mail.start()
        return self

    def stop(self) -> None:
        """Stop background threads and write what this process buffered (the flusher flushes once more)."""
        if self.webhook_worker is not None:
            self.webhook_worker.stop()
        self.prune_job.stop()
        self.expiry_job.stop()
        self.expiry_mail.stop()
        found = services(self.app)
        if found.flusher is not None:
            found.flusher.stop()
        found.oauth.client_uses.stop()
        flush_access_log()


# -- development: one threaded werkzeug process ---------------------------------------------------------------
def serve(app, host: str, port: int) -> None:
    """``authserver run``: one process, a thread per request."""
    _prepare_or_exit(app)
    announce(app)
    server = make_server(host, port, app, threaded=True)
    _announce(app, host, server.port, "one process, threaded; use `authserver serve` in production")
    work = ProcessWork(app).start()
    # SIGTERM: stop accepting, let in-flight requests finish, flush activity (shutdown must run off-thread).
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        work.stop()


# -- production: granian, pre-forked workers ------------------------------------------------------------------
def serve_workers(
    app, host: str, port: int, *, workers: int, threads: int, factory: Callable[[], Flask] | None = None
) -> None:
    """``authserver serve``: the schema and keys are prepared once in the parent, then ``workers`` processes
    each serve with ``threads`` request threads (threads beyond one are for long polls, not for throughput).
    ``factory`` builds the app in a worker that was spawned rather than forked (macOS, Windows): the command
    line's own, handed in by the caller, since this module sits below ``create_app``."""
    global _APP
    metrics_dir = _share_metrics(app, port)
    _prepare_or_exit(app)
    announce(app)
    with app.app_context():
        db.engine.dispose()  # no connection crosses the fork
    # Budgets kept in process memory are split between the workers, so the instance grants the configured figure.
    services(app).limits.share_among(workers)
    _APP = app
    _freeze_long_lived_objects()

    _announce(app, host, port, f"granian, {workers} worker process(es) x {threads} thread(s)")
    granian_server(host, port, workers=workers, threads=threads).serve(
        target_loader=functools.partial(_load_worker_app, factory, metrics_dir), wrap_loader=False
    )


def _share_metrics(app: Flask, port: int) -> Path:
    """Before anything is counted: every worker's metrics go to files in this instance's directory, wiped now,
    so a scrape sums all workers (metrics/registry.py)."""
    directory = Path(app.config["AUTHSERVER_METRICS_DIR"]) / f"authserver-metrics-{port}"
    try:
        metrics.prepare_directory(directory)
    except OSError as exc:
        print(f"Error: cannot keep metrics in {directory}: {exc}; set AUTHSERVER_METRICS_DIR", file=sys.stderr)
        raise SystemExit(1) from None
    metrics.share_between_workers(directory)
    return directory


def granian_server(host: str, port: int, *, workers: int, threads: int) -> DrainingWorkerServer:
    """The production server's settings in one place (the benchmark serves its bare ceiling app with them too).
    ``serve(target_loader=...)`` runs the loader in each worker to get its WSGI app."""
    return _WorkerServer(
        "authserver:app",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        websockets=False,
        log_level=LogLevels.warning,
        log_dictconfig=GRANIAN_LOG_CONFIG,
        respawn_failed_workers=True,
        workers_kill_timeout=30,
    )


class _WorkerServer(DrainingWorkerServer):
    """granian's pre-fork server; each worker, once drained, stops its background work and writes its buffers."""

    @staticmethod
    def after_drain() -> None:
        _stop_worker()


_WORK: ProcessWork | None = None


def _load_worker_app(factory: Callable[[], Flask] | None, metrics_dir: Path):
    """Runs in each worker before it serves: its own database connections and its own background work."""
    global _WORK
    metrics.join_workers(metrics_dir)
    metrics.forget_dead_workers(metrics_dir)  # the worker this one replaces, if it died
    app = _APP
    if app is None:  # a spawned (not forked) worker: build the app from the same environment
        if factory is None:
            raise SystemExit("a spawned worker needs the app factory: start it with `authserver serve`")
        app = factory()
    with app.app_context():
        db.engine.dispose(close=False)  # never reuse a connection the parent opened
    _WORK = ProcessWork(app).start()
    _freeze_long_lived_objects()
    log.info("worker %s serving", os.getpid())
    return app


def _freeze_long_lived_objects() -> None:
    """Move everything built so far (modules, the app, its services: ~100,000 objects) out of the cyclic garbage
    collector's sight. A full collection over them takes ~30 ms, a pause every request in flight would wait out;
    they live as long as the process anyway. In the parent it also keeps the collector from touching, and so
    copying, the pages the workers share after the fork."""
    gc.collect()
    gc.freeze()


def _stop_worker() -> None:
    if _WORK is not None:
        _WORK.stop()
    metrics.leave_workers()
