"""Structured JSON logs with the request id. Only method, path and status are logged for requests, never
bodies, headers or query strings, so tokens, secrets and passwords cannot reach a log line.

An unexpected error's line carries its traceback (``traceback``), with token-shaped text withheld from it as from
every other field, and secret-shaped text too (a client secret or session id in an exception message). A request
that came with a W3C ``traceparent`` has ``trace_id``, ``span_id`` and ``parent_id`` on each of its lines
(trace_context.py). AUTHSERVER_LOG_LEVEL sets the level of authserver's own loggers; the access log has its own
setting (AUTHSERVER_ACCESS_LOG) and is written at any level."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import threading
import time

from flask import g, has_app_context, request

from .hotpath.log_records import stop_collecting_record_details
from .process_id import current_pid
from .trace_context import TraceContext, parse_traceparent

# What a token or secret looks like when it turns up where it should not (a URL path, a garbled request line, an
# exception message): a compact JWS (RFC 7515 §7.1; its header starts "eyJ", even cut short), a v1 API key
# (v1keys.KEY_PREFIX and 43 base64url characters), or a path segment longer than any id of ours (~28 characters).
_TOKEN_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}|v1_[A-Za-z0-9_-]{20,}")
_LONG_SEGMENT = 40
_REQUEST_TEXT = re.compile(r"\('.*'\)|\(\".*\"\)")


# What a secret of ours looks like (a client secret or session id: 43 base64url characters) in a traceback: a long
# run mixing upper and lower case, which identifiers, paths and hex digests in a traceback are not.
_LONG_RUN = re.compile(r"[A-Za-z0-9_-]{40,}")


def scrub(text: str) -> str:
    return _TOKEN_LIKE.sub("[token withheld]", text)


def _withhold_secret_shaped(match: re.Match[str]) -> str:
    run = match.group(0)
    return "[secret withheld]" if run.lower() != run and run.upper() != run else run


def scrub_traceback(text: str) -> str:
    """A formatted traceback (and the exception messages in it) with token- and secret-shaped text withheld."""
    return _LONG_RUN.sub(_withhold_secret_shaped, scrub(text))


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

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return scrub_traceback(super().formatException(ei))


# granian's logging settings (``log_dictconfig``): its own formatters, each line scrubbed.
GRANIAN_LOG_CONFIG = {
    "formatters": {
        "generic": {"()": f"{__name__}.ScrubbingFormatter", "fmt": "[%(levelname)s] %(message)s"},
        "access": {"()": f"{__name__}.ScrubbingFormatter", "fmt": "%(message)s"},
    }
}

access_log = logging.getLogger("authserver.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per record; the request's id and trace context from the record or the app context (a Flask
    request, or the direct introspection path, which sets them on ``g``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        request_id, trace = getattr(record, "request_id", None), getattr(record, "trace", None)
        if has_app_context():
            request_id = request_id if request_id is not None else g.get("request_id")
            trace = trace if trace is not None else g.get("trace")
        if request_id is not None:
            entry["request_id"] = request_id
        if isinstance(trace, TraceContext):
            entry |= trace.log_fields()
        for key in ("method", "path", "status", "duration_ms", "remote_addr"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if isinstance(entry.get("path"), str):
            entry["path"] = loggable_path(entry["path"])
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = scrub_traceback(record.stack_info)
        return json.dumps(entry)

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return scrub_traceback(super().formatException(ei))


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
            elif self._writer_pid != current_pid():  # first waiting line in this process (a forked worker too)
                self._writer_pid = current_pid()
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


def configure_logging(level: str = "info", access: str = "batched") -> None:
    """JSON lines on stderr for the server process; werkzeug's own access log (full URLs) is silenced. ``level``
    (AUTHSERVER_LOG_LEVEL: debug, info, warning, error) is authserver's loggers'; other libraries log at info and
    above even at debug (their debug lines are noise, and some name request details). The access log (one line
    per request) is ``batched`` (see AccessLogHandler), ``immediate`` or ``off``, whatever the level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    numeric = logging.getLevelName(level.upper())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
    logging.getLogger("authserver").setLevel(numeric)
    global _access_handler
    _access_handler = AccessLogHandler(sys.stderr, max_lines=200 if access == "batched" else 1)
    _access_handler.setFormatter(JsonFormatter())
    access_log.handlers[:] = [_access_handler]
    access_log.propagate = False
    access_log.setLevel(logging.WARNING if access == "off" else logging.INFO)
    logging.getLogger("werkzeug").setLevel(max(numeric, logging.WARNING))
    if not any(isinstance(f, WithholdRequestText) for f in logging.getLogger("werkzeug").filters):
        logging.getLogger("werkzeug").addFilter(WithholdRequestText())
    stop_collecting_record_details()  # none of our lines prints them (hotpath/log_records.py)


