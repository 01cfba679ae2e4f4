"""The ASGI face: a middleware for any ASGI application (Starlette, FastAPI, Quart, a bare callable).

Same contract as the WSGI middleware: the RFC 9728 document at its well-known path, every other HTTP request (but
``public`` paths) needs a valid bearer token and the scope ``routes`` or ``scope`` names, refusals are RFC 6750
responses, and the grant reaches the app as ``scope["state"]["authserver.grant"]`` (``request.state`` in Starlette).

Warm verdicts (a fresh cached answer, a signature verified before) are reached on the event loop; anything that
may call the authorization server runs in a worker thread, so a slow issuer never blocks other requests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from urllib.parse import quote

from .bearer import BearerError, NoRouteError, has_query_token
from .guard import Guard
from .routes import NoRule, RouteTable

GRANT_KEY = "authserver.grant"


async def judge(
    guard: Guard,
    authorization: str | None,
    scope: str | None,
    *,
    token_elsewhere: bool = False,
    method: str | None = None,
    url: str | Callable[[], str] | None = None,
    dpop: Sequence[str] | Callable[[], Sequence[str]] = (),
):
    """The grant, or the ``BearerError`` raised: on the loop when no network call is needed, else in a thread."""
    grant = guard.check_quick(authorization, scope, token_elsewhere=token_elsewhere, method=method, url=url, dpop=dpop)
    if grant is not None:
        return grant
    return await asyncio.to_thread(
        guard.check, authorization, scope, token_elsewhere=token_elsewhere, method=method, url=url, dpop=dpop
    )


def request_url(scope) -> str:
    """The URL the request was made to, without query (what a DPoP proof's htu is compared with)."""
    host = next((value.decode("latin-1") for name, value in scope.get("headers") or () if name == b"host"), "")
    if not host and scope.get("server"):
        host = "{}:{}".format(*scope["server"])
    path = quote(scope.get("root_path", "") + scope.get("path", ""), safe="/:@!$&'()*+,;=-._~")
    return f"{scope.get('scheme', 'http')}://{host}{path}"


def dpop_headers(scope) -> list[str]:
    return [value.decode("latin-1") for name, value in scope.get("headers") or () if name == b"dpop"]


class ProtectedASGI:
    def __init__(
        self,
        app,
        guard: Guard,
        *,
        routes: RouteTable | None = None,
        scope: str | None = None,
        public: tuple[str, ...] = (),
        protect_all: bool = True,
    ) -> None:
        self.app = app
        self.guard = guard
        self.routes = routes
        self.scope = scope
        self.public = frozenset(public)
        self.protect_all = protect_all  # False: only serve the metadata, routes protect themselves (Requires)
        for needed in ({scope} | (routes.scopes() if routes else set())) - {None}:
            guard.require(needed)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            self.guard.start()
            return await self.app(scope, receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path == self.guard.metadata_path and scope.get("method") in ("GET", "HEAD"):
            return await send_json(send, 200, self.guard.metadata(), [(b"cache-control", b"max-age=300")])
        if not self.protect_all or path in self.public:
            return await self.app(scope, receive, send)
        self.guard.start()
        headers = dict(scope.get("headers") or ())
        raw = headers.get(b"authorization")
        try:
            needed = self.scope
            if self.routes is not None:
                rule = self.routes.scope_for(scope.get("method", "GET"), path)
                if isinstance(rule, NoRule):  # NO_RULE, the one instance
                    raise NoRouteError()
                needed = rule
            grant = await judge(
                self.guard,
                raw.decode("latin-1") if raw is not None else None,
                needed,
                token_elsewhere=has_query_token(scope.get("query_string", b"")),
                method=scope.get("method", "GET"),
                url=lambda: request_url(scope),  # read only when a proof is checked
                dpop=lambda: dpop_headers(scope),
            )
        except BearerError as error:
            return await send_refusal(send, self.guard, error)
        scope.setdefault("state", {})[GRANT_KEY] = grant
        return await self.app(scope, receive, send)


async def send_refusal(send, guard: Guard, error: BearerError) -> None:
    status, headers, body = error.render(guard.settings.realm, guard.resource_metadata_url)
    await _send(send, status, [(name.lower().encode(), value.encode("latin-1")) for name, value in headers], body)


async def send_json(send, status: int, document: dict, extra: list[tuple[bytes, bytes]]) -> None:
    await _send(send, status, [(b"content-type", b"application/json")] + extra, json.dumps(document).encode())


async def _send(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = headers + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
