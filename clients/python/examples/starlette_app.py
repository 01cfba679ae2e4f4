"""A Starlette application protected by the ASGI middleware (docs/resource-services.md, "ASGI").

ISSUER=... CLIENT_ID=... CLIENT_SECRET=... python starlette_app.py 8003
"""

import os
import sys

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from authserver_resource import Guard, Settings
from authserver_resource.asgi import GRANT_KEY, ProtectedASGI
from authserver_resource.routes import RouteTable

guard = Guard(
    Settings(
        issuer=os.environ["ISSUER"],
        client_id=os.environ["CLIENT_ID"],
        client_secret=os.environ["CLIENT_SECRET"],
        mode=os.environ.get("MODE", "introspection"),
        resource=os.environ.get("RESOURCE", ""),
    )
)


async def contacts(request):
    grant = request.scope["state"][GRANT_KEY]
    return JSONResponse({"account_id": grant.account_id, "scopes": sorted(grant.scopes)})


async def healthz(request):
    return JSONResponse(guard.status() | {"status": "ok" if guard.is_ready() else "degraded"})


async def open_endpoint(request):
    return JSONResponse({"pong": True})


app = ProtectedASGI(
    Starlette(
        routes=[
            Route("/v2/contacts", contacts, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/open", open_endpoint),
        ]
    ),
    guard,
    routes=RouteTable.parse("GET /v2/contacts contacts.readonly\nPOST /v2/contacts contacts.write"),
    public=("/healthz", "/open"),
)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")  # lifespan starts the guard
