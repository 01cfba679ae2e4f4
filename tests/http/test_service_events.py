"""POST /api/service-events: v2 services publish data events, delivered by the real worker to a real receiver on
127.0.0.1 for the account's integration subscriptions that hold the read scope, and only while they hold it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from authserver.clock import FrozenClock
from authserver.extensions import db
from authserver.models import Integration, WebhookDelivery, WebhookEvent
from authserver.webhooks.worker import WebhookWorker
from tests.factories import basic, make_client, make_integration
from tests.http.problems import assert_problem
from tests.http.test_openapi import DOCUMENT_PATH, Conformance
from tests.support.webhook_receiver import WebhookReceiver, verify_ed25519

PATH = "/api/service-events"


@pytest.fixture
def clock():
    """Real time, frozen: the reference verifier refuses signatures more than 5 minutes from now."""
    return FrozenClock()


@pytest.fixture
def app_config(app_config, request):
    """Loopback webhooks; a test's indirect parameter adds settings of its own."""
    return {
        **app_config,
        "AUTHSERVER_WEBHOOK_ALLOW_HTTP": True,
        "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": ["127.0.0.1"],
        "AUTHSERVER_WEBHOOK_TIMEOUT": 2.0,
        **getattr(request, "param", {}),
    }


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def service(clock, world):
    """A resource service bound to the agency account (which has a sub-account)."""
    return basic(*make_client(clock, kind="resource-service", account_id=world.agency.account_id, name="crm"))


def deliver(app) -> int:
    attempted = WebhookWorker(app).run_once()
    db.session.rollback()
    return attempted


def event(account_id, *, type="contact.created", id="evt-1", **extra):
    return {"type": type, "account_id": account_id, "id": id, "data": {"id": "c1", "name": "Ada"}} | extra


def subscribe(client, tenant, url, events, integration_id=None, status=201):
    body = {"url": url, "events": events, "integration_id": integration_id or tenant.integration_id}
    response = client.post(f"/api/accounts/{tenant.account_id}/webhooks", headers=tenant.admin_headers, json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_a_published_contact_event_reaches_the_integration_holding_the_scope_signed(
    app, client, world, service, receiver
):
    subscribe(client, world.agency, receiver.url, ["contact.created"])
    response = client.post(
        PATH, headers=service, json=event(world.agency.account_id, occurred_at="2020-01-01T00:00:00Z")
    )
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    assert accepted["id"].startswith("msg_") and accepted["duplicate"] is False
    assert deliver(app) == 1
    [received] = receiver.wait_for(1)
    public_key = client.get("/api/webhooks/public-key").get_json()["public_key"]
    payload = verify_ed25519(public_key, received)
    assert received.webhook_id == accepted["id"]
    assert payload["type"] == "contact.created"
    assert payload["data"]["account_id"] == world.agency.account_id
    assert payload["data"]["object"] == {"id": "c1", "name": "Ada"}
    assert payload["data"]["occurred_at"] == "2020-01-01T00:00:00Z"
    assert payload["data"]["service"]


def test_a_retried_publication_answers_the_same_id_and_delivers_once(app, client, world, service, receiver):
    subscribe(client, world.agency, receiver.url, ["contact.created"])
    first = client.post(PATH, headers=service, json=event(world.agency.account_id)).get_json()
    again = client.post(PATH, headers=service, json=event(world.agency.account_id))
    assert again.status_code == 202
    assert again.get_json()["id"] == first["id"] and again.get_json()["duplicate"] is True
    deliver(app)
    deliver(app)
    assert len(receiver.wait_for(1)) == 1
    assert db.session.scalar(select(db.func.count()).select_from(WebhookDelivery)) == 1


def test_the_same_id_with_a_different_event_is_a_conflict(client, world, service):
    assert client.post(PATH, headers=service, json=event(world.agency.account_id)).status_code == 202
    changed = event(world.agency.account_id, type="contact.deleted")
    assert_problem(client.post(PATH, headers=service, json=changed), 409, code="conflict")


def test_an_event_is_recorded_even_with_no_subscriber_so_a_retry_is_still_recognised(client, world, service):
    first = client.post(PATH, headers=service, json=event(world.agency.account_id)).get_json()
    assert db.session.get(WebhookEvent, first["id"]) is not None
    assert client.post(PATH, headers=service, json=event(world.agency.account_id)).get_json()["id"] == first["id"]


def test_narrowing_the_scope_cancels_pending_data_deliveries_at_once(app, client, world, service, receiver, clock):
    both = make_integration(clock, world.agency.account_id, scopes=("contacts.readonly", "calendars.readonly"))
    events = ["contact.created", "integration.scopes_changed"]
    hook = subscribe(client, world.agency, receiver.url, events, integration_id=both.id)
    client.post(PATH, headers=service, json=event(world.agency.account_id))
    response = client.patch(
        f"/api/integrations/{both.id}", headers=world.agency.admin_headers, json={"scopes": ["calendars.readonly"]}
    )
    assert response.status_code == 200, response.get_json()
    deliver(app)
    [received] = receiver.wait_for(1)
    assert received.type == "integration.scopes_changed"  # the lifecycle event still goes; the data does not
    log = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=world.agency.admin_headers).get_json()
    [cancelled] = [d for d in log["deliveries"] if d["event"]["type"] == "contact.created"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["last_error"] == "integration no longer holds contacts.readonly"
    # The next event is not even queued for it.
    client.post(PATH, headers=service, json=event(world.agency.account_id, id="evt-2"))
    assert deliver(app) == 0


def test_the_worker_asks_for_the_scope_again_before_each_attempt(app, client, world, service, receiver):
    """Even a scope removed without the domain (a restored backup, a hand edit) stops the delivery."""
    subscribe(client, world.agency, receiver.url, ["contact.created"])
    client.post(PATH, headers=service, json=event(world.agency.account_id))
    row = db.session.get(Integration, world.agency.integration_id)
    row.scopes = "calendars.readonly"
    db.session.commit()
    assert deliver(app) == 1
    assert receiver.requests == []
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, delivery.last_error) == ("cancelled", "integration no longer holds contacts.readonly")


