"""/v2/contacts: read with ``contacts.readonly``, change with ``contacts.write``."""

from __future__ import annotations

from flask import jsonify, url_for

from authserver_resource.flask import current_grant, require

from .. import events
from ..crm import contacts
from ..models import Contact
from . import bp
from .inputs import email, encode_cursor, iso, json_object, page_args, text

READ, WRITE = "contacts.readonly", "contacts.write"


def serialize(contact: Contact) -> dict:
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "company": contact.company,
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
    }


def _values(data: dict, *, creating: bool) -> dict:
    values = {
        "name": text(data, "name", max_length=200, required=creating, nullable=False),
        "email": email(data),
        "phone": text(data, "phone", max_length=40),
        "company": text(data, "company", max_length=200),
    }
    return values if creating else {name: value for name, value in values.items() if name in data}


@bp.get("/contacts")
@require(READ)
def list_contacts():
    limit, after = page_args()
    page = contacts.list_contacts(current_grant().account_id, limit=limit, after=after)
    return jsonify(contacts=[serialize(c) for c in page.items], next_cursor=encode_cursor(page.next_after))


@bp.post("/contacts")
@require(WRITE)
def create_contact():
    values = _values(json_object(contacts.FIELDS), creating=True)
    contact = contacts.create_contact(current_grant().account_id, values)
    events.publish("contact.created", contact.account_id, serialize(contact))
    response = jsonify(serialize(contact))
    response.status_code = 201
    response.headers["Location"] = url_for("v2.get_contact", contact_id=contact.id)
    return response


@bp.get("/contacts/<contact_id>")
@require(READ)
def get_contact(contact_id):
    return jsonify(serialize(contacts.get_contact(current_grant().account_id, contact_id)))


@bp.patch("/contacts/<contact_id>")
@require(WRITE)
def update_contact(contact_id):
    values = _values(json_object(contacts.FIELDS), creating=False)
    contact = contacts.update_contact(current_grant().account_id, contact_id, values)
    events.publish("contact.updated", contact.account_id, serialize(contact))
    return jsonify(serialize(contact))


@bp.delete("/contacts/<contact_id>")
@require(WRITE)
def delete_contact(contact_id):
    contacts.delete_contact(current_grant().account_id, contact_id)
    events.publish("contact.deleted", current_grant().account_id, {"id": contact_id})
    return "", 204
