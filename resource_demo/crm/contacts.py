"""Contacts of an account. Another account's contact is indistinguishable from one that does not exist."""

from __future__ import annotations

from sqlalchemy import select

from ..errors import NotFoundError
from ..extensions import db
from ..models import Contact, utcnow
from .paging import Page, fetch_page

FIELDS = ("name", "email", "phone", "company")


def list_contacts(account_id: str, *, limit: int, after: int | None) -> Page:
    return fetch_page(select(Contact).where(Contact.account_id == account_id), Contact.seq, limit=limit, after=after)


def get_contact(account_id: str, contact_id: str) -> Contact:
    contact = db.session.scalar(select(Contact).where(Contact.id == contact_id, Contact.account_id == account_id))
    if contact is None:
        raise NotFoundError(f"no contact {contact_id[:40]!r}")
    return contact


def create_contact(account_id: str, values: dict) -> Contact:
    contact = Contact(account_id=account_id, **values)
    db.session.add(contact)
    db.session.commit()
    return contact


def update_contact(account_id: str, contact_id: str, values: dict) -> Contact:
    contact = get_contact(account_id, contact_id)
    for name, value in values.items():
        setattr(contact, name, value)
    contact.updated_at = utcnow()
    db.session.commit()
    return contact


def delete_contact(account_id: str, contact_id: str) -> None:
    db.session.delete(get_contact(account_id, contact_id))
    db.session.commit()
