"""``POST /api/service-events``: a v2 service publishes a data event (contact.created, ...) for webhooks.

The caller is a resource-service client with HTTP Basic (its client id and secret, as at introspection), not an
admin: this route serves services, the rest of /api serves administrators. Errors are RFC 7807 problems.
"""

from __future__ import annotations

from flask import jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from ..errors import InvalidInputError, RateLimitedError, UnauthenticatedError
from ..limits.rates import SERVICE_EVENTS
from ..services import services
from ..webhooks import service_events
from .auth import basic_client
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
    header = request.headers.get("Authorization", "")
    if not header:
        raise UnauthenticatedError("authenticate as a resource-service client with HTTP Basic")
    client = basic_client(header, "resource-service")
    return service_events.Publisher(client.client_id, client.account_id)
