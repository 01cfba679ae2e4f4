"""Settings → Webhooks and Settings → v1 API keys, through the pages as a signed-in admin."""

from __future__ import annotations

import re

import pytest

from authserver.extensions import db
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from authserver.v1keys.keys import create_key
from authserver.webhooks.worker import WebhookWorker
from tests.support.admin_ui import ADMIN, MEMBER, add_people, introspect, signed_in
from tests.support.webhook_receiver import WebhookReceiver

_TOKEN = re.compile(r'<pre id="token-value"[^>]*>([^<]+)</pre>')


@pytest.fixture
def app_config(app_config):
    return {**app_config, "AUTHSERVER_WEBHOOK_ALLOW_HTTP": True, "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": ["127.0.0.1"]}


@pytest.fixture
def admin(app, world, clock):
    add_people(world, clock)
    return signed_in(app, ADMIN)


@pytest.fixture
def legacy_key(app, client, world, clock):
    with unit_of_work():
        row, key = create_key(OPERATOR, account_id=world.agency.account_id, name="Nightly export", now=clock.now())
    for route in ("GET /v1/contacts", "GET /v1/calendars"):
        client.post("/oauth/v1-keys/check", headers=world.rs_headers, data={"key": key, "route": route})
    return row.id


def test_the_report_page_shows_routes_and_needed_scopes_and_migrates(admin, client, world, legacy_key):
    base = f"/accounts/{world.agency.account_id}/settings/v1-keys"
    page = admin.get(base)
    assert page.status_code == 200
    assert "GET /v1/contacts" in page.text and "GET /v1/calendars" in page.text
    assert "Nightly export" in page.text and "Migrate to a private integration" in page.text

    shown = admin.post(f"{base}/{legacy_key}/migrate", {"overlap": "30d"})
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    token = _TOKEN.search(shown.text).group(1)
    assert introspect(client, world, token)["scope"] == "calendars.readonly contacts.readonly"
    assert "Roll back the migration" in admin.get(base).text

    rolled = admin.post(f"{base}/{legacy_key}/rollback", follow_redirects=True)
    assert "was rolled back" in rolled.text
    assert introspect(client, world, token) == {"active": False}


def test_a_member_sees_the_report_but_cannot_migrate(app, admin, world, legacy_key):
    member = signed_in(app, MEMBER)
    base = f"/accounts/{world.agency.account_id}/settings/v1-keys"
    page = member.get(base)
    assert page.status_code == 200 and "Migrate to a private integration" not in page.text
    assert member.post(f"{base}/{legacy_key}/migrate", {"overlap": "14d"}).status_code == 403


def test_the_webhooks_page_subscribes_shows_the_delivery_log_and_redelivers(app, admin, world, clock):
    base = f"/accounts/{world.agency.account_id}/settings/webhooks"
    refused = admin.post(base, {"url": "http://169.254.169.254/latest/meta-data/"})
    assert refused.status_code == 400 and "may not be sent to 169.254.169.254" in refused.text
    with WebhookReceiver() as receiver:
        created = admin.post(base, {"url": receiver.url, "events": ["token.expired"], "signing": "hmac"})
        assert created.status_code == 200
        assert _TOKEN.search(created.text).group(1).startswith("whsec_")  # the HMAC secret, shown once
        admin.client.post(
            f"/api/integrations/{world.agency.integration_id}/expire", headers=world.agency.admin_headers, json={}
        )
        WebhookWorker(app).run_once()
        db.session.rollback()
        page = admin.get(base).text
        assert "token.expired" in page and "Succeeded" in page
        delivery_id = re.search(r'data-delivery="([^"]+)"', page).group(1)
        queued = admin.post(f"{base}/deliveries/{delivery_id}/redeliver", follow_redirects=True)
        assert "will be sent again" in queued.text
        WebhookWorker(app).run_once()
        assert len(receiver.wait_for(2)) == 2
        subscription_id = re.search(r'data-webhook="([^"]+)"', page).group(1)
        gone = admin.post(f"{base}/{subscription_id}/delete", follow_redirects=True)
        assert "Unsubscribed" in gone.text and receiver.url not in gone.text
