"""/v2/ping: the cheapest protected call (no database), answering who the token speaks for.

Useful to check a token by hand, and what the benchmark measures against ``/healthz`` (the same work minus the
token validation)."""

from __future__ import annotations

from flask import jsonify

from authserver_resource.flask import current_grant, require

from . import bp


@bp.get("/ping")
@require()
def ping():
    grant = current_grant()
    return jsonify(
        pong=True, account_id=grant.account_id, integration_id=grant.integration_id, scopes=sorted(grant.scopes)
    )
