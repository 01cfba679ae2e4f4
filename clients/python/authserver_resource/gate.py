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

The server (``gate_http``) is one asyncio loop, standard library only, for the proxy's keep-alive connections (nginx's
``keepalive`` upstream setting): a warm verdict (a fresh cached answer, a signature verified before) is given on the
loop, and anything that may call the authorization server runs in a worker thread, so a slow issuer never holds up
the checks of warm tokens.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import signal
from collections.abc import Callable

from .bearer import BearerError, NoRouteError, has_query_token
from .gate_http import Answer, GateConnection, Request
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
    url: str | Callable[[], str] | None = None,
    dpop: tuple[str, ...] | list[str] = (),
    quick: bool = False,
) -> Answer | None:
    """The gate's answer for one original request: (status, headers, body). With ``quick``, None when the verdict
    needs a call to the authorization server (``Guard.check_quick``): ask again without it, off the event loop."""
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
        check = guard.check_quick if quick else guard.check
        grant = check(
            authorization,
            scope,
            token_elsewhere=has_query_token(query),
            method=method,
            url=url if url is not None else uri,
            dpop=dpop,
        )
    except BearerError as error:
        return error.render(guard.settings.realm, guard.resource_metadata_url)
    if grant is None:
        return None
    headers = [
        ("X-Authserver-Account", grant.account_id),
        ("X-Authserver-Integration", grant.integration_id),
        ("X-Authserver-Scopes", " ".join(sorted(grant.scopes))),
        ("Cache-Control", "no-store"),
    ]
    return 200, headers, b""


class Gate:
    """What the gate answers at each path: the RFC 9728 document, ``/healthz`` and ``/check`` (any method: Envoy
    forwards the original one); anything else is a 404."""

    def __init__(self, guard: Guard, routes: RouteTable | None) -> None:
        self.guard = guard
        self.routes = routes

    def answer_now(self, request: Request) -> Answer | None:
        """The answer, unless it needs a call to the authorization server (None: ``answer_later``)."""
        path = request.target.split("?", 1)[0]
        if path == self.guard.metadata_path:
            return 200, [("Content-Type", "application/json")], json.dumps(self.guard.metadata()).encode()
        if path == "/healthz":
            body = self.guard.status() | {"status": "ok" if self.guard.is_ready() else "degraded"}
            return 200, [("Content-Type", "application/json")], json.dumps(body).encode()
        if path == CHECK_PATH or path.startswith(CHECK_PATH + "/"):
            return self.check(request)(quick=True)
        return 404, [], b""

    async def answer_later(self, request: Request) -> Answer:
        """A check that may call the authorization server: in a worker thread, never on the loop."""
        answer = await asyncio.to_thread(self.check(request))
        assert answer is not None  # without quick, decide always answers
        return answer

    def check(self, request: Request) -> Callable[..., Answer | None]:
        """``decide`` for the original request the proxy describes, ready to call."""
        method = request.header("x-original-method") or request.header("x-forwarded-method")
        uri = request.header("x-original-uri") or request.header("x-forwarded-uri")
        if uri is None and request.target.startswith(CHECK_PATH + "/"):  # Envoy ext_authz: path_prefix /check
            uri, method = request.target[len(CHECK_PATH) :], method or request.method
        return functools.partial(
            decide,
            self.guard,
            self.routes,
            method=method or "GET",
            uri=uri or "",
            authorization=request.header("authorization"),
            required_scope=request.header("x-required-scope"),
            url=lambda: self.original_url(request, uri or ""),  # read only when a proof is checked
            dpop=request.header_values("dpop"),
        )

    def original_url(self, request: Request, uri: str) -> str:
        """The URL the client called, as far as the gate can tell (``--public-url`` replaces scheme and host)."""
        if self.guard.settings.public_url:
            return uri
        host = request.header("x-forwarded-host") or request.header("host") or ""
        proto = request.header("x-forwarded-proto") or "http"
        return f"{proto}://{host}{uri}"


def serve(guard: Guard, routes: RouteTable | None, host: str, port: int) -> None:
    for scope in routes.scopes() if routes is not None else ():
        guard.require(scope)  # advertised in the RFC 9728 document
    guard.start()
    try:
        asyncio.run(_serve(Gate(guard, routes), host, port))
    except KeyboardInterrupt:
        pass
    finally:
        guard.stop()


async def _serve(gate: Gate, host: str, port: int) -> None:
    """Until SIGTERM or SIGINT. The gate never writes a request line to its log: a URI may carry a token, and the
    proxy logs requests anyway."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: GateConnection(gate.answer_now, gate.answer_later), host, port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(
        f"authserver-resource gate listening on http://{host}:{server.sockets[0].getsockname()[1]} "
        f"({gate.guard.mode} mode, authorization server {gate.guard.link.issuer})",
        flush=True,
    )
    async with server:
        await stop.wait()
