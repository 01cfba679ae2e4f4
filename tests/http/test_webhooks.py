"""Webhooks through the admin API and a real receiver on 127.0.0.1, delivered by the worker in this process."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authserver.clock import FrozenClock
from authserver.extensions import db
from authserver.integrations import revoke_by_endpoint
from authserver.models import WebhookDelivery, WebhookEvent
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from authserver.webhooks import expiring
from authserver.webhooks.worker import WebhookWorker
from tests.factories import make_integration
from tests.support.webhook_receiver import WebhookReceiver, verify_ed25519, verify_hmac


@pytest.fixture
def clock():
    """Real time, frozen: the reference verifier refuses signatures more than 5 minutes from now."""
    return FrozenClock()


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "AUTHSERVER_WEBHOOK_ALLOW_HTTP": True,
        "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": ["127.0.0.1"],
        "AUTHSERVER_WEBHOOK_TIMEOUT": 2.0,
        "AUTHSERVER_WEBHOOK_RETRY_BASE": 5.0,
    }


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def lifecycle(services, clock):
    from tests.unit.helpers import Lifecycle

    return Lifecycle(services, clock)


def deliver(app) -> int:
    """One pass of the real worker; then end this session's transaction so it sees the worker's commits."""
    attempted = WebhookWorker(app).run_once()
    db.session.rollback()
    return attempted


def subscribe(client, tenant, url, **body):
    response = client.post(
        f"/api/accounts/{tenant.account_id}/webhooks", headers=tenant.admin_headers, json={"url": url} | body
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def deliveries_of(client, tenant, subscription_id, **params):
    response = client.get(
        f"/api/webhooks/{subscription_id}/deliveries", headers=tenant.admin_headers, query_string=params
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["deliveries"]


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/hooks"])
def test_subscription_to_an_internal_or_odd_url_is_refused(client, world, url):
    response = client.post(
        f"/api/accounts/{world.agency.account_id}/webhooks", headers=world.agency.admin_headers, json={"url": url}
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["type"].endswith("/destination_refused")
    assert body["errors"][0]["field"] == "url"


def test_each_event_arrives_once_signed_and_without_the_token(app, client, world, services, clock, receiver):
    account = world.agency
    ed = subscribe(client, account, receiver.url)
    hmac_sub = subscribe(
        client, account, receiver.url + "?hmac", signing="hmac", events=["token.generated", "token.rotated"]
    )
    assert ed["public_key"].startswith("whpk_") and "secret" not in ed
    assert hmac_sub["secret"].startswith("whsec_")

    integration = client.post(
        f"/api/accounts/{account.account_id}/integrations",
        headers=account.admin_headers,
        json={"name": "Hooked", "scopes": ["contacts.readonly"]},
    ).get_json()
    path = f"/api/integrations/{integration['id']}"
    tokens = [client.post(f"{path}/tokens", headers=account.admin_headers, json={}).get_json()["token"]]
    tokens.append(
        client.post(f"{path}/rotate", headers=account.admin_headers, json={"mode": "now"}).get_json()["token"]
    )
    client.patch(path, headers=account.admin_headers, json={"scopes": ["contacts.readonly", "contacts.write"]})
    client.post(f"{path}/expire", headers=account.admin_headers, json={})
    tokens.append(client.post(f"{path}/tokens", headers=account.admin_headers, json={}).get_json()["token"])
    jti = next(
        t["token_id"]
        for t in client.get(f"{path}/tokens", headers=account.admin_headers).get_json()["tokens"]
        if t["status"] == "active"
    )
    with unit_of_work():
        revoke_by_endpoint(OPERATOR, jti, now=clock.now())
    assert client.delete(path, headers=account.admin_headers).status_code == 204

    assert deliver(app) == 11
    received = receiver.wait_for(11)
    assert deliver(app) == 0  # nothing left: each event exactly once
    ed_received = [r for r in received if "hmac" not in r.path]
    assert sorted(r.type for r in ed_received) == sorted(
        [
            "integration.created",
            "token.generated",
            "token.rotated",
            "integration.scopes_changed",
            "token.expired",
            "token.generated",
            "token.revoked",
            "integration.deleted",
        ]
    )
    assert len({r.webhook_id for r in ed_received}) == 8
    public_key = client.get("/api/webhooks/public-key").get_json()["public_key"]
    for request in ed_received:
        payload = verify_ed25519(public_key, request)
        assert payload["data"]["integration_id"] == integration["id"]
        assert not any(token in request.body for token in tokens)
    hmac_received = [r for r in received if "hmac" in r.path]
    assert sorted(verify_hmac(hmac_sub["secret"], r)["type"] for r in hmac_received) == [
        "token.generated",
        "token.generated",
        "token.rotated",
    ]
    rotated = next(r.payload for r in ed_received if r.type == "token.rotated")
    assert rotated["data"]["grace"] is False and len(rotated["data"]["previous_token_ids"]) == 1
    log = deliveries_of(client, account, ed["id"])
    assert {d["status"] for d in log} == {"succeeded"} and {d["attempts"] for d in log} == {1}


def test_a_receiver_failing_three_times_gets_the_event_once_more_after_backoff(app, client, world, clock):
    with WebhookReceiver([500, 502, 503]) as receiver:
        hook = subscribe(client, world.agency, receiver.url, events=["integration.created"])
        make_integration(clock, world.agency.account_id)
        waits = []
        for attempt in range(1, 5):
            assert deliver(app) == 1
            assert len(receiver.requests) == attempt
            delivery = deliveries_of(client, world.agency, hook["id"])[0]
            if attempt < 4:
                assert delivery["status"] == "pending" and delivery["last_status_code"] == 500 + [0, 2, 3][attempt - 1]
                assert deliver(app) == 0  # not before its time
                wait = (db.session.get(WebhookDelivery, delivery["id"]).next_attempt_at - clock.now()).total_seconds()
                waits.append(wait)
                clock.advance(wait)
        assert delivery["status"] == "succeeded" and delivery["attempts"] == 4 and delivery["last_error"] is None
        assert deliver(app) == 0
        assert len({r.webhook_id for r in receiver.requests}) == 1  # the same event, recognisable by its id
        # Exponential with jitter: 2.5-5 s, 10-20 s, 40-80 s.
        assert 2.5 <= waits[0] <= 5 and 10 <= waits[1] <= 20 and 40 <= waits[2] <= 80


def test_retries_last_at_least_a_day_then_redelivery_by_hand(app, client, world, clock):
    with WebhookReceiver(default_status=500) as receiver:
        hook = subscribe(client, world.agency, receiver.url, events=["integration.created"])
        make_integration(clock, world.agency.account_id)
        started = clock.now()
        for _ in range(40):
            deliver(app)
            row = db.session.get(WebhookDelivery, deliveries_of(client, world.agency, hook["id"])[0]["id"])
            if row.status != "pending":
                break
            clock.set(row.next_attempt_at)
        assert row.status == "failed" and row.last_error == "HTTP 500"
        assert row.last_attempt_at - started >= timedelta(hours=24)
        attempts = row.attempts
        assert attempts == len(receiver.requests) < 20

        receiver.default_status = 200
        response = client.post(f"/api/webhook-deliveries/{row.id}/redeliver", headers=world.agency.admin_headers)
        assert response.status_code == 202 and response.get_json()["status"] == "pending"
        assert deliver(app) == 1
        log = deliveries_of(client, world.agency, hook["id"])[0]
        assert log["status"] == "succeeded" and log["attempts"] == attempts + 1
        assert any(
            e["action"] == "webhook.redelivery_requested"
            for e in client.get(
                f"/api/accounts/{world.agency.account_id}/audit", headers=world.agency.admin_headers
            ).get_json()["events"]
        )


def test_a_410_gone_disables_the_subscription(app, client, world, clock):
    with WebhookReceiver([410]) as receiver:
        hook = subscribe(client, world.agency, receiver.url, events=["integration.created"])
        make_integration(clock, world.agency.account_id, name="one")
        deliver(app)
        make_integration(clock, world.agency.account_id, name="two")
        deliver(app)
        assert len(receiver.requests) == 1
    body = client.get(f"/api/webhooks/{hook['id']}", headers=world.agency.admin_headers).get_json()
    assert body["status"] == "disabled" and "410" in body["disabled_reason"]


def test_the_address_is_checked_again_at_delivery_time(app, client, world, clock, receiver):
    hook = subscribe(client, world.agency, receiver.url, events=["integration.created"])
    app.config["AUTHSERVER_WEBHOOK_ALLOW_HOSTS"] = []  # the operator withdrew the exception
    make_integration(clock, world.agency.account_id)
    assert deliver(app) == 1
    delivery = deliveries_of(client, world.agency, hook["id"])[0]
    assert delivery["status"] == "pending" and "127.0.0.1" in delivery["last_error"]
    assert receiver.requests == []


def test_subscriptions_are_private_to_their_account(client, world, receiver):
    hook = subscribe(client, world.agency, receiver.url)
    assert client.get(f"/api/webhooks/{hook['id']}", headers=world.other.admin_headers).status_code == 404
    assert client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=world.other.admin_headers).status_code == 404
    assert client.delete(f"/api/webhooks/{hook['id']}", headers=world.other.admin_headers).status_code == 404
    response = client.post(
        f"/api/accounts/{world.other.account_id}/webhooks",
        headers=world.other.admin_headers,
        json={"url": receiver.url, "integration_id": world.agency.integration_id},
    )
    assert response.status_code == 404
    listed = client.get(f"/api/accounts/{world.agency.account_id}/webhooks", headers=world.agency.admin_headers)
    assert [w["id"] for w in listed.get_json()["webhooks"]] == [hook["id"]]
    assert client.delete(f"/api/webhooks/{hook['id']}", headers=world.agency.admin_headers).status_code == 204
    assert client.get(f"/api/webhooks/{hook['id']}", headers=world.agency.admin_headers).status_code == 404


def test_an_integration_subscription_only_hears_about_its_integration(app, client, world, clock, receiver):
    subscribe(client, world.agency, receiver.url, integration_id=world.agency.integration_id)
    client.post(f"/api/integrations/{world.sub.integration_id}/expire", headers=world.sub.admin_headers, json={})
    client.post(f"/api/integrations/{world.agency.integration_id}/expire", headers=world.agency.admin_headers, json={})
    assert deliver(app) == 1
    assert [r.payload["data"]["token_id"] for r in receiver.requests] == [world.agency.jti]


def test_unknown_event_types_are_refused(client, world, receiver):
    response = client.post(
        f"/api/accounts/{world.agency.account_id}/webhooks",
        headers=world.agency.admin_headers,
        json={"url": receiver.url, "events": ["token.stolen"]},
    )
    assert response.status_code == 400 and response.get_json()["errors"][0]["field"] == "events"


def test_a_failed_change_leaves_no_event_behind(client, world, receiver):
    subscribe(client, world.agency, receiver.url)
    response = client.post(
        f"/api/integrations/{world.agency.integration_id}/tokens", headers=world.agency.admin_headers, json={}
    )
    assert response.status_code == 409  # a live token exists: nothing changed, so nothing to announce
    assert db.session.query(WebhookEvent).count() == 0


def test_expiring_notices_are_sent_once_per_deadline(app, client, world, services, clock, receiver, lifecycle):
    subscribe(client, world.agency, receiver.url, events=["token.expiring", "token.expired"])
    lifecycle.rotate_with_grace(world.agency.integration_id, grace=3 * 86400)
    assert expiring.scan(clock.now()) == 1
    assert expiring.scan(clock.now()) == 0
    clock.advance(3 * 86400 + 1)
    assert expiring.scan(clock.now()) == 1  # the grace period ran out
    assert expiring.scan(clock.now()) == 0
    deliver(app)
    notices = [(r.type, r.payload["data"]["reason"], r.payload["data"]["token_id"]) for r in receiver.requests]
    assert notices == [
        ("token.expiring", "grace", world.agency.jti),
        ("token.expired", "grace_ended", world.agency.jti),
    ]


def test_inactivity_notice_comes_within_a_day_of_the_idle_deadline(app, client, world, clock, receiver, lifecycle):
    subscribe(client, world.agency, receiver.url, events=["token.expiring"])
    integration = make_integration(clock, world.agency.account_id, inactivity_window=2 * 86400)
    issued = lifecycle.generate(integration.id)
    clock.advance(86400 - 60)
    assert expiring.scan(clock.now()) == 0
    clock.advance(120)
    assert expiring.scan(clock.now()) == 1
    deliver(app)
    data = receiver.requests[0].payload["data"]
    assert (data["reason"], data["token_id"]) == ("inactivity", issued.record.jti)