def test_a_calendar_event_needs_calendars_readonly(app, client, world, service, receiver, clock):
    calendars = make_integration(clock, world.agency.account_id, scopes=("calendars.readonly",), name="Cal")
    subscribe(client, world.agency, receiver.url, ["calendar.event.created"], integration_id=calendars.id)
    subscribe(client, world.agency, receiver.url + "/contacts-only", ["contact.created"])
    client.post(PATH, headers=service, json=event(world.agency.account_id, type="calendar.event.created"))
    assert deliver(app) == 1
    [received] = receiver.wait_for(1)
    assert (received.path, received.type) == ("/hooks", "calendar.event.created")


def test_a_service_publishes_for_its_sub_accounts_but_their_events_stay_theirs(app, client, world, service, receiver):
    subscribe(client, world.agency, receiver.url + "/agency", ["contact.created"])
    subscribe(client, world.sub, receiver.url + "/sub", ["contact.created"])
    assert client.post(PATH, headers=service, json=event(world.sub.account_id)).status_code == 202
    deliver(app)
    assert [r.path for r in receiver.wait_for(1)] == ["/hooks/sub"]


@pytest.mark.parametrize("whose", ["other", "missing"])
def test_a_service_cannot_publish_for_an_account_outside_its_own(client, world, service, whose):
    account_id = world.other.account_id if whose == "other" else "acc_doesnotexist"
    body = assert_problem(client.post(PATH, headers=service, json=event(account_id)), 403, code="forbidden")
    assert body["detail"] == "this service publishes only for its own account and its sub-accounts"


def test_an_unbound_resource_service_may_not_publish(client, world):
    response = client.post(PATH, headers=world.rs_headers, json=event(world.agency.account_id))
    assert_problem(response, 403, code="forbidden")


