"""Structured JSON logs with the request id. Only method, path and status are logged for requests, never
bodies, headers or query strings, so tokens, secrets and passwords cannot reach a log line."""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import g, has_request_context, request


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
        for key in ("method", "path", "status", "duration_ms", "remote_addr"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the server process; werkzeug's own access log (full URLs) is silenced."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


access_log = logging.getLogger("authserver.access")


def init_app(app) -> None:
    @app.after_request
    def log_request(response):
        started = g.get("started")
        duration = round((time.perf_counter() - started) * 1000, 2) if started else None
        access_log.info("request", extra={"method": request.method, "path": request.path,
                                          "status": response.status_code, "duration_ms": duration,
                                          "remote_addr": request.remote_addr})
        return response
