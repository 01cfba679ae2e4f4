"""Per-route scope requirements for Starlette and FastAPI: a dependency, and the handler that renders refusals.

    guard = Guard(settings)
    app = FastAPI()
    authserver_resource.fastapi.install(app, guard)          # RFC 6750 refusals + the RFC 9728 document

    @app.get("/v2/contacts")
    async def contacts(grant: Grant = Depends(Requires(guard, "contacts.readonly"))): ...

Starlette (and so FastAPI) is an optional dependency: the ``asgi`` extra.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .asgi import dpop_headers, judge, request_url
from .bearer import BearerError, has_query_token
from .grants import Grant
from .guard import Guard


class Requires:
    """A dependency: the request's grant if its token is valid and grants ``scope``; else a ``BearerError``."""

    def __init__(self, guard: Guard, scope: str | None = None) -> None:
        self.guard = guard
        self.scope = scope
        guard.require(scope)

    async def __call__(self, request: Request) -> Grant:
        self.guard.start()
        return await judge(
            self.guard,
            request.headers.get("authorization"),
            self.scope,
            token_elsewhere=has_query_token(request.scope.get("query_string", b"")),
            method=request.method,
            url=lambda: request_url(request.scope),  # read only when a proof is checked
            dpop=lambda: dpop_headers(request.scope),
        )


def install(app, guard: Guard) -> None:
    """Render ``BearerError`` as RFC 6750 and serve the RFC 9728 document at its well-known path."""

    async def refusal(request: Request, error: Exception) -> Response:
        assert isinstance(error, BearerError)
        status, headers, body = error.render(guard.settings.realm, guard.resource_metadata_url)
        return Response(body, status_code=status, headers=dict(headers))

    async def metadata(request: Request) -> Response:
        return JSONResponse(guard.metadata(), headers={"Cache-Control": "max-age=300"})

    app.add_exception_handler(BearerError, refusal)
    app.add_route(guard.metadata_path, metadata, methods=["GET"], include_in_schema=False)