@pytest.mark.parametrize("who", ["nobody", "admin client", "wrong secret", "bearer", "garbage"])
def test_only_a_resource_service_authenticates(client, world, service, who):
    headers = {
        "nobody": {},
        "admin client": world.agency.admin_headers,
        "wrong secret": basic(world.resource_service[0], "not-the-secret"),
        "bearer": {"Authorization": f"Bearer {world.agency.token}"},
        "garbage": {"Authorization": "Basic %%%"},
    }[who]
    assert_problem(client.post(PATH, headers=headers, json=event(world.agency.account_id)), 401)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "contact.exploded"}, "type"),
        ({"type": "token.revoked"}, "type"),
        ({"type": None}, "type"),
        ({"id": ""}, "id"),
        ({"id": "x" * 101}, "id"),
        ({"id": "has space"}, "id"),
        ({"id": 7}, "id"),
        ({"account_id": ""}, "account_id"),
        ({"account_id": "a\x00b"}, "account_id"),
        ({"data": "text"}, "data"),
        ({"data": None}, "data"),
        ({"data": {"blob": "x" * 17000}}, "data"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_malformed_event_is_a_400_naming_the_field(client, world, service, change, field):
    body = event(world.agency.account_id) | change
    assert_problem(client.post(PATH, headers=service, json=body), 400, field=field)
    assert db.session.scalar(select(db.func.count()).select_from(WebhookEvent)) == 0


def test_a_body_that_is_not_a_json_object_is_refused(client, world, service):
    assert_problem(client.post(PATH, headers=service, json=[1, 2]), 400)
    response = client.post(PATH, headers=service, data="{not json", content_type="application/json")
    assert_problem(response, 400)
    response = client.post(PATH, headers=service, data="type=contact.created")
    assert_problem(response, 415)
    big = event(world.agency.account_id, data={"a": "x" * 70000})
    assert_problem(client.post(PATH, headers=service, json=big), 413)


def test_data_events_go_only_to_subscriptions_of_an_integration_holding_the_scope(client, world, receiver, clock):
    tenant = world.agency
    url = f"/api/accounts/{tenant.account_id}/webhooks"
    response = client.post(url, headers=tenant.admin_headers, json={"url": receiver.url, "events": ["contact.created"]})
    assert_problem(response, 400, field="events")
    calendars = make_integration(clock, tenant.account_id, scopes=("calendars.readonly",), name="Cal")
    body = {"url": receiver.url, "events": ["contact.created"], "integration_id": calendars.id}
    body_detail = assert_problem(client.post(url, headers=tenant.admin_headers, json=body), 400, field="events")
    assert "contacts.readonly" in body_detail["detail"]
    # "*" (or nothing) means every lifecycle event: data is named explicitly.
    everything = subscribe(client, tenant, receiver.url, ["*"])
    assert not {"contact.created", "calendar.created"} & set(everything["events"])


def test_the_event_catalogue_names_each_data_events_scope(client, world):
    events = {
        e["type"]: e for e in client.get("/api/webhooks/events", headers=world.agency.admin_headers).json["events"]
    }
    assert events["contact.deleted"]["scope"] == "contacts.readonly" and events["contact.deleted"]["kind"] == "data"
    assert events["calendar.event.created"]["scope"] == "calendars.readonly"
    assert events["token.revoked"]["scope"] is None and events["token.revoked"]["kind"] == "lifecycle"


def test_answers_match_the_openapi_document(client, world, service):
    conformance = Conformance(json.loads(DOCUMENT_PATH.read_text()))
    accepted = client.post(PATH, headers=service, json=event(world.agency.account_id))
    conformance.check(accepted, PATH, "POST")
    for response in (
        client.post(PATH, headers=service, json=event(world.agency.account_id, type="nope")),
        client.post(PATH, headers={}, json=event(world.agency.account_id)),
        client.post(PATH, headers=service, json=event(world.other.account_id)),
        client.post(PATH, headers=service, data="x=1"),
    ):
        conformance.check(response, PATH, "POST")
    types = client.get("/api/webhooks/events", headers=world.agency.admin_headers)
    conformance.check(types, "/api/webhooks/events")


def test_the_cli_subscribes_an_integration_to_data_events_and_refuses_an_account_in_one_line(runner, world):
    args = ["webhooks", "subscribe", "--url", "http://127.0.0.1/hooks", "--event", "contact.created", "--json"]
    done = runner.invoke(args=[*args, "--integration", world.agency.integration_id])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["events"] == ["contact.created"]
    refused = runner.invoke(args=[*args, "--account", world.agency.account_id])
    assert refused.exit_code != 0 and refused.stdout == ""
    [line] = refused.stderr.strip().splitlines()
    assert "choose an integration" in line
    help_text = " ".join(runner.invoke(args=["webhooks", "subscribe", "--help"]).output.split())
    assert "Default: every token and integration event allowed" in help_text
    assert "need --integration holding their read scope" in help_text


@pytest.mark.parametrize("app_config", [{"AUTHSERVER_RATE_LIMIT_SERVICE_EVENTS": "2/1m"}], indirect=True)
def test_a_publisher_over_its_limit_is_refused_with_429_and_retry_after(client, world, service, clock):
    """Per publishing client (AUTHSERVER_RATE_LIMIT_SERVICE_EVENTS): the third event in a minute is refused."""
    for number in (1, 2):
        response = client.post(PATH, headers=service, json=event(world.agency.account_id, id=f"evt-{number}"))
        assert response.status_code == 202, response.get_json()
    refused = client.post(PATH, headers=service, json=event(world.agency.account_id, id="evt-3"))
    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # another publisher has its own budget
    other = basic(*make_client(clock, kind="resource-service", account_id=world.agency.account_id, name="other"))
    assert client.post(PATH, headers=other, json=event(world.agency.account_id, id="evt-4")).status_code == 202
