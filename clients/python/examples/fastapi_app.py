"""A FastAPI application with per-route scope requirements as dependencies (docs/resource-services.md, "ASGI").

ISSUER=... CLIENT_ID=... CLIENT_SECRET=... python fastapi_app.py 8004
"""

import os
import sys

from fastapi import Depends, FastAPI

from authserver_resource import Grant, Guard, Settings
from authserver_resource.fastapi import Requires, install

guard = Guard(
    Settings(
        issuer=os.environ["ISSUER"],
        client_id=os.environ["CLIENT_ID"],
        client_secret=os.environ["CLIENT_SECRET"],
        mode=os.environ.get("MODE", "introspection"),
        resource=os.environ.get("RESOURCE", ""),
    )
)
app = FastAPI()
install(app, guard)  # RFC 6750 refusals and the RFC 9728 document


@app.get("/v2/contacts")
async def list_contacts(grant: Grant = Depends(Requires(guard, "contacts.readonly"))):  # noqa: B008
    return {"account_id": grant.account_id, "scopes": sorted(grant.scopes)}


@app.post("/v2/contacts", status_code=201)
async def create_contact(grant: Grant = Depends(Requires(guard, "contacts.write"))):  # noqa: B008
    return {"created": True}


@app.get("/healthz")
async def healthz():
    return guard.status() | {"status": "ok" if guard.is_ready() else "degraded"}


if __name__ == "__main__":
    import uvicorn

    guard.start()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
