"""Service events end to end: ``authserver run`` (with its in-process webhook worker), ``python -m resource_demo``
publishing its contact and calendar changes, and a real webhook receiver, all on 127.0.0.1.

A contact created through resource_demo's API reaches the subscribed integration's endpoint as a signed
``contact.created``; once that integration's ``contacts.readonly`` is narrowed away, the next contact event is not
delivered to it (while another integration holding the scope still gets it, which proves it was published)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.resource_demo import AdminApi, make_resource_demo
from tests.support.servers import make_authserver
from tests.support.webhook_receiver import WebhookReceiver, verify_ed25519

WEBHOOK_ENV = {
    "AUTHSERVER_WEBHOOK_ALLOW_HTTP": "on",
    "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    "AUTHSERVER_WEBHOOK_TIMEOUT": "2",
    "AUTHSERVER_WEBHOOK_POLL_INTERVAL": "0.1",
    "AUTHSERVER_WEBHOOK_WORKER": "in-process",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("authserver"), **WEBHOOK_ENV)
    account, admin, service = server.cli_batch(
        ["account", "create", "--name", "Acme", "--json"],
        ["client", "create", "--name", "acme-admin", "--kind", "admin", "--account", "{0[id]}", "--json"],
        ["client", "create", "--name", "crm", "--kind", "resource-service", "--account", "{0[id]}", "--json"],
    )
    server.start()
    demo = make_resource_demo(
        tmp_path_factory.mktemp("resource_demo"),
        authserver_url=server.url,
        client_id=service["client_id"],
        client_secret=service["client_secret"],
        mode="introspection",
    )
    try:
        demo.start()
        yield server, demo, AdminApi(server.url, account["id"], admin["client_id"], admin["client_secret"])
    finally:
        demo.stop()
        server.stop()


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


def subscribe(admin: AdminApi, url: str, integration_id: str, events: list[str]) -> dict:
    body = {"url": url, "events": events, "integration_id": integration_id}
    return admin.call("POST", f"/api/accounts/{admin.account_id}/webhooks", 201, json=body)


def create_contact(demo, token: str, name: str) -> dict:
    response = requests.post(
        f"{demo.url}/v2/contacts", json={"name": name}, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()


def wait_for_path(receiver: WebhookReceiver, path: str, count: int, timeout: float = 20.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in receiver.requests if r.path == path]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{path}: expected {count}, got {[r.body for r in receiver.requests]}")


def test_a_contact_created_through_resource_demo_is_delivered_signed_until_the_scope_is_narrowed(stack, receiver):
    server, demo, admin = stack
    zap = admin.create_integration("Zap", ["contacts.readonly", "calendars.readonly"])
    other = admin.create_integration("Sheets", ["contacts.readonly"])
    writer = admin.create_integration("Back office", ["contacts.write"])
    subscribe(admin, receiver.url + "/zap", zap, ["contact.created", "contact.deleted"])
    subscribe(admin, receiver.url + "/sheets", other, ["contact.created"])
    token = admin.generate_token(writer)

    first = create_contact(demo, token, "Ada Lovelace")
    [received] = wait_for_path(receiver, "/hooks/zap", 1)
    public_key = requests.get(f"{server.url}/api/webhooks/public-key", timeout=5).json()["public_key"]
    payload = verify_ed25519(public_key, received)  # libsodium, not our code
    assert payload["type"] == "contact.created"
    assert payload["data"]["account_id"] == admin.account_id
    assert payload["data"]["object"]["id"] == first["id"]
    assert payload["data"]["object"]["name"] == "Ada Lovelace"
    assert "Bearer" not in received.body and token not in received.body

    admin.set_scopes(zap, ["calendars.readonly"])  # contacts.readonly narrowed away
    create_contact(demo, token, "Grace Hopper")
    sheets = wait_for_path(receiver, "/hooks/sheets", 2)  # published, and delivered where the scope is held
    assert sheets[-1].payload["data"]["object"]["name"] == "Grace Hopper"
    time.sleep(1.0)  # the worker polls every 0.1 s: a delivery to Zap would have arrived by now
    zap_contacts = [r for r in receiver.requests if r.path == "/hooks/zap" and r.type.startswith("contact.")]
    assert len(zap_contacts) == 1


def test_resource_demo_publishes_calendar_events_and_deletions(stack, receiver):
    _server, demo, admin = stack
    planner = admin.create_integration("Planner", ["calendars.readonly", "contacts.readonly"])
    writer = admin.create_integration("Calendar writer", ["calendars.write", "contacts.write"])
    subscribe(
        admin, receiver.url + "/planner", planner, ["calendar.created", "calendar.event.created", "contact.deleted"]
    )
    headers = {"Authorization": f"Bearer {admin.generate_token(writer)}"}
    calendar = requests.post(f"{demo.url}/v2/calendars", json={"name": "Team"}, headers=headers, timeout=10).json()
    requests.post(
        f"{demo.url}/v2/calendars/{calendar['id']}/events",
        json={"title": "Stand-up", "starts_at": "2027-01-04T09:00:00Z", "ends_at": "2027-01-04T09:15:00Z"},
        headers=headers,
        timeout=10,
    ).raise_for_status()
    contact = create_contact(demo, headers["Authorization"].removeprefix("Bearer "), "Temp")
    assert requests.delete(f"{demo.url}/v2/contacts/{contact['id']}", headers=headers, timeout=10).status_code == 204
    received = wait_for_path(receiver, "/hooks/planner", 3)
    by_type = {r.type: r.payload for r in received}  # deliveries are not ordered (the worker sends in parallel)
    assert sorted(by_type) == ["calendar.created", "calendar.event.created", "contact.deleted"]
    assert by_type["contact.deleted"]["data"]["object"] == {"id": contact["id"]}
    assert by_type["calendar.event.created"]["data"]["object"]["title"] == "Stand-up"
