"""Registered API clients: resource services (introspect) and admin clients (manage, revoke)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from . import audit
from .accounts import clean_name, descendants, get_account_for
from .errors import ForbiddenError, InvalidInputError
from .extensions import db
from .models import ApiClient
from .principals import Principal
from .security import digests_match, is_identifier, new_id, new_secret, secret_digest

KINDS = ("resource-service", "admin")


def create_client(
    principal: Principal, *, name: str, kind: str, account_id: str | None, now: datetime
) -> tuple[ApiClient, str]:
    """Register a client; the secret is returned once and only its SHA-256 digest is kept."""
    name = clean_name(name)
    if kind not in KINDS:
        raise InvalidInputError("kind must be resource-service or admin", field="kind")
    if kind == "admin" and not account_id:
        raise InvalidInputError("an admin client belongs to an account", field="account_id")
    if account_id:
        get_account_for(principal, account_id, write=True)
    elif not principal.is_operator:
        raise ForbiddenError("only the operator may register a resource service for every account")
    secret = new_secret()
    client = ApiClient(
        client_id=new_id("cli"), name=name, kind=kind, account_id=account_id,
        secret_digest=secret_digest(secret), created_at=now,
    )
    db.session.add(client)
    audit.record(principal, "client.created", now=now, account_id=account_id, target_type="client",
                 target_id=client.client_id, after={"name": name, "kind": kind})
    db.session.commit()
    return client, secret


def find_client(client_id: str) -> ApiClient | None:
    if not is_identifier(client_id):
        return None
    client = db.session.get(ApiClient, client_id)
    return client if client is not None and client.disabled_at is None else None


def check_client_secret(client: ApiClient, secret: str) -> bool:
    return digests_match(secret, client.secret_digest)


def client_principal(client: ApiClient, source_address: str | None) -> Principal:
    admin_of = descendants({client.account_id}) if client.kind == "admin" and client.account_id else frozenset()
    return Principal(kind="admin_client", id=client.client_id, admin_of=admin_of, source_address=source_address)


def list_clients(account_id: str | None = None) -> list[ApiClient]:
    query = select(ApiClient).order_by(ApiClient.created_at)
    if account_id:
        query = query.where(ApiClient.account_id == account_id)
    return list(db.session.scalars(query))
