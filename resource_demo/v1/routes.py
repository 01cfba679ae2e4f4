"""The v1 routes (a subset of the CRM, in the old shape: ``{"data": ...}``), the key check and the headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime

from flask import current_app, g, jsonify, request

from ..crm import calendars, contacts
from ..errors import InvalidInputError, problem
from . import bp
from .keys import CheckUnavailableError, check_key

DEPRECATED_AT = datetime(2026, 1, 1, tzinfo=UTC)
SUNSET = datetime(2027, 1, 1, tzinfo=UTC)  # for keys not yet migrated; a migrated key's own end comes first
PAGE_SIZE = 100


def route_template() -> str:
    """``GET /v1/contacts/{id}``: the rule that matched, with every path parameter written ``{id}``."""
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    return f"{request.method} " + re.sub(r"<(?:[^:>]+:)?[^>]+>", "{id}", rule)


@bp.before_request
def authenticate():
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return _refusal(401, "this API needs a v1 API key: Authorization: Bearer <key>")
    try:
        grant = check_key(current_app.config, key.strip(), route_template())
    except CheckUnavailableError:
        return _refusal(503, "the v1 key cannot be checked right now")
    if grant is None:
        return _refusal(401, "the v1 API key is invalid, revoked or past its end")
    g.v1_grant = grant
    return None


@bp.after_request
def deprecation_headers(response):
    grant = g.get("v1_grant")
    sunset = min(SUNSET, grant.stops_at) if grant is not None and grant.stops_at else SUNSET
    response.headers["Deprecation"] = f"@{int(DEPRECATED_AT.timestamp())}"
    response.headers["Sunset"] = format_datetime(sunset, usegmt=True)
    response.headers["Link"] = '</v2>; rel="successor-version"'
    return response


def _refusal(status: int, detail: str):
    response = problem(status, "Unauthorized" if status == 401 else "Service Unavailable", detail)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="v1"'
    return response


def _account() -> str:
    return g.v1_grant.account_id


def _contact(contact) -> dict:
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "company": contact.company,
    }


def _contact_values(*, creating: bool) -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInputError("the request body must be a JSON object")
    values = {}
    for name in contacts.FIELDS:
        if name in data:
            value = data[name]
            if not (value is None or isinstance(value, str)) or (value is not None and len(value) > 200):
                raise InvalidInputError(f"{name} must be text of at most 200 characters", field=name)
            values[name] = value
    if creating and not (values.get("name") or "").strip():
        raise InvalidInputError("name is required", field="name")
    return values


@bp.get("/contacts")
def list_contacts():
    page = contacts.list_contacts(_account(), limit=PAGE_SIZE, after=None)
    return jsonify(data=[_contact(c) for c in page.items])


@bp.post("/contacts")
def create_contact():
    return jsonify(data=_contact(contacts.create_contact(_account(), _contact_values(creating=True)))), 201


@bp.get("/contacts/<contact_id>")
def get_contact(contact_id):
    return jsonify(data=_contact(contacts.get_contact(_account(), contact_id)))


@bp.patch("/contacts/<contact_id>")
def update_contact(contact_id):
    return jsonify(data=_contact(contacts.update_contact(_account(), contact_id, _contact_values(creating=False))))


@bp.delete("/contacts/<contact_id>")
def delete_contact(contact_id):
    contacts.delete_contact(_account(), contact_id)
    return "", 204


@bp.get("/calendars")
def list_calendars():
    page = calendars.list_calendars(_account(), limit=PAGE_SIZE, after=None)
    return jsonify(data=[{"id": c.id, "name": c.name, "description": c.description} for c in page.items])


@bp.get("/calendars/<calendar_id>/events")
def list_events(calendar_id):
    page = calendars.list_events(_account(), calendar_id, limit=PAGE_SIZE, after=None)
    return jsonify(
        data=[
            {"id": e.id, "title": e.title, "starts_at": e.starts_at.isoformat(), "ends_at": e.ends_at.isoformat()}
            for e in page.items
        ]
    )
