"""The gate's HTTP/1.1 server: one asyncio loop for a proxy's keep-alive connections, standard library only.

Why not ``http.server``: its header parsing (``email.parser``) and a thread per connection cost the gate about
175 us of CPU per check, most of what nginx's ``auth_request`` added to a call (bench/resource_kit.py). A proxy's
check is a small request without a body, so this reads only what the gate needs, and strictly: a request line,
header lines, a ``Content-Length`` body (read and dropped). Anything it cannot read exactly (a folded or nameless
header line, a chunked, conflicting or oversized body, a head over 64 KiB, another HTTP version) is answered 400
and the connection closed; an answer it cannot write exactly (CR or LF in a header value) becomes a 500, which
nginx's gate configuration serves as a 503: fail closed.
"""

from __future__ import annotations

import asyncio
import logging
import string
from collections.abc import Awaitable, Callable

log = logging.getLogger("authserver_resource.gate")

MAX_HEAD = 64 * 1024
MAX_BODY = 1 << 20
_TCHARS = (string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~").encode("ascii")  # RFC 9110 token
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 413: "Too Large"}
_REASONS |= {500: "Internal Server Error", 503: "Service Unavailable"}

Answer = tuple[int, list[tuple[str, str]], bytes]


class BadRequestError(ValueError):
    """A request head the gate will not guess about."""


class Request:
    __slots__ = ("method", "target", "headers")

    def __init__(self, method: str, target: str, headers: list[tuple[str, str]]) -> None:
        self.method = method
        self.target = target
        self.headers = headers  # (lower-case name, value), in the order sent

    def header(self, name: str) -> str | None:
        """The first value of the header ``name`` (lower case), as ``http.server`` gave it."""
        return next((value for key, value in self.headers if key == name), None)

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def _is_token(text: bytes) -> bool:
    return bool(text) and not text.translate(None, _TCHARS)


def parse_head(head: bytes) -> tuple[Request, int, bool]:
    """(request, body length, keep the connection open) of a request head without its final empty line."""
    request_line, *lines = head.split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or not _is_token(parts[0]) or not parts[1] or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise BadRequestError("request line")
    headers = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not _is_token(name):  # also a folded line (leading space) or a space before the colon
            raise BadRequestError("header line")
        headers.append((name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")))
    request = Request(parts[0].decode("ascii"), parts[1].decode("latin-1"), headers)
    if request.header("transfer-encoding") is not None:
        raise BadRequestError("the gate reads no chunked body")
    lengths = set(request.header_values("content-length"))
    if len(lengths) > 1 or not all(value.isdigit() and value.isascii() for value in lengths):
        raise BadRequestError("content-length")
    length = int(lengths.pop()) if lengths else 0
    connection = (request.header("connection") or "").lower()
    keep_alive = parts[2] == b"HTTP/1.1" and "close" not in connection
    return request, length, keep_alive


def render(status: int, headers: list[tuple[str, str]], body: bytes, *, head_only: bool, close: bool) -> bytes:
    """The answer's bytes; ``ValueError`` for a header value that would split the answer or is not Latin-1."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    for name, value in headers:
        if "\r" in value or "\n" in value:
            raise ValueError(f"a line break in the {name} header")
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body)


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: Callable[[Request], Awaitable[Answer]]
) -> None:
    """Answer the connection's requests one after another until it closes or asks to."""
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the proxy closed an idle keep-alive connection
            except asyncio.LimitOverrunError:
                writer.write(render(400, [], b"", head_only=False, close=True))
                return
            try:
                request, length, keep_alive = parse_head(head[:-4])
            except BadRequestError:
                writer.write(render(400, [], b"", head_only=False, close=True))
                return
            if length > MAX_BODY:
                writer.write(render(413, [], b"", head_only=False, close=True))
                return
            if length:
                await reader.readexactly(length)  # keeps the connection usable; the gate never needs a body
            status, headers, body = await answer(request)
            head_only = request.method == "HEAD"
            try:
                data = render(status, headers, body, head_only=head_only, close=not keep_alive)
            except ValueError as exc:
                log.error("refusing to send an answer the proxy could misread: %s", exc)
                data = render(500, [], b"", head_only=head_only, close=True)
                keep_alive = False
            writer.write(data)
            if not keep_alive:
                return
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
