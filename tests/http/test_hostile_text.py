"""Text the storage cannot hold (NUL characters, which PostgreSQL refuses outright) is a clean not-found or 400
on every surface, never a 500 or a 503 that blames the database."""

from __future__ import annotations

import pytest

from tests.factories import basic

from .problems import assert_problem


@pytest.mark.parametrize(
    "path",
    [
        "/api/integrations/int_%00x",
        "/api/integrations/int_%00x/tokens",
        "/api/accounts/acc_%00x",
        "/api/accounts/acc_%00x/integrations",
    ],
)
def test_an_id_with_a_nul_is_not_found(shared, path):
    assert_problem(shared.client.get(path, headers=shared.world.agency.admin_headers), 404)


def test_a_parent_id_with_a_nul_is_not_found(shared):
    response = shared.client.post(
        "/api/accounts", json={"name": "x", "parent_id": "acc_\x00"}, headers=shared.world.agency.admin_headers
    )
    assert_problem(response, 404)


@pytest.mark.parametrize("field", ["description", "name"])
def test_integration_text_with_a_nul_is_a_400_naming_the_field(shared, field):
    world = shared.world
    body = {"name": "Zapier", "scopes": ["contacts.readonly"], field: "a\x00b"}
    response = shared.client.post(
        f"/api/accounts/{world.agency.account_id}/integrations", json=body, headers=world.agency.admin_headers
    )
    assert_problem(response, 400, field=field)
    response = shared.client.patch(
        f"/api/integrations/{world.agency.integration_id}", json={field: "a\x00b"}, headers=world.agency.admin_headers
    )
    assert_problem(response, 400, field=field)


@pytest.mark.parametrize("key", ["action", "target_id"])
def test_audit_filters_with_a_nul_are_a_400_naming_the_filter(shared, key):
    world = shared.world
    response = shared.client.get(
        f"/api/accounts/{world.agency.account_id}/audit?{key}=a%00b", headers=world.agency.admin_headers
    )
    assert_problem(response, 400, field=key)


@pytest.mark.parametrize("endpoint", ["/oauth/introspect", "/oauth/revoke"])
def test_a_client_id_with_a_nul_is_invalid_client(shared, endpoint):
    world = shared.world
    response = shared.client.post(endpoint, data={"token": world.agency.token}, headers=basic("cli_\x00", "secret"))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_admin_api_basic_credentials_with_a_nul_are_401(shared):
    assert_problem(shared.client.get("/api/accounts", headers=basic("cli_\x00", "secret")), 401)


def test_a_usage_report_for_a_jti_with_a_nul_counts_nothing(shared):
    world = shared.world
    response = shared.client.post("/oauth/usage", json={"uses": [{"jti": "tok_\x00"}]}, headers=world.rs_headers)
    assert (response.status_code, response.get_json()) == (202, {"accepted": 0})
