"""Structured JSON logs with the request id. Only method, path and status are logged for requests, never
bodies, headers or query strings, so tokens, secrets and passwords cannot reach a log line."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from flask import g, has_request_context, request

# What a token or secret looks like when it turns up where it should not (a URL path, a garbled request line):
# a JWT (or its first two parts), or a path segment longer than any id of ours (ids are ~28 characters).
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){1,2}")
_LONG_SEGMENT = 40
_REQUEST_TEXT = re.compile(r"\('.*'\)|\(\".*\"\)")


def scrub(text: str) -> str:
    return _JWT.sub("[token withheld]", text)


def loggable_path(path: str) -> str:
    """The request path with any segment that could be a token or secret withheld."""
    return "/".join("[withheld]" if len(part) > _LONG_SEGMENT else part for part in scrub(path).split("/"))


class WithholdRequestText(logging.Filter):
    """werkzeug logs a malformed request's raw first line ("Bad request syntax ('GET /?token=...')"): keep the
    status and reason, drop the client's text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = _REQUEST_TEXT.sub("(request text withheld)", record.getMessage()), ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is None and has_request_context():
            request_id = g.get("request_id")
        if request_id is not None:
            entry["request_id"] = request_id
        for key in ("method", "path", "status", "duration_ms", "remote_addr"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if isinstance(entry.get("path"), str):
            entry["path"] = loggable_path(entry["path"])
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
    if not any(isinstance(f, WithholdRequestText) for f in logging.getLogger("werkzeug").filters):
        logging.getLogger("werkzeug").addFilter(WithholdRequestText())
    # The JSON lines carry none of the caller's file and line, thread or process names: don't collect them for every
    # record (the logging HOWTO's "Optimization" settings; measured in docs/performance.md).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


access_log = logging.getLogger("authserver.access")


def log_access(method: str, path: str, status: int, started: float | None, remote_addr: str | None,
               request_id: str | None = None) -> None:
    """One access-log line per request; ``started`` is the request's ``time.perf_counter()`` at arrival."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration = round((time.perf_counter() - started) * 1000, 2) if started else None
    extra = {"method": method, "path": path, "status": status, "duration_ms": duration, "remote_addr": remote_addr}
    if request_id is not None:
        extra["request_id"] = request_id
    access_log.info("request", extra=extra)


def init_app(app) -> None:
    @app.after_request
    def log_request(response):
        current = request._get_current_object()  # one context lookup instead of one per attribute
        log_access(current.method, current.path, response.status_code, g.get("started"), current.remote_addr)
        return response
