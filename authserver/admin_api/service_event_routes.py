"""``POST /api/service-events``: a v2 service publishes a data event (contact.created, ...) for webhooks.

The caller is a resource-service client with HTTP Basic (its client id and secret, as at introspection), not an
admin: this route serves services, the rest of /api serves administrators. Errors are RFC 7807 problems.
"""

from __future__ import annotations

import base64
import binascii

from flask import jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from ..clients import check_client_secret, load_credentials
from ..errors import InvalidInputError, RateLimitedError, UnauthenticatedError
from ..limits.rates import SERVICE_EVENTS
from ..services import services
from ..webhooks import service_events
from .blueprint import bp


@bp.post("/service-events")
def publish_service_event():
    publisher = _resource_service()
    wait = services().limits.retry_after(SERVICE_EVENTS, publisher.client_id)  # AUTHSERVER_RATE_LIMIT_SERVICE_EVENTS
    if wait is not None:
        raise RateLimitedError(f"too many events published; try again in {wait} seconds", retry_after=wait)
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the event as application/json")
    if request.content_length is not None and request.content_length > service_events.MAX_BODY_BYTES:
        raise RequestEntityTooLarge(f"an event body is at most {service_events.MAX_BODY_BYTES} bytes")
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidInputError("the request body must be a JSON object")
    now = services().clock.now()
    event = service_events.parse_service_event(body, now)
    message_id, repeated = service_events.publish_service_event(publisher, event, now=now)
    response = jsonify(id=message_id, type=event.type, account_id=event.account_id, duplicate=repeated)
    response.status_code = 202
    response.headers["Cache-Control"] = "no-store"
    return response


def _resource_service() -> service_events.Publisher:
    """The resource-service client of the request's HTTP Basic credentials; anything else is a 401."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        raise UnauthenticatedError("authenticate as a resource-service client with HTTP Basic")
    try:
        client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthenticatedError("malformed Basic credentials") from None
    found = services()
    now = found.clock.now()
    client = load_credentials(client_id)  # read every time: a disabled or rotated-out client is refused at once
    if client is None or client.kind != "resource-service" or not check_client_secret(client, secret, now):
        raise UnauthenticatedError("invalid resource-service client credentials")
    found.oauth.client_uses.note(client.client_id, now)
    return service_events.Publisher(client.client_id, client.account_id)
