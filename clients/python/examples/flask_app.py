"""A Flask service protected by authserver_resource (docs/resource-services.md, "Flask").

ISSUER=http://127.0.0.1:5000 CLIENT_ID=cli_... CLIENT_SECRET=... python flask_app.py 8001
"""

import os
import sys

from flask import Flask, jsonify

from authserver_resource import Guard, Settings, log_redaction
from authserver_resource.flask import FlaskResource, current_grant

guard = Guard(
    Settings(
        issuer=os.environ["ISSUER"],
        client_id=os.environ["CLIENT_ID"],
        client_secret=os.environ["CLIENT_SECRET"],
        mode=os.environ.get("MODE", "introspection"),
        resource=os.environ.get("RESOURCE", ""),
        usage_interval=float(os.environ.get("USAGE_INTERVAL", "5")),
    )
)
app = Flask(__name__)
resource = FlaskResource(app, guard)  # RFC 6750 refusals, the RFC 9728 document at its well-known path


@app.get("/v2/contacts")
@resource.require("contacts.readonly")
def list_contacts():
    grant = current_grant()
    return jsonify(account_id=grant.account_id, integration_id=grant.integration_id, scopes=sorted(grant.scopes))


@app.post("/v2/contacts")
@resource.require("contacts.write")
def create_contact():
    return jsonify(created=True), 201


@app.get("/healthz")  # unprotected: liveness, and whether the event feed is live
def healthz():
    return jsonify(guard.status() | {"status": "ok" if guard.is_ready() else "degraded"})


@app.get("/open")  # unprotected: what the benchmark compares a protected endpoint with
def open_endpoint():
    return jsonify(pong=True)


if __name__ == "__main__":
    from werkzeug.serving import run_simple

    log_redaction.install()  # request lines are logged; a token someone put in a URL is not
    guard.start()
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)
