"""RFC 8707 audiences per service: an integration limited to named services gets tokens whose ``aud`` is exactly
their resource URIs, and introspection by any other service answers ``{"active": false}``; an unrestricted token keeps
the default audience and stays active for every service."""

from __future__ import annotations

import base64
import json

import pytest

from authserver.extensions import db
from authserver.integrations import list_integrations
from authserver.models import ApiClient, Integration
from authserver.principals import OPERATOR
from authserver_resource.compact_jws import split_compact
from tests.factories import basic, issue_token, make_client, make_integration
from tests.support.admin_ui import ADMIN, add_people, signed_in

from .problems import assert_problem
from .test_cli import assert_one_line_error, run_json

A = "https://a.example.com"
B = "https://b.example.com"


def _aud(token: str):
    payload = split_compact(token)[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["aud"]


def introspect(client, token, headers):
    return client.post("/oauth/introspect", data={"token": token}, headers=headers).get_json()


@pytest.fixture
def services_ab(app, clock, world):
    with app.app_context():
        a = basic(*make_client(clock, name="service A", resource=A))
        b = basic(*make_client(clock, name="service B", resource=B))
    return a, b


def test_a_token_limited_to_a_is_active_only_for_a(app, client, clock, services, world, services_ab):
    a, b = services_ab
    integration = make_integration(clock, world.agency.account_id, resources=[A])
    token = issue_token(services, clock, integration.id).token
    assert _aud(token) == [A]
    answer = introspect(client, token, a)
    assert answer["active"] is True and answer["aud"] == [A]
    assert introspect(client, token, b) == {"active": False}
    assert introspect(client, token, world.rs_headers) == {"active": False}  # a service with no resource


def test_a_token_limited_to_two_services_is_active_for_both(app, client, clock, services, world, services_ab):
    a, b = services_ab
    integration = make_integration(clock, world.agency.account_id, resources=[B, A, A])
    assert integration.resources == f"{A} {B}"
    token = issue_token(services, clock, integration.id).token
    assert _aud(token) == [A, B]
    assert introspect(client, token, a)["active"] is True
    assert introspect(client, token, b)["active"] is True
    assert introspect(client, token, world.rs_headers) == {"active": False}


def test_an_unrestricted_token_keeps_the_default_audience_and_is_active_for_every_service(
    app, client, world, services_ab
):
    a, b = services_ab
    assert _aud(world.agency.token) == app.config["AUTHSERVER_AUDIENCE"]
    for headers in (a, b, world.rs_headers):
        assert introspect(client, world.agency.token, headers)["active"] is True


def test_changed_resources_apply_to_new_tokens_only(app, client, clock, services, world, services_ab):
    a, b = services_ab
    integration = make_integration(clock, world.agency.account_id, resources=[A])
    old = issue_token(services, clock, integration.id).token
    response = client.patch(
        f"/api/integrations/{integration.id}", json={"resources": [B]}, headers=world.agency.admin_headers
    )
    assert response.status_code == 200 and response.get_json()["resources"] == [B]
    assert introspect(client, old, a)["active"] is True
    rotated = client.post(
        f"/api/integrations/{integration.id}/rotate",
        json={"mode": "later", "grace": "1h"},
        headers=world.agency.admin_headers,
    )
    assert rotated.status_code == 201, rotated.get_json()
    new = rotated.get_json()["token"]
    assert introspect(client, old, a)["active"] is True  # in its grace period, with the audience it was issued with
    assert introspect(client, new, b)["active"] is True and introspect(client, new, a) == {"active": False}


def test_the_admin_api_creates_an_integration_limited_to_services(client, world):
    response = client.post(
        f"/api/accounts/{world.agency.account_id}/integrations",
        json={"name": "Zapier", "scopes": ["contacts.readonly"], "resources": [B, A]},
        headers=world.agency.admin_headers,
    )
    assert response.status_code == 201 and response.get_json()["resources"] == [A, B]


@pytest.mark.parametrize(
    "resources",
    [
        "https://a.example.com",
        ["a.example.com"],
        ["/relative"],
        ["ftp://a.example.com"],
        ["http://a.example.com"],
        ["https://a.example.com/#frag"],
        ["https://a.example.com/" + "x" * 500],
        ["https://"],
        [1],
        [f"https://s{n}.example.com" for n in range(11)],
    ],
)
def test_bad_resource_uris_are_a_400_problem_naming_the_field(shared, resources):
    world = shared.world
    response = shared.client.post(
        f"/api/accounts/{world.agency.account_id}/integrations",
        json={"name": "Zapier", "scopes": ["contacts.readonly"], "resources": resources},
        headers=world.agency.admin_headers,
    )
    assert_problem(response, 400, field="resources", code="invalid_input")


def test_http_is_accepted_for_a_loopback_host(client, world):
    response = client.post(
        f"/api/accounts/{world.agency.account_id}/integrations",
        json={"name": "Local", "scopes": ["contacts.readonly"], "resources": ["http://127.0.0.1:5001"]},
        headers=world.agency.admin_headers,
    )
    assert response.status_code == 201


def test_the_cli_limits_an_integration_and_registers_a_service_for_its_resource(app, runner, world):
    service = run_json(runner, "client", "create", "--name", "A", "--kind", "resource-service", "--resource", A)
    assert service["resource"] == A
    integration = run_json(
        runner,
        "integration",
        "create",
        "--account",
        world.agency.account_id,
        "--name",
        "Zapier",
        "--scope",
        "contacts.readonly",
        "--resource",
        B,
        "--resource",
        A,
    )
    assert integration["resources"] == [A, B]
    with app.app_context():
        assert db.session.get(ApiClient, service["client_id"]).resource == A
        assert db.session.get(Integration, integration["id"]).resources == f"{A} {B}"


def test_the_cli_refuses_a_bad_resource_in_one_line(runner, world):
    result = runner.invoke(
        args=[
            "integration",
            "create",
            "--account",
            world.agency.account_id,
            "--name",
            "Zapier",
            "--scope",
            "contacts.readonly",
            "--resource",
            "https://a.example.com/#x",
        ]
    )
    assert_one_line_error(result, "resources")
    result = runner.invoke(
        args=["client", "create", "--name", "X", "--kind", "resource-service", "--resource", "not a uri"]
    )
    assert_one_line_error(result, "resource")
    result = runner.invoke(
        args=[
            "client",
            "create",
            "--name",
            "X",
            "--kind",
            "admin",
            "--account",
            world.agency.account_id,
            "--resource",
            A,
        ]
    )
    assert_one_line_error(result, "resource")


def test_the_admin_ui_limits_an_integration_to_services_and_shows_them(app, world, clock):
    add_people(world, clock, member=False)
    admin = signed_in(app, ADMIN)
    new = f"/accounts/{world.agency.account_id}/settings/integrations/new"
    assert 'name="resources"' in admin.get(new).text
    response = admin.post(new, {"name": "Zapier", "scopes": ["contacts.readonly"], "resources": f"{B}\n\n{A}\n"})
    assert response.status_code == 302
    created = next(i for i in list_integrations(OPERATOR, world.agency.account_id) if i.name == "Zapier")
    assert created.resources == f"{A} {B}"
    assert f"Limited to services: {A}, {B}" in admin.get(response.headers["Location"]).text
    refused = admin.post(new, {"name": "Bad", "scopes": ["contacts.readonly"], "resources": "ftp://x.example.com"})
    assert refused.status_code == 400 and "must be an absolute https URI" in refused.text
