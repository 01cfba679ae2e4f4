"""The migration story end to end: a v1 key calls resource_demo's /v1 routes, the report names the scopes, the
key is migrated, the v2 token works on /v2 with exactly those scopes, the v1 key stops when the overlap ends, and
a rollback works until then. Real processes on 127.0.0.1; the webhook worker runs inside ``authserver run``."""

from __future__ import annotations

import time
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

import pytest
import requests

from tests.support.resource_demo import make_resource_demo
from tests.support.servers import make_authserver
from tests.support.webhook_receiver import WebhookReceiver, verify_ed25519

OVERLAP = 14 * 86400


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("migration")
    server = make_authserver(
        workdir / "authserver",
        AUTHSERVER_WEBHOOK_WORKER="in-process",
        AUTHSERVER_WEBHOOK_ALLOW_HTTP="on",
        AUTHSERVER_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        AUTHSERVER_WEBHOOK_POLL_INTERVAL="0.1",
    )
    account, admin, service, key = server.cli_batch(
        ["account", "create", "--name", "Legacy Co", "--json"],
        ["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"],
        ["client", "create", "--name", "crm", "--kind", "resource-service", "--json"],
        ["v1-key", "create", "--account", "{0[id]}", "--name", "Nightly sync", "--json"],
    )
    server.start()
    demo = make_resource_demo(
        workdir / "demo",
        authserver_url=server.url,
        client_id=service["client_id"],
        client_secret=service["client_secret"],
        mode="introspection",
    )
    try:
        demo.start()
        admin_session = requests.Session()
        admin_session.auth = (admin["client_id"], admin["client_secret"])
        yield server, demo, account["id"], admin_session, key
    finally:
        demo.stop()
        server.stop()


def call(demo, method, path, credential, **kwargs):
    return requests.request(
        method, demo.url + path, headers={"Authorization": f"Bearer {credential}"}, timeout=15, **kwargs
    )


def eventually(check, timeout=10.0):
    """resource_demo may serve a cached verdict until the event feed invalidates it (well under a second)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_a_v1_key_migrates_to_a_v2_integration_with_exactly_the_scopes_it_used(story):
    server, demo, account_id, admin, key = story
    api = server.url + "/api"
    with WebhookReceiver() as receiver:
        hook = admin.post(
            f"{api}/accounts/{account_id}/webhooks",
            timeout=15,
            json={"url": receiver.url, "events": ["integration.created", "token.generated", "integration.deleted"]},
        )
        assert hook.status_code == 201, hook.text

        # 1. The legacy key at work on /v1, told on every response that v1 is going away.
        created = call(demo, "POST", "/v1/contacts", key["key"], json={"name": "Ada", "email": "ada@example.com"})
        assert created.status_code == 201, created.text
        contact_id = created.json()["data"]["id"]
        listed = call(demo, "GET", "/v1/contacts", key["key"])
        assert listed.status_code == 200 and [c["id"] for c in listed.json()["data"]] == [contact_id]
        assert call(demo, "GET", f"/v1/contacts/{contact_id}", key["key"]).status_code == 200
        assert listed.headers["Deprecation"].startswith("@")
        assert parsedate_to_datetime(listed.headers["Sunset"]).year == 2027
        refused = call(demo, "GET", "/v1/contacts", "v1_not-a-key")
        assert refused.status_code == 401 and "Deprecation" in refused.headers and "Sunset" in refused.headers

        # 2. The report: last use, the v1 routes called, the v2 scopes they need.
        report = admin.get(f"{api}/accounts/{account_id}/v1-keys/migration-report", timeout=15).json()
        (entry,) = report["keys"]
        assert {r["route"]: r["calls"] for r in entry["routes"]} == {
            "POST /v1/contacts": 1,
            "GET /v1/contacts": 1,
            "GET /v1/contacts/{id}": 1,
        }
        assert entry["needed_scopes"] == ["contacts.readonly", "contacts.write"] and entry["last_used_at"]

        # 3. Migrate (the CLI); the v2 token works on /v2 with those scopes only.
        first = server.cli("migrate", "v1-key", key["id"], "--overlap", "14d", "--json")
        token = first["token"]["token"]
        assert first["integration"]["scopes"] == ["contacts.readonly", "contacts.write"]
        v2_list = call(demo, "GET", "/v2/contacts", token)
        assert v2_list.status_code == 200 and [c["id"] for c in v2_list.json()["contacts"]] == [contact_id]
        assert call(demo, "POST", "/v2/contacts", token, json={"name": "Grace"}).status_code == 201
        beyond = call(demo, "GET", "/v2/calendars", token)
        assert beyond.status_code == 403 and "insufficient_scope" in beyond.headers["WWW-Authenticate"]

        # 4. During the overlap both work, and v1 responses name the key's own end.
        during = call(demo, "GET", "/v1/contacts", key["key"])
        stops_at = datetime.fromisoformat(first["key"]["stops_at"].replace("Z", "+00:00"))
        assert during.status_code == 200 and during.headers["Sunset"] == format_datetime(stops_at, usegmt=True)

        # 5. Roll back: the integration goes, its token stops, the v1 key carries on without an end.
        rolled = admin.post(f"{api}/v1-keys/{key['id']}/rollback", timeout=15)
        assert rolled.status_code == 200 and rolled.json()["status"] == "active"
        eventually(lambda: call(demo, "GET", "/v2/contacts", token).status_code == 401)
        assert parsedate_to_datetime(call(demo, "GET", "/v1/contacts", key["key"]).headers["Sunset"]).year == 2027

        # 6. Migrate again (the API this time); at the end of the overlap the v1 key stops, v2 carries on.
        second = admin.post(f"{api}/v1-keys/{key['id']}/migrate", timeout=15, json={"overlap": "14d"})
        assert second.status_code == 201, second.text
        token = second.json()["token"]["token"]
        assert call(demo, "GET", "/v2/contacts", token).status_code == 200
        server.set_clock_offset(OVERLAP - 60)
        assert call(demo, "GET", "/v1/contacts", key["key"]).status_code == 200
        server.set_clock_offset(OVERLAP + 60)
        demo.set_clock_offset(OVERLAP + 60)
        assert call(demo, "GET", "/v1/contacts", key["key"]).status_code == 401
        assert call(demo, "GET", f"/v2/contacts/{contact_id}", token).status_code == 200
        too_late = admin.post(f"{api}/v1-keys/{key['id']}/rollback", timeout=15)
        assert too_late.status_code == 409
        report = admin.get(f"{api}/accounts/{account_id}/v1-keys/migration-report", timeout=15).json()
        assert report["keys"][0]["status"] == "retired"

        # The migration was announced by signed webhooks, delivered by the worker inside `authserver run`.
        received = receiver.wait_for(5)
        public_key = requests.get(f"{api}/webhooks/public-key", timeout=15).json()["public_key"]
        assert sorted(verify_ed25519(public_key, r)["type"] for r in received) == [
            "integration.created",
            "integration.created",
            "integration.deleted",
            "token.generated",
            "token.generated",
        ]
