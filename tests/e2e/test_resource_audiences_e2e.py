"""End to end, over real processes on 127.0.0.1: RFC 8707 audiences per service. A resource_demo configured with
``RESOURCE_DEMO_RESOURCE`` (and, for introspection, a client registered for that resource) accepts a token limited
to its resource and refuses one limited to another service, in both modes; an unrestricted token works everywhere."""

from __future__ import annotations

import pytest
import requests

from tests.support.resource_demo import AdminApi, cli_batch, make_resource_demo
from tests.support.servers import make_authserver

A = "https://contacts-a.example.com"
B = "https://contacts-b.example.com"
READ = "contacts.readonly"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("authserver"))
    server.start()
    try:
        account, admin, service_a = cli_batch(
            server,
            ("account", "create", "--name", "Acme", "--json"),
            ("client", "create", "--name", "acme-admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
            ("client", "create", "--name", "a", "--kind", "resource-service", "--resource", A, "--json"),
        )
        assert service_a["resource"] == A
        yield server, AdminApi(server.url, account["id"], admin["client_id"], admin["client_secret"]), service_a
    finally:
        server.stop()


def _token(admin: AdminApi, name: str, resources: list[str] | None) -> str:
    body = {"name": name, "scopes": [READ], **({"resources": resources} if resources is not None else {})}
    integration = admin.call("POST", f"/api/accounts/{admin.account_id}/integrations", 201, json=body)
    assert integration["resources"] == sorted(resources or [])
    return admin.generate_token(integration["id"])


def _status(demo, token: str) -> int:
    response = requests.get(demo.url + "/v2/contacts", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return response.status_code


@pytest.mark.parametrize("mode", ["introspection", "local"])
def test_a_service_accepts_tokens_for_its_resource_and_refuses_another_services(world, tmp_path, mode):
    server, admin, service_a = world
    demo = make_resource_demo(
        tmp_path / "demo",
        authserver_url=server.url,
        client_id=service_a["client_id"],
        client_secret=service_a["client_secret"],
        mode=mode,
        RESOURCE_DEMO_RESOURCE=A,
    ).start()
    try:
        assert _status(demo, _token(admin, f"for A ({mode})", [A])) == 200
        assert _status(demo, _token(admin, f"for A and B ({mode})", [A, B])) == 200
        assert _status(demo, _token(admin, f"for B ({mode})", [B])) == 401
        assert _status(demo, _token(admin, f"unrestricted ({mode})", None)) == 200
    finally:
        demo.stop()
