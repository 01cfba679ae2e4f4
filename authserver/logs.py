"""Structured JSON logs with the request id. Only method, path and status are logged for requests, never
bodies, headers or query strings, so tokens, secrets and passwords cannot reach a log line."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import threading
import time

from flask import g, has_request_context, request

from .hotpath.log_records import stop_collecting_record_details

# What a token or secret looks like when it turns up where it should not (a URL path, a garbled request line, an
# exception message): a compact JWS (RFC 7515 §7.1; its header starts "eyJ", even cut short), a v1 API key
# (v1keys.KEY_PREFIX and 43 base64url characters), or a path segment longer than any id of ours (~28 characters).
_TOKEN_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}|v1_[A-Za-z0-9_-]{20,}")
_LONG_SEGMENT = 40
_REQUEST_TEXT = re.compile(r"\('.*'\)|\(\".*\"\)")


def scrub(text: str) -> str:
    return _TOKEN_LIKE.sub("[token withheld]", text)


@functools.lru_cache(maxsize=512)  # a handful of paths make most lines
def loggable_path(path: str) -> str:
    """The request path with any segment that could be a token or secret withheld."""
    return "/".join("[withheld]" if len(part) > _LONG_SEGMENT else part for part in scrub(path).split("/"))


class WithholdRequestText(logging.Filter):
    """werkzeug logs a malformed request's raw first line ("Bad request syntax ('GET /?token=...')"): keep the
    status and reason, drop the client's text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = _REQUEST_TEXT.sub("(request text withheld)", record.getMessage()), ()
        return True


class ScrubbingFormatter(logging.Formatter):
    """Plain-text lines of loggers we do not format as JSON (granian's own) with token-shaped text withheld."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


# granian's logging settings (``log_dictconfig``): its own formatters, each line scrubbed.
GRANIAN_LOG_CONFIG = {
    "formatters": {
        "generic": {"()": f"{__name__}.ScrubbingFormatter", "fmt": "[%(levelname)s] %(message)s"},
        "access": {"()": f"{__name__}.ScrubbingFormatter", "fmt": "%(message)s"},
    }
}

access_log = logging.getLogger("authserver.access")


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


class AccessLogHandler(logging.StreamHandler):
    """The access log's handler: one line per request, written in batches of up to ``max_lines`` (else within
    ``interval`` seconds, by a thread, on a quiet server); ``max_lines=1`` writes each line at once. A write per
    line was the largest cost of an introspection on the production server (docs/performance.md: a system call,
    and the GIL handed to another thread and back, on every request). A process killed outright loses at most
    ``interval`` seconds of access lines; warnings and errors go through the root handler, written at once."""

    def __init__(self, stream, interval: float = 0.5, max_lines: int = 200) -> None:
        super().__init__(stream)
        self.interval, self.max_lines = interval, max_lines
        self._lines: list[str] = []
        self._writer_pid: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.add_line(self.format(record))
        except Exception:
            self.handleError(record)

    def add_line(self, line: str) -> None:
        with self.lock:  # type: ignore[union-attr]  # typeshed: Optional; Handler.__init__ always creates it
            self._lines.append(line)
            if len(self._lines) >= self.max_lines:
                self._write()
            elif self._writer_pid != os.getpid():  # first waiting line in this process (a forked worker too)
                self._writer_pid = os.getpid()
                threading.Thread(target=self._write_periodically, name="access-log-writer", daemon=True).start()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # typeshed: Optional; Handler.__init__ always creates it
            self._write()

    def _write(self) -> None:
        lines, self._lines = self._lines, []
        if lines:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    def _write_periodically(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.flush()
            except Exception:  # noqa: S110 - a closed stderr at exit: nothing left to write to
                pass


_access_handler: AccessLogHandler | None = None


def configure_logging(level: str = "INFO", access: str = "batched") -> None:
    """JSON lines on stderr for the server process; werkzeug's own access log (full URLs) is silenced. The access
    log (one line per request) is ``batched`` (see BatchedStreamHandler), ``immediate`` or ``off``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    global _access_handler
    _access_handler = AccessLogHandler(sys.stderr, max_lines=200 if access == "batched" else 1)
    _access_handler.setFormatter(JsonFormatter())
    access_log.handlers[:] = [_access_handler]
    access_log.propagate = False
    access_log.setLevel(logging.WARNING if access == "off" else logging.NOTSET)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if not any(isinstance(f, WithholdRequestText) for f in logging.getLogger("werkzeug").filters):
        logging.getLogger("werkzeug").addFilter(WithholdRequestText())
    stop_collecting_record_details()  # none of our lines prints them (hotpath/log_records.py)


def flush_access_log() -> None:
    """Write what the access log holds (a stopping worker process, which exits without running atexit)."""
    for handler in access_log.handlers:
        handler.flush()


def log_access(
    method: str, path: str, status: int, started: float | None, remote_addr: str | None, request_id: str | None = None
) -> None:
    """One access-log line per request; ``started`` is the request's ``time.perf_counter()`` at arrival."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration = round((time.perf_counter() - started) * 1000, 2) if started else None
    if request_id is None and has_request_context():
        request_id = g.get("request_id")
    handler = _access_handler
    if handler is not None and access_log.handlers == [handler]:
        # The configured server log: the same JSON line the formatter writes, built without a LogRecord (a third
        # of the line's cost) and handed straight to the handler.
        entry: dict[str, object] = {
            "ts": _timestamp(),
            "level": "info",
            "logger": "authserver.access",
            "msg": "request",
        }
        if request_id is not None:
            entry["request_id"] = request_id
        entry |= {
            "method": method,
            "path": loggable_path(path),
            "status": status,
            "duration_ms": duration,
            "remote_addr": remote_addr,
        }
        handler.add_line(json.dumps(entry))
        return
    extra = {"method": method, "path": path, "status": status, "duration_ms": duration, "remote_addr": remote_addr}
    if request_id is not None:
        extra["request_id"] = request_id
    access_log.info("request", extra=extra)


_second: tuple[int, str] = (0, "")


def _timestamp() -> str:
    """JsonFormatter's "ts" for now, with the seconds part formatted once per second."""
    global _second
    now = time.time()
    whole = int(now)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}Z"


def init_app(app) -> None:
    @app.after_request
    def log_request(response):
        current = request._get_current_object()  # one context lookup instead of one per attribute
        log_access(current.method, current.path, response.status_code, g.get("started"), current.remote_addr)
        return response
