"""Who may call the admin API: nobody anonymously, and nobody outside the accounts they administer.

Every route is listed; each is asked without credentials, with the wrong kind of client, and by an admin of
another tenant, who must get 404 (a 403 would confirm the id exists)."""

from __future__ import annotations

import pytest

from tests.factories import basic

from .problems import assert_problem

# (method, path, JSON body). {account}, {sub} and {integration} are filled in from the victim tenant.
ROUTES = [
    ("GET", "/api/scopes", None),
    ("GET", "/api/accounts", None),
    ("POST", "/api/accounts", {"name": "New", "parent_id": "{account}"}),
    ("GET", "/api/accounts/{account}", None),
    ("PATCH", "/api/accounts/{account}", {"name": "Renamed"}),
    ("GET", "/api/accounts/{account}/audit", None),
    ("GET", "/api/accounts/{account}/integrations", None),
    ("POST", "/api/accounts/{account}/integrations", {"name": "X", "scopes": ["contacts.readonly"]}),
    ("GET", "/api/integrations/{integration}", None),
    ("PATCH", "/api/integrations/{integration}", {"name": "Renamed"}),
    ("DELETE", "/api/integrations/{integration}", None),
    ("POST", "/api/integrations/{integration}/disable", None),
    ("POST", "/api/integrations/{integration}/enable", None),
    ("GET", "/api/integrations/{integration}/tokens", None),
    ("POST", "/api/integrations/{integration}/tokens", {}),
    ("POST", "/api/integrations/{integration}/rotate", {"mode": "now"}),
    ("POST", "/api/integrations/{integration}/expire", {}),
    ("GET", "/api/integrations/{integration}/activity", None),
]
TENANT_ROUTES = [route for route in ROUTES if "{" in route[1] + str(route[2])]


def call(client, method, path, body, tenant, headers):
    def fill(text):
        return text.format(account=tenant.account_id, integration=tenant.integration_id)

    json_body = None if body is None else {k: fill(v) if isinstance(v, str) else v for k, v in body.items()}
    return client.open(fill(path), method=method, json=json_body, headers=headers)


def route_id(route):
    return f"{route[0]} {route[1]}"


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_every_route_is_401_with_a_problem_body_without_credentials(shared, route):
    response = call(shared.client, *route, shared.world.agency, {})
    assert_problem(response, 401, code="unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("who", ["resource-service", "wrong-secret", "unknown-client", "bearer", "malformed"])
def test_anything_but_an_admin_client_or_a_session_is_401(shared, who):
    world = shared.world
    client_id, secret = world.agency.admin_client
    headers = {
        "resource-service": world.rs_headers,
        "wrong-secret": basic(client_id, secret + "x"),
        "unknown-client": basic("cli_nobody", secret),
        "bearer": {"Authorization": f"Bearer {world.agency.token}"},
        "malformed": {"Authorization": "Basic %%%"},
    }[who]
    assert_problem(shared.client.get("/api/accounts", headers=headers), 401)


@pytest.mark.parametrize("route", TENANT_ROUTES, ids=route_id)
@pytest.mark.parametrize(("caller", "victim"), [("other", "agency"), ("sub", "agency"), ("agency", "other")])
def test_another_tenants_ids_are_404_never_403(shared, route, caller, victim):
    world = shared.world
    attacker, target = getattr(world, caller), getattr(world, victim)
    response = call(shared.client, *route, target, attacker.admin_headers)
    assert_problem(response, 404, code="not_found")


def test_another_tenants_ids_stay_untouched(shared):
    world = shared.world
    token_active = shared.client.post(
        "/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers
    ).get_json()["active"]
    assert token_active is True
    body = shared.client.get(
        f"/api/integrations/{world.agency.integration_id}", headers=world.agency.admin_headers
    ).get_json()
    assert body["status"] == "active" and body["name"] == "Agency integration"


def test_an_agency_admin_administers_its_sub_accounts(shared):
    world = shared.world
    response = shared.client.get(f"/api/integrations/{world.sub.integration_id}", headers=world.agency.admin_headers)
    assert response.status_code == 200
    listed = shared.client.get("/api/accounts", headers=world.agency.admin_headers).get_json()["accounts"]
    assert {a["id"] for a in listed} == {world.agency.account_id, world.sub.account_id}


def test_unknown_routes_under_api_are_problem_404(shared):
    assert_problem(shared.client.get("/api/nope", headers=shared.world.agency.admin_headers), 404)
