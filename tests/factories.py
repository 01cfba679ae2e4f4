"""Plain builders for tests: accounts, clients, integrations and tokens through the real domain functions, each
committed in its own unit of work as a surface would."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from authserver.accounts import create_account
from authserver.clients import create_client
from authserver.integrations import create_integration, generate_token
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work


def basic(client_id: str, secret: str) -> dict:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def make_account(clock, name="Acme", parent_id=None):
    with unit_of_work():
        return create_account(OPERATOR, name=name, parent_id=parent_id, now=clock.now())


def make_client(clock, kind="resource-service", account_id=None, name="client", resource=None):
    with unit_of_work():
        client, secret = create_client(
            OPERATOR, name=name, kind=kind, account_id=account_id, now=clock.now(), resource=resource
        )
    return client.client_id, secret


def make_integration(clock, account_id, scopes=("contacts.readonly",), name="Zapier", **kwargs):
    with unit_of_work():
        return create_integration(
            OPERATOR, account_id=account_id, name=name, description="", scopes=list(scopes), now=clock.now(), **kwargs
        )


def issue_token(services, clock, integration_id, expires_in=None):
    with unit_of_work():
        return generate_token(OPERATOR, integration_id, policy=services.policy, now=clock.now(), expires_in=expires_in)


@dataclass
class Tenant:
    account_id: str
    admin_client: tuple[str, str]
    integration_id: str
    token: str
    jti: str

    @property
    def admin_headers(self) -> dict:
        return basic(*self.admin_client)


@dataclass
class World:
    resource_service: tuple[str, str]
    agency: Tenant
    sub: Tenant
    other: Tenant
    extra: dict = field(default_factory=dict)

    @property
    def rs_headers(self) -> dict:
        return basic(*self.resource_service)


def _tenant(services, clock, name, parent_id=None, scopes=("contacts.readonly",)):
    account = make_account(clock, name=name, parent_id=parent_id)
    admin = make_client(clock, kind="admin", account_id=account.id, name=f"{name} admin")
    integration = make_integration(clock, account.id, scopes=scopes, name=f"{name} integration")
    issued = issue_token(services, clock, integration.id)
    return Tenant(account.id, admin, integration.id, issued.token, issued.record.jti)


def make_world(services, clock) -> World:
    rs = make_client(clock, kind="resource-service", name="contacts-service")
    agency = _tenant(services, clock, "Agency")
    sub = _tenant(services, clock, "Sub", parent_id=agency.account_id)
    other = _tenant(services, clock, "Other")
    return World(resource_service=rs, agency=agency, sub=sub, other=other)
