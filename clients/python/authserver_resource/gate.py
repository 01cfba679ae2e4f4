"""The gate: token checks for services that are not Python, behind nginx ``auth_request``, Traefik forwardAuth or
Envoy's HTTP ext_authz.

``GET /check`` with the original request in ``X-Original-Method`` and ``X-Original-URI`` (nginx; Traefik's
``X-Forwarded-Method``/``X-Forwarded-Uri`` too; Envoy sends the original method and the path after ``/check``)
answers 200 with ``X-Authserver-Account``, ``X-Authserver-Integration`` and ``X-Authserver-Scopes``
(space-separated), or the RFC 6750 refusal (401/403, 400, or 503 when it cannot know). The scope a request needs
comes from ``X-Required-Scope`` when the proxy sets one, else from the routes file; with neither, the request is
refused (403), so a forgotten route fails closed. The RFC 9728 document is served at its well-known path.

DPoP (RFC 9449): the proxy passes the client's ``DPoP`` header through (nginx's auth_request subrequest carries the
original headers); the proof's ``htu`` is checked against ``--public-url`` joined with ``X-Original-URI``, since the
gate never sees the URL the client called. Without ``--public-url`` it assumes ``http://`` and ``X-Forwarded-Host``
(or the ``Host`` the proxy sent), which is right only when the proxy forwards the client's host.

The server is the standard library's threading HTTP/1.1 server: no dependency beyond the package's own, one
thread per proxy connection (keep them alive with nginx's ``keepalive`` upstream setting).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .bearer import BearerError, NoRouteError, has_query_token
from .guard import Guard
from .routes import NO_RULE, NoRule, RouteTable

log = logging.getLogger("authserver_resource.gate")
CHECK_PATH = "/check"


def decide(
    guard: Guard,
    routes: RouteTable | None,
    *,
    method: str,
    uri: str,
    authorization: str | None,
    required_scope: str | None,
    url: str | None = None,
    dpop: tuple[str, ...] | list[str] = (),
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The gate's answer for one original request: (status, headers, body)."""
    try:
        scope: str | NoRule | None
        if required_scope is not None:
            scope = required_scope.strip() or None
        elif routes is not None:
            scope = routes.scope_for(method, uri)
        else:
            scope = NO_RULE
        if isinstance(scope, NoRule):  # NO_RULE, the one instance
            raise NoRouteError()
        query = uri.split("?", 1)[1] if "?" in uri else ""
        grant = guard.check(
            authorization,
            scope,
            token_elsewhere=has_query_token(query),
            method=method,
            url=url if url is not None else uri,
            dpop=dpop,
        )
    except BearerError as error:
        return error.render(guard.settings.realm, guard.resource_metadata_url)
    headers = [
        ("X-Authserver-Account", grant.account_id),
        ("X-Authserver-Integration", grant.integration_id),
        ("X-Authserver-Scopes", " ".join(sorted(grant.scopes))),
        ("Cache-Control", "no-store"),
    ]
    return 200, headers, b""


class GateHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with the proxy
    server_version = "authserver-resource-gate"
    sys_version = ""
    guard: Guard
    routes: RouteTable | None

    def do_GET(self) -> None:  # noqa: N802 - the http.server contract
        path = self.path.split("?", 1)[0]
        if path == self.guard.metadata_path:
            return self._answer(200, [("Content-Type", "application/json")], json.dumps(self.guard.metadata()).encode())
        if path == "/healthz":
            ready = self.guard.is_ready()
            body = self.guard.status() | {"status": "ok" if ready else "degraded"}
            return self._answer(200, [("Content-Type", "application/json")], json.dumps(body).encode())
        if path == CHECK_PATH or path.startswith(CHECK_PATH + "/"):
            return self._check()
        return self._answer(404, [], b"")

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET  # Envoy forwards the original method

    def _check(self) -> None:
        headers = self.headers
        method = headers.get("X-Original-Method") or headers.get("X-Forwarded-Method")
        uri = headers.get("X-Original-URI") or headers.get("X-Forwarded-Uri")
        if uri is None and self.path.startswith(CHECK_PATH + "/"):  # Envoy ext_authz: path_prefix /check
            uri, method = self.path[len(CHECK_PATH) :], method or self.command
        status, answer, body = decide(
            self.guard,
            self.routes,
            method=method or "GET",
            uri=uri or "",
            authorization=headers.get("Authorization"),
            required_scope=headers.get("X-Required-Scope"),
            url=self._original_url(uri or ""),
            dpop=headers.get_all("DPoP") or [],
        )
        self._answer(status, answer, body)

    def _original_url(self, uri: str) -> str:
        """The URL the client called, as far as the gate can tell (``--public-url`` replaces scheme and host)."""
        if self.guard.settings.public_url:
            return uri
        host = self.headers.get("X-Forwarded-Host") or self.headers.get("Host") or ""
        proto = self.headers.get("X-Forwarded-Proto") or "http"
        return f"{proto}://{host}{uri}"

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= 1 << 20:
            self.rfile.read(length)  # keep the connection usable; the gate never needs a body
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        pass  # the proxy logs requests; the gate never writes a URI (which may carry a token) to its log


def serve(guard: Guard, routes: RouteTable | None, host: str, port: int) -> None:
    for scope in routes.scopes() if routes is not None else ():
        guard.require(scope)  # advertised in the RFC 9728 document
    handler = type("BoundGateHandler", (GateHandler,), {"guard": guard, "routes": routes})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    guard.start()
    print(
        f"authserver-resource gate listening on http://{host}:{server.server_address[1]} "
        f"({guard.mode} mode, authorization server {guard.link.issuer})",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        guard.stop()
