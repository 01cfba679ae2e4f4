"""Data events this service publishes to the authorization server, which delivers them as signed webhooks to the
account's integrations holding the read scope (contacts.readonly for contact.*, calendars.readonly for calendar.*).

Views call ``publish`` after their change has committed; the ``authserver_resource`` publisher queues it and sends
it off the request path (``serving.serve`` starts it). With RESOURCE_DEMO_PUBLISH_EVENTS=off nothing is queued.
"""

from __future__ import annotations

from flask import current_app

from authserver_resource.service_events import ServiceEvents

EXTENSION = "resource_demo_events"


def init_app(app, settings) -> None:
    app.extensions[EXTENSION] = ServiceEvents(settings) if app.config["RESOURCE_DEMO_PUBLISH_EVENTS"] else None


def publisher(app) -> ServiceEvents | None:
    return app.extensions.get(EXTENSION)


def publish(event_type: str, account_id: str, data: dict) -> None:
    found = publisher(current_app)
    if found is not None:
        found.publish(event_type, account_id, data)
