"""Any WSGI application protected by the middleware (docs/resource-services.md, "WSGI"): here a bare callable.

ISSUER=... CLIENT_ID=... CLIENT_SECRET=... python wsgi_app.py 8002
"""

import json
import os
import sys

from authserver_resource import Guard, Settings, log_redaction
from authserver_resource.routes import RouteTable
from authserver_resource.wsgi import GRANT_KEY, ProtectedWSGI

ROUTES = RouteTable.parse("""
GET  /v2/contacts  contacts.readonly
POST /v2/contacts  contacts.write
""")


def application(environ, start_response):
    grant = environ.get(GRANT_KEY)
    body = json.dumps(
        {"account_id": grant.account_id, "scopes": sorted(grant.scopes)}
        if grant
        else {"status": "ok" if guard.is_ready() else "degraded"}
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


guard = Guard(
    Settings(
        issuer=os.environ["ISSUER"],
        client_id=os.environ["CLIENT_ID"],
        client_secret=os.environ["CLIENT_SECRET"],
        mode=os.environ.get("MODE", "introspection"),
        resource=os.environ.get("RESOURCE", ""),
    )
)
app = ProtectedWSGI(application, guard, routes=ROUTES, public=("/healthz",))

if __name__ == "__main__":
    from werkzeug.serving import run_simple

    log_redaction.install()  # request lines are logged; a token someone put in a URL is not
    guard.start()
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)
