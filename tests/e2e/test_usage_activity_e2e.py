"""Activity means API calls, end to end over real processes on 127.0.0.1: one authorization server, two resource_demo
services (one validating by introspection, one locally with the JWKS and the feed), each its own resource-service
client. Real v2 calls through both; the package reports them; the integration's CSV (admin API) and its page show
the calls per service and the scopes they needed, each call counted once whatever the mode."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest
import requests

from tests.support.admin_ui import PASSWORD
from tests.support.resource_demo import AdminApi, cli_batch, make_resource_demo
from tests.support.servers import make_authserver

READ, WRITE = "contacts.readonly", "contacts.write"
EMAIL = "admin@acme.test"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("authserver"))
    server.start()
    try:
        account, checker, local, admin = cli_batch(
            server,
            ("account", "create", "--name", "Acme", "--json"),
            ("client", "create", "--name", "contacts-api", "--kind", "resource-service", "--json"),
            ("client", "create", "--name", "crm-local", "--kind", "resource-service", "--json"),
            ("client", "create", "--name", "acme-admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
        )
        server.cli(
            "user", "create", "--account", account["id"], "--email", EMAIL, "--role", "admin", "--password-stdin",
            "--json", stdin=PASSWORD + "\n",
        )  # fmt: skip
        yield server, checker, local, AdminApi(server.url, account["id"], admin["client_id"], admin["client_secret"])
    finally:
        server.stop()


def _csv(api: AdminApi, integration_id: str) -> list[dict]:
    response = api.session.get(f"{api.base_url}/api/integrations/{integration_id}/activity.csv", timeout=15)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def _wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_calls_through_an_introspecting_and_a_local_service_show_per_service(world, tmp_path):
    server, checker, local, api = world
    integration_id = api.create_integration("Sync", [READ, WRITE])
    token = api.generate_token(integration_id)
    demos = []
    try:
        for name, client, mode in (("introspecting", checker, "introspection"), ("local", local, "local")):
            demo = make_resource_demo(
                tmp_path / name,
                authserver_url=server.url,
                client_id=client["client_id"],
                client_secret=client["client_secret"],
                mode=mode,
            )
            demos.append(demo.start())
        introspecting, validating = demos
        bearer = {"Authorization": f"Bearer {token}"}
        for _ in range(4):  # the package caches the verdict: fewer introspections than calls
            assert requests.get(f"{introspecting.url}/v2/contacts", headers=bearer, timeout=10).status_code == 200
        for _ in range(3):
            assert requests.get(f"{validating.url}/v2/contacts", headers=bearer, timeout=10).status_code == 200
        created = requests.post(f"{validating.url}/v2/contacts", json={"name": "Ada"}, headers=bearer, timeout=10)
        assert created.status_code == 201, created.text
        refused = requests.get(f"{validating.url}/v2/contacts", timeout=10)  # no token: no call of the integration
        assert refused.status_code == 401

        expected = {
            ("contacts-api", checker["client_id"], "4", READ),
            ("crm-local", local["client_id"], "4", f"{READ} {WRITE}"),
        }

        def rows():
            found = {(r["service"], r["service_id"], r["calls"], r["scopes_used"]) for r in _csv(api, integration_id)}
            return found if found == expected else None

        assert _wait_for(rows), f"the CSV should show the calls per service; it shows {_csv(api, integration_id)}"
    finally:
        for demo in demos:
            demo.stop()

    # The page says the same, signed in as the account's admin.
    browser = requests.Session()
    form = browser.get(f"{server.url}/signin", timeout=15).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed = browser.post(
        f"{server.url}/signin", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf}, timeout=15
    )
    assert signed.status_code == 200, signed.text
    page = browser.get(f"{server.url}/accounts/{api.account_id}/settings/integrations/{integration_id}", timeout=15)
    assert '<dd id="usage-total">8</dd>' in page.text
    table = re.search(r'id="usage-by-service">.*?</table>', page.text, re.S).group(0)
    assert set(re.findall(r'<tr data-service="([^"]+)"', table)) == {checker["client_id"], local["client_id"]}
    ui_csv = browser.get(
        f"{server.url}/accounts/{api.account_id}/settings/integrations/{integration_id}/activity.csv", timeout=15
    )
    assert ui_csv.status_code == 200 and "attachment; filename=" in ui_csv.headers["Content-Disposition"]
    assert len(list(csv.DictReader(io.StringIO(ui_csv.text)))) == 2

    # A brand-new integration gets no least-privilege advice, however its calls look.
    suggestions = api.call("GET", f"/api/integrations/{integration_id}/suggestions")
    assert (suggestions["status"], suggestions["suggestions"]) == ("too_new", [])
    assert suggestions["used_scopes"] == [READ, WRITE]
