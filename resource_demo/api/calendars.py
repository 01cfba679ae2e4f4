"""/v2/calendars and their events: read with ``calendars.readonly``, change with ``calendars.write``."""

from __future__ import annotations

from flask import jsonify, url_for

from authserver_resource.flask import current_grant, require

from .. import events
from ..crm import calendars
from ..models import Calendar, CalendarEvent
from . import bp
from .inputs import encode_cursor, instant, iso, json_object, page_args, text

READ, WRITE = "calendars.readonly", "calendars.write"


def serialize_calendar(calendar: Calendar) -> dict:
    return {
        "id": calendar.id,
        "name": calendar.name,
        "description": calendar.description,
        "created_at": iso(calendar.created_at),
        "updated_at": iso(calendar.updated_at),
    }


def serialize_event(event: CalendarEvent) -> dict:
    return {
        "id": event.id,
        "calendar_id": event.calendar_id,
        "title": event.title,
        "starts_at": iso(event.starts_at),
        "ends_at": iso(event.ends_at),
        "created_at": iso(event.created_at),
    }


def _created(body: dict, location: str):
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


@bp.get("/calendars")
@require(READ)
def list_calendars():
    limit, after = page_args()
    page = calendars.list_calendars(current_grant().account_id, limit=limit, after=after)
    return jsonify(calendars=[serialize_calendar(c) for c in page.items], next_cursor=encode_cursor(page.next_after))


@bp.post("/calendars")
@require(WRITE)
def create_calendar():
    data = json_object(("name", "description"))
    values = {
        "name": text(data, "name", max_length=200, required=True),
        "description": text(data, "description", max_length=2000) or "",
    }
    calendar = calendars.create_calendar(current_grant().account_id, values)
    events.publish("calendar.created", calendar.account_id, serialize_calendar(calendar))
    return _created(serialize_calendar(calendar), url_for("v2.get_calendar", calendar_id=calendar.id))


@bp.get("/calendars/<calendar_id>")
@require(READ)
def get_calendar(calendar_id):
    return jsonify(serialize_calendar(calendars.get_calendar(current_grant().account_id, calendar_id)))


@bp.patch("/calendars/<calendar_id>")
@require(WRITE)
def update_calendar(calendar_id):
    data = json_object(("name", "description"))
    values = {}
    if "name" in data:
        values["name"] = text(data, "name", max_length=200, required=True)
    if "description" in data:
        values["description"] = text(data, "description", max_length=2000) or ""
    calendar = calendars.update_calendar(current_grant().account_id, calendar_id, values)
    events.publish("calendar.updated", calendar.account_id, serialize_calendar(calendar))
    return jsonify(serialize_calendar(calendar))


@bp.delete("/calendars/<calendar_id>")
@require(WRITE)
def delete_calendar(calendar_id):
    calendars.delete_calendar(current_grant().account_id, calendar_id)
    events.publish("calendar.deleted", current_grant().account_id, {"id": calendar_id})
    return "", 204


@bp.get("/calendars/<calendar_id>/events")
@require(READ)
def list_events(calendar_id):
    limit, after = page_args()
    page = calendars.list_events(current_grant().account_id, calendar_id, limit=limit, after=after)
    return jsonify(events=[serialize_event(e) for e in page.items], next_cursor=encode_cursor(page.next_after))


@bp.post("/calendars/<calendar_id>/events")
@require(WRITE)
def create_event(calendar_id):
    data = json_object(("title", "starts_at", "ends_at"))
    event = calendars.create_event(
        current_grant().account_id,
        calendar_id,
        title=text(data, "title", max_length=200, required=True),
        starts_at=instant(data, "starts_at"),
        ends_at=instant(data, "ends_at"),
    )
    events.publish("calendar.event.created", current_grant().account_id, serialize_event(event))
    return _created(serialize_event(event), url_for("v2.get_event", calendar_id=event.calendar_id, event_id=event.id))


@bp.get("/calendars/<calendar_id>/events/<event_id>")
@require(READ)
def get_event(calendar_id, event_id):
    return jsonify(serialize_event(calendars.get_event(current_grant().account_id, calendar_id, event_id)))


@bp.delete("/calendars/<calendar_id>/events/<event_id>")
@require(WRITE)
def delete_event(calendar_id, event_id):
    calendars.delete_event(current_grant().account_id, calendar_id, event_id)
    events.publish("calendar.event.deleted", current_grant().account_id, {"id": event_id, "calendar_id": calendar_id})
    return "", 204
