"""The access log: the same JSON line however it is written, batched by default, never a token in it."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from authserver import logs


@pytest.fixture
def configure():
    """configure_logging for a test, its streams swapped for buffers; the logging setup is restored after."""
    root, access = logging.getLogger(), logs.access_log
    saved = (root.handlers[:], root.level, access.handlers[:], access.propagate, access.level, logs._access_handler)

    def configure(mode: str) -> io.StringIO:
        logs.configure_logging(access=mode)
        stream = io.StringIO()
        logs.access_log.handlers[0].setStream(stream)
        return stream

    yield configure
    root.handlers[:], level, access.handlers[:], access.propagate, access_level, logs._access_handler = saved
    root.setLevel(level)
    access.setLevel(access_level)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_batched_lines_wait_for_the_batch_then_are_written_whole(configure):
    stream = configure("batched")
    for status in (200, 401, 503):
        logs.log_access("POST", "/oauth/introspect", status, time.perf_counter(), "127.0.0.1", "req-1")
    assert stream.getvalue() == ""
    logs.flush_access_log()
    lines = _lines(stream)
    assert [line["status"] for line in lines] == [200, 401, 503]
    assert lines[0] | {"ts": "-", "duration_ms": 0} == {
        "ts": "-",
        "level": "info",
        "logger": "authserver.access",
        "msg": "request",
        "request_id": "req-1",
        "method": "POST",
        "path": "/oauth/introspect",
        "status": 200,
        "duration_ms": 0,
        "remote_addr": "127.0.0.1",
    }


def test_a_quiet_server_still_writes_its_lines_within_the_interval(configure):
    stream = configure("batched")
    logs.log_access("GET", "/healthz", 200, time.perf_counter(), "127.0.0.1", "req-2")
    deadline = time.monotonic() + 3
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [line["request_id"] for line in _lines(stream)] == ["req-2"]


def test_a_full_batch_is_written_at_once(configure):
    stream = configure("batched")
    handler = logs.access_log.handlers[0]
    for _ in range(handler.max_lines):
        logs.log_access("GET", "/healthz", 200, None, "127.0.0.1", "x")
    assert len(_lines(stream)) == handler.max_lines


def test_immediate_writes_every_line_and_off_writes_none(configure):
    stream = configure("immediate")
    logs.log_access("GET", "/healthz", 200, None, "127.0.0.1", "x")
    assert len(_lines(stream)) == 1
    stream = configure("off")
    logs.log_access("GET", "/healthz", 200, None, "127.0.0.1", "x")
    logs.flush_access_log()
    assert stream.getvalue() == ""


def test_the_direct_line_is_the_formatters_line(configure):
    """log_access builds the line without a LogRecord; it must match what JsonFormatter writes for one."""
    token_path = "/api/integrations/eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"  # noqa: S105 - a fake
    stream = configure("immediate")
    logs.log_access("GET", token_path, 404, None, "10.0.0.1", "req-3")
    direct = _lines(stream)[0]
    record = logging.LogRecord("authserver.access", logging.INFO, __file__, 1, "request", (), None)
    for key, value in {
        "method": "GET",
        "path": token_path,
        "status": 404,
        "duration_ms": None,
        "remote_addr": "10.0.0.1",
        "request_id": "req-3",
    }.items():
        setattr(record, key, value)
    formatted = json.loads(logs.JsonFormatter().format(record))
    assert direct.keys() == formatted.keys()
    assert {k: v for k, v in direct.items() if k != "ts"} == {k: v for k, v in formatted.items() if k != "ts"}
    assert "eyJ" not in stream.getvalue()
    assert direct["ts"].endswith("Z") and len(direct["ts"]) == len(formatted["ts"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/integrations/eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        "/v1/contacts/v1_" + "x" * 43,
        "/oauth/eyJhbGciOiJSUzI1NiJ9",
    ],
)
def test_a_token_shaped_path_segment_is_withheld_from_the_line(configure, path):
    stream = configure("immediate")
    logs.log_access("GET", path, 404, time.perf_counter(), "127.0.0.1", "req-1")
    line = stream.getvalue()
    assert path.rsplit("/", 1)[1] not in line and "withheld" in line


def test_an_error_message_carrying_a_v1_key_is_withheld():
    key = "v1_" + "k" * 43
    record = logging.LogRecord("authserver", logging.ERROR, __file__, 1, "check failed for %s", (key,), None)
    assert key not in logs.JsonFormatter().format(record)


def test_granians_own_log_lines_are_scrubbed_too():
    """`authserver serve` hands granian formatters that withhold token-shaped text (its access log is off)."""
    from granian.log import configure_logging as configure_granian

    from authserver.serving import granian_server

    server = granian_server("127.0.0.1", 0, workers=1, threads=1)
    assert server.log_config == logs.GRANIAN_LOG_CONFIG
    granian = logging.getLogger("_granian")
    saved = granian.handlers[:], granian.level, granian.propagate
    try:
        configure_granian(server.log_level, server.log_config, True)
        stream = io.StringIO()
        granian.handlers[0].setStream(stream)
        jws = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
        granian.error("worker failed on GET /v2/%s", jws)
        assert "worker failed" in stream.getvalue() and jws not in stream.getvalue()
    finally:
        granian.handlers[:], level, granian.propagate = saved
        granian.setLevel(level)


@pytest.mark.parametrize(
    ("request_id", "method", "path", "status", "duration", "remote_addr"),
    [
        ("abc123", "POST", "/oauth/introspect", 200, 0.27, "127.0.0.1"),
        ('quo"te\\back', "GET", "/admin/x y", 404, None, None),
        ("ünïcode\u2028", "PATCH", "/api/integrations/" + "a" * 80, 503, 12345.67, "::1"),
        ("id", "DELETE", "/p?q=1", 204, 1e-05, "10.0.0.1"),
        ("id", "POST", "/t/eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.sig", 401, 3.0, "\x00\x1f"),
    ],
)
def test_templated_line_is_exactly_what_json_dumps_writes(request_id, method, path, status, duration, remote_addr):
    """The access line's template (no trace context) against json.dumps of the same entry: byte for byte."""
    entry = {"ts": "2026-12-07T08:00:00.123Z", "level": "info", "logger": "authserver.access", "msg": "request"}
    entry |= {"request_id": request_id, "method": method, "path": logs.loggable_path(path), "status": status}
    entry |= {"duration_ms": duration, "remote_addr": remote_addr}
    line = logs._access_line(entry["ts"], request_id, method, path, status, duration, remote_addr)
    assert line == json.dumps(entry)
