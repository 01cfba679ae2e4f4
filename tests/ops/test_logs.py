"""Logs that help (issue 16 §3), read from a real ``authserver serve`` process's stderr.

An unexpected error's line carries its traceback with token- and secret-shaped text withheld (the answer stays a
plain 500 with a request id); AUTHSERVER_LOG_LEVEL filters authserver's lines; a W3C ``traceparent`` puts the
caller's trace id on the request's access line and app lines (and ``traceresponse`` names our span); a malformed
one is ignored.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time

import pytest
import requests

from authserver.trace_context import parse_traceparent
from tests.support.servers import ROOT, AuthServerProcess, make_authserver, wait_for_http

from .failing_app import FAIL_PATH

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
# Shaped like ours (never issued): a compact JWS and a client secret (secrets.token_urlsafe(32)).
TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6Im9wcyJ9.eyJzdWIiOiJvcHMtdGVzdCJ9.c2lnbmF0dXJlLW9mLWEtdG9rZW4"  # noqa: S105
SECRET = "Qm9wcy10ZXN0LXNlY3JldC1ub3QtaXNzdWVkXzAxMjM0NTY3"  # noqa: S105
_ids = itertools.count(1)


def serve_failing_app(workdir, **env: str) -> tuple[AuthServerProcess, subprocess.Popen]:
    """``authserver serve`` (one worker) over the app with a failing route; its stdout and stderr in the log."""
    server = make_authserver(workdir, AUTHSERVER_ACCESS_LOG="immediate", **env)
    server.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), server.env.get("PYTHONPATH")]))
    with open(server.log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", "tests.ops.failing_app", "serve", "--port", str(server.port), "--workers", "1"],
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=server.workdir,
        )
    try:
        wait_for_http(f"{server.url}/healthz", proc, server.log_path, timeout=60)
    except Exception:
        stop(proc)
        raise
    return server, proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def json_lines(server: AuthServerProcess) -> list[dict]:
    lines = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def lines_of(server: AuthServerProcess, request_id: str, count: int = 1, timeout: float = 10) -> list[dict]:
    """The log lines naming ``request_id``, once at least ``count`` of them are written."""
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in json_lines(server) if line.get("request_id") == request_id]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def request_id() -> str:
    return f"ops-logs-{os.getpid()}-{next(_ids)}"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server, proc = serve_failing_app(tmp_path_factory.mktemp("ops-logs"))
    try:
        yield server
    finally:
        stop(proc)


def test_an_unexpected_error_logs_its_traceback_with_tokens_and_secrets_withheld(served):
    rid = request_id()
    answer = requests.get(
        f"{served.url}{FAIL_PATH}", params={"token": TOKEN, "secret": SECRET}, headers={"X-Request-Id": rid}, timeout=30
    )

    assert answer.status_code == 500
    assert answer.json() == {"error": "server_error", "error_description": f"unexpected error; request id {rid}"}
    assert "Traceback" not in answer.text and "UpstreamRefusedError" not in answer.text
    error = next(line for line in lines_of(served, rid, count=3) if line["level"] == "error")
    assert error["error"] == "UpstreamRefusedError"
    assert error["msg"] == f"unhandled UpstreamRefusedError on GET {FAIL_PATH} (request {rid})"
    traceback = error["traceback"]
    assert traceback.startswith("Traceback (most recent call last):")
    assert "in fail" in traceback and 'raise UpstreamRefusedError(f"upstream refused token' in traceback
    assert traceback.rstrip().endswith(
        "UpstreamRefusedError: upstream refused token [token withheld] ([secret withheld])"
    )
    log = served.log_path.read_text()
    assert TOKEN not in log and TOKEN.split(".")[0] not in log and SECRET not in log


def test_a_traceparent_reaches_the_access_line_and_the_app_lines_of_its_request(served):
    rid = request_id()
    answer = requests.get(
        f"{served.url}{FAIL_PATH}", headers={"X-Request-Id": rid, "traceparent": TRACEPARENT}, timeout=30
    )

    assert answer.status_code == 500
    version, trace_id, span_id, flags = answer.headers["traceresponse"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert len(span_id) == 16 and span_id != PARENT_ID
    lines = lines_of(served, rid, count=3)
    by_logger = {line["logger"]: line for line in lines}
    assert set(by_logger) == {"authserver.ops_test", "authserver", "authserver.access"}  # info, error, access
    for line in lines:
        assert (line["trace_id"], line["span_id"], line["parent_id"]) == (TRACE_ID, span_id, PARENT_ID)
    assert by_logger["authserver.access"]["status"] == 500


def test_a_traceparent_reaches_the_direct_introspection_paths_access_line(served):
    rid = request_id()
    answer = requests.post(
        f"{served.url}/oauth/introspect",
        data={"token": "not-a-token"},
        auth=("no-such-client", "wrong"),
        headers={"X-Request-Id": rid, "traceparent": TRACEPARENT},
        timeout=30,
    )

    assert answer.status_code == 401
    assert answer.headers["traceresponse"].startswith(f"00-{TRACE_ID}-")
    (access,) = lines_of(served, rid)
    assert access["logger"] == "authserver.access" and access["path"] == "/oauth/introspect"
    assert (access["trace_id"], access["parent_id"]) == (TRACE_ID, PARENT_ID)


MALFORMED = [
    "",
    "00",
    f"00-{TRACE_ID}-{PARENT_ID}",  # no flags
    f"00-{TRACE_ID}-{PARENT_ID}-01-extra",
    f"01-{TRACE_ID}-{PARENT_ID}-01",  # only version 00 is read
    f"ff-{TRACE_ID}-{PARENT_ID}-01",
    f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",  # hex is lowercase
    f"00-{'0' * 32}-{PARENT_ID}-01",  # all-zero trace id
    f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
    f"00-{TRACE_ID[:-1]}g-{PARENT_ID}-01",
    f"00-{TRACE_ID}-{PARENT_ID}-0x",
    f"00_{TRACE_ID}_{PARENT_ID}_01",
    f"00-{TRACE_ID}0-{PARENT_ID[1:]}-01",  # right length, wrong places
    f"00-{TRACE_ID}-{PARENT_ID}-01,00-{TRACE_ID}-{PARENT_ID}-01",
    "00-" + "eyJhbGciOiJSUzI1NiJ9xxxxxxxxxxxx-" + "a" * 16 + "-01",
    "x" * 8000,
]


@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_traceparent_is_ignored(served, value):
    assert parse_traceparent(value) is None
    for method, path, expected in (
        ("GET", "/.well-known/oauth-authorization-server", 200),
        ("POST", "/oauth/introspect", 401),
    ):
        rid = request_id()
        answer = requests.request(
            method,
            f"{served.url}{path}",
            data={"token": "x"} if method == "POST" else None,
            auth=("no-such-client", "wrong") if method == "POST" else None,
            headers={"X-Request-Id": rid, "traceparent": value},
            timeout=30,
        )
        assert answer.status_code == expected
        assert "traceresponse" not in answer.headers
        (access,) = lines_of(served, rid)
        assert access["status"] == expected
        assert not {"trace_id", "span_id", "parent_id"} & access.keys()


def test_a_valid_traceparent_is_read_whole():
    trace = parse_traceparent(TRACEPARENT)
    assert trace is not None
    assert (trace.trace_id, trace.parent_id, trace.flags) == (TRACE_ID, PARENT_ID, "01")
    assert len(trace.span_id) == 16 and int(trace.span_id, 16) != 0
    assert parse_traceparent(TRACEPARENT).span_id != trace.span_id  # a span of its own per request


def test_info_lines_are_written_at_the_default_level(served):
    rid = request_id()
    requests.get(f"{served.url}{FAIL_PATH}", headers={"X-Request-Id": rid}, timeout=30)
    assert {line["level"] for line in lines_of(served, rid, count=3)} == {"info", "error"}
    assert any(line["msg"].startswith("worker ") and line["level"] == "info" for line in json_lines(served))


def test_log_level_warning_drops_authservers_info_lines_but_keeps_errors_and_the_access_log(tmp_path):
    server, proc = serve_failing_app(tmp_path, AUTHSERVER_LOG_LEVEL="warning")
    try:
        rid = request_id()
        assert requests.get(f"{server.url}{FAIL_PATH}", headers={"X-Request-Id": rid}, timeout=30).status_code == 500
        lines = lines_of(server, rid, count=2)
        time.sleep(0.3)  # a stray info line would be written by now
        lines = lines_of(server, rid, count=2)
    finally:
        stop(proc)
    assert sorted(line["logger"] for line in lines) == ["authserver", "authserver.access"]  # not authserver.ops_test
    assert not [
        line for line in json_lines(server) if line["level"] == "info" and line["logger"] != "authserver.access"
    ]