def flush_access_log() -> None:
    """Write what the access log holds (a stopping worker process, which exits without running atexit)."""
    for handler in access_log.handlers:
        handler.flush()


def log_access(
    method: str,
    path: str,
    status: int,
    started: float | None,
    remote_addr: str | None,
    request_id: str | None = None,
    trace: TraceContext | None = None,
) -> None:
    """One access-log line per request; ``started`` is the request's ``time.perf_counter()`` at arrival."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration = round((time.perf_counter() - started) * 1000, 2) if started else None
    if request_id is None and has_app_context():
        request_id = g.get("request_id")
    handler = _access_handler
    if handler is not None and access_log.handlers == [handler]:
        # The configured server log: the same JSON line the formatter writes, built without a LogRecord (a third
        # of the line's cost) and handed straight to the handler.
        if trace is None and type(request_id) is str and type(status) is int and _plain(method, remote_addr):
            handler.add_line(_access_line(_timestamp(), request_id, method, path, status, duration, remote_addr))
            return
        entry: dict[str, object] = {
            "ts": _timestamp(),
            "level": "info",
            "logger": "authserver.access",
            "msg": "request",
        }
        if request_id is not None:
            entry["request_id"] = request_id
        if trace is not None:
            entry |= trace.log_fields()
        entry |= {
            "method": method,
            "path": loggable_path(path),
            "status": status,
            "duration_ms": duration,
            "remote_addr": remote_addr,
        }
        handler.add_line(json.dumps(entry))
        return
    extra: dict[str, object] = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration,
        "remote_addr": remote_addr,
    }
    if request_id is not None:
        extra["request_id"] = request_id
    if trace is not None:
        extra["trace"] = trace
    access_log.info("request", extra=extra)


_encode_string = json.encoder.encode_basestring_ascii  # json.dumps's own string encoder (ensure_ascii, as ours)
_logged_paths: dict[str, str] = {}


def _plain(method: object, remote_addr: object) -> bool:
    return type(method) is str and (remote_addr is None or type(remote_addr) is str)


def _access_line(
    ts: str, request_id: str, method: str, path: str, status: int, duration: float | None, remote_addr: str | None
) -> str:
    """The access line without a trace context, as ``json.dumps`` writes the same entry (key order, separators,
    escaping), from a template: the dictionary and the encoder's walk over it were most of the line's cost.
    tests/unit/test_access_log.py holds the two equal."""
    logged = _logged_paths.get(path)
    if logged is None:
        logged = loggable_path(path)
        if len(_logged_paths) < 256:  # paths are the caller's choice: past that, worked out each time
            _logged_paths[path] = logged
    return (
        f'{{"ts": "{ts}", "level": "info", "logger": "authserver.access", "msg": "request", '
        f'"request_id": {_encode_string(request_id)}, "method": {_encode_string(method)}, '
        f'"path": {_encode_string(logged)}, "status": {status}, '
        f'"duration_ms": {"null" if duration is None else float.__repr__(duration)}, '
        f'"remote_addr": {"null" if remote_addr is None else _encode_string(remote_addr)}}}'
    )


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
    @app.before_request
    def read_trace_context():
        """The caller's traceparent, if valid (no parsing at all without one)."""
        header = request.environ.get("HTTP_TRACEPARENT")
        if header is not None:
            g.trace = parse_traceparent(header)

    @app.after_request
    def log_request(response):
        current = request._get_current_object()  # one context lookup instead of one per attribute
        trace = g.get("trace")
        if trace is not None:
            response.headers["traceresponse"] = trace.traceresponse()
        log_access(
            current.method, current.path, response.status_code, g.get("started"), current.remote_addr, None, trace
        )
        return response
