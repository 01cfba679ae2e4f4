"""The gate's HTTP/1.1 server reads a proxy's requests strictly: what it cannot read exactly is a 400 and the
connection closed, an answer it cannot write exactly is a 500 (nginx's gate configuration serves it as a 503)."""

from __future__ import annotations

import asyncio

import pytest

from authserver_resource.gate_http import BadRequestError, GateConnection, Request, parse_head, render

CHECK = b"GET /check HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer first\r\nAuthorization: Bearer second\r\n"


def test_a_proxy_check_is_read_with_its_headers_in_order():
    request, length, keep_alive = parse_head(CHECK + b"DPoP: a\r\nDPoP:  b \r\nX-Original-URI: /v2/contacts?x=1")
    assert (request.method, request.target, length, keep_alive) == ("GET", "/check", 0, True)
    assert request.header("authorization") == "Bearer first"  # the first, as http.server's headers.get gave it
    assert request.header_values("dpop") == ["a", "b"]
    assert request.header("x-original-uri") == "/v2/contacts?x=1"
    assert request.header("missing") is None


@pytest.mark.parametrize(
    "head",
    [
        b"GET /check HTTP/2.0\r\nHost: gate",  # another version
        b"GET  /check HTTP/1.1\r\nHost: gate",  # a request line with an empty part
        b"G(T /check HTTP/1.1",  # a method that is no token
        b"GET /check HTTP/1.1\r\nAuthorization: Bearer a\r\n  Bearer b",  # obs-fold
        b"GET /check HTTP/1.1\r\nAuthorization : Bearer a",  # a space before the colon
        b"GET /check HTTP/1.1\r\nno colon",
        b"GET /check HTTP/1.1\r\n: nameless",
        b"GET /check HTTP/1.1\r\nTransfer-Encoding: chunked",
        b"GET /check HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2",
        b"GET /check HTTP/1.1\r\nContent-Length: -1",
        b"GET /check HTTP/1.1\r\nContent-Length: \xd9\xa3",
    ],
)
def test_what_cannot_be_read_exactly_is_refused(head):
    with pytest.raises(BadRequestError):
        parse_head(head)


def test_connection_close_and_http_1_0_end_the_connection():
    assert parse_head(b"GET /check HTTP/1.1\r\nConnection: close")[2] is False
    assert parse_head(b"GET /check HTTP/1.0")[2] is False
    assert parse_head(b"POST /check HTTP/1.1\r\nContent-Length: 5")[1:] == (5, True)


def test_an_answer_with_a_line_break_in_a_header_is_never_written():
    with pytest.raises(ValueError):
        render(
            200, [("X-Authserver-Account", "acc_1\r\nX-Authserver-Scopes: admin")], b"", head_only=False, close=False
        )
    assert render(204, [("A", "b")], b"xy", head_only=True, close=True) == (
        b"HTTP/1.1 204 Status\r\nA: b\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    )


async def _exchange(payload: bytes, answer_now, answer_later=None) -> bytes:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: GateConnection(answer_now, answer_later), "127.0.0.1", 0)
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(payload)
        await writer.drain()
        received = await asyncio.wait_for(reader.read(), timeout=5)  # until the gate closes the connection
        writer.close()
        return received


def test_keep_alive_requests_are_answered_in_turn_and_a_bad_one_closes_the_connection():
    seen: list[Request] = []

    def answer_now(request: Request):
        seen.append(request)
        return 200, [("X-Seen", str(len(seen)))], b"ok"

    received = asyncio.run(
        _exchange(
            CHECK
            + b"\r\n"
            + b"POST /check HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
            + b"GET /check HTTP/1.1\r\n x\r\n\r\n",
            answer_now,
        )
    )
    assert received == (
        b"HTTP/1.1 200 OK\r\nX-Seen: 1\r\nContent-Length: 2\r\n\r\nok"
        b"HTTP/1.1 200 OK\r\nX-Seen: 2\r\nContent-Length: 2\r\n\r\nok"
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert [request.method for request in seen] == ["GET", "POST"]


def test_a_check_that_must_wait_is_answered_before_the_requests_behind_it():
    def answer_now(request: Request):
        return None if request.header("x-original-uri") == "/cold" else (200, [("X-Uri", "warm")], b"")

    async def answer_later(request: Request):
        await asyncio.sleep(0.05)
        return 401, [("X-Uri", "cold")], b""

    cold = b"GET /check HTTP/1.1\r\nX-Original-URI: /cold\r\n\r\n"
    warm_then_close = b"GET /check HTTP/1.1\r\nX-Original-URI: /warm\r\nConnection: close\r\n\r\n"
    received = asyncio.run(_exchange(cold + warm_then_close, answer_now, answer_later))
    assert received == (
        b"HTTP/1.1 401 Unauthorized\r\nX-Uri: cold\r\nContent-Length: 0\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nX-Uri: warm\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )


def test_an_oversized_head_a_failed_check_or_an_unwritable_answer_fails_closed():
    def unwritable(request: Request):
        return 200, [("X-Authserver-Account", "a\nb")], b""

    def broken(request: Request):
        raise RuntimeError("Bearer secret")

    async def broken_later(request: Request):
        raise RuntimeError("Bearer secret")

    oversized = b"GET /check HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"
    assert asyncio.run(_exchange(oversized, unwritable)).startswith(b"HTTP/1.1 400 ")
    closed_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    assert asyncio.run(_exchange(CHECK + b"\r\n", unwritable)) == closed_500
    assert asyncio.run(_exchange(CHECK + b"\r\n", broken)) == closed_500
    assert asyncio.run(_exchange(CHECK + b"\r\n", lambda request: None, broken_later)) == closed_500
