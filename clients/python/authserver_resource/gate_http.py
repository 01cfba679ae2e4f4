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


class GateConnection(asyncio.Protocol):
    """One proxy connection. Requests are read from the bytes received and answered in turn, within the event loop's
    read callback when ``answer_now`` can (a warm check): no task, future or stream per request. When it cannot
    (None: the authorization server must be asked), ``answer_later`` runs as a task and reading pauses until it has
    answered, so answers keep the order of the requests."""

    def __init__(
        self,
        answer_now: Callable[[Request], Answer | None],
        answer_later: Callable[[Request], Awaitable[Answer]],
    ) -> None:
        self.answer_now = answer_now
        self.answer_later = answer_later
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiting = False  # an answer_later task is running
        self.tasks: set[asyncio.Task] = set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.waiting:
            self.serve()

    def connection_lost(self, exc) -> None:
        for task in self.tasks:
            task.cancel()

    def pause_writing(self) -> None:  # the proxy does not read its answers: stop reading its requests
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.waiting:
            self.transport.resume_reading()

    def serve(self) -> None:
        """Answer every complete request in the buffer, until one must wait for the authorization server."""
        transport = self.transport
        while transport is not None and not self.waiting and not transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0 or end > MAX_HEAD:
                if end > MAX_HEAD or len(self.buffer) > MAX_HEAD:
                    self.refuse(400)
                return
            try:
                request, length, keep_alive = parse_head(bytes(self.buffer[:end]))
            except BadRequestError:
                return self.refuse(400)
            if length > MAX_BODY:
                return self.refuse(413)
            if len(self.buffer) < end + 4 + length:
                return  # the body is still on its way; the gate never needs it, but reads past it
            del self.buffer[: end + 4 + length]
            try:
                answer = self.answer_now(request)
            except Exception as exc:  # fail closed; only the type is logged, a message might quote a header
                log.error("a check failed: %s", type(exc).__name__)
                return self.refuse(500)
            if answer is None:
                self.wait_for(request, keep_alive)
                return
            self.send(request, keep_alive, answer)

    def wait_for(self, request: Request, keep_alive: bool) -> None:
        assert self.transport is not None
        self.waiting = True
        self.transport.pause_reading()
        task = asyncio.ensure_future(self.answer_later(request))
        self.tasks.add(task)

        def answered(task: asyncio.Task) -> None:
            self.tasks.discard(task)
            self.waiting = False
            if task.cancelled() or self.transport is None or self.transport.is_closing():
                return
            error = task.exception()
            if error is not None:
                log.error("a check failed: %s", type(error).__name__)
                return self.refuse(500)
            self.send(request, keep_alive, task.result())
            if not self.transport.is_closing():
                self.transport.resume_reading()
                self.serve()

        task.add_done_callback(answered)

    def send(self, request: Request, keep_alive: bool, answer: Answer) -> None:
        assert self.transport is not None
        status, headers, body = answer
        head_only = request.method == "HEAD"
        try:
            data = render(status, headers, body, head_only=head_only, close=not keep_alive)
        except ValueError as exc:
            log.error("refusing to send an answer the proxy could misread: %s", exc)
            return self.refuse(500)
        self.transport.write(data)
        if not keep_alive:
            self.transport.close()

    def refuse(self, status: int) -> None:
        """An answer without a body, then the connection closed: what follows cannot be read safely."""
        assert self.transport is not None
        self.transport.write(render(status, [], b"", head_only=False, close=True))
        self.transport.close()
