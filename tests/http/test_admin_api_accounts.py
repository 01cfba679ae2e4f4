"""Admin API: the scope catalogue and accounts (sub-accounts, scope ceilings, token lifetime maximum)."""

from __future__ import annotations

import pytest

from authserver.scopes import ALL_SCOPES

from .problems import assert_problem


def test_the_scope_catalogue_is_served(shared):
    body = shared.client.get("/api/scopes", headers=shared.world.agency.admin_headers).get_json()
    served = {item["scope"] for group in body["resources"] for item in group["scopes"]}
    assert served == ALL_SCOPES


def test_an_account_is_shown_with_its_effective_ceiling(shared):
    world = shared.world
    body = shared.client.get(f"/api/accounts/{world.sub.account_id}", headers=world.agency.admin_headers).get_json()
    assert body["id"] == world.sub.account_id and body["parent_id"] == world.agency.account_id
    assert body["allowed_scopes"] is None and body["effective_allowed_scopes"] == sorted(ALL_SCOPES)


def test_an_admin_client_creates_a_sub_account_of_its_own(client, world):
    response = client.post(
        "/api/accounts",
        json={"name": "Branch", "parent_id": world.agency.account_id},
        headers=world.agency.admin_headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["name"] == "Branch" and body["parent_id"] == world.agency.account_id
    assert client.get(f"/api/accounts/{body['id']}", headers=world.agency.admin_headers).status_code == 200


def test_only_the_operator_creates_top_level_accounts(shared):
    response = shared.client.post("/api/accounts", json={"name": "Rogue"}, headers=shared.world.agency.admin_headers)
    assert_problem(response, 403, code="forbidden")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parent_id": "{agency}"}, "name"),
        ({"name": "", "parent_id": "{agency}"}, "name"),
        ({"name": "x" * 201, "parent_id": "{agency}"}, "name"),
        ({"name": 42, "parent_id": "{agency}"}, "name"),
        ({"name": "Ok", "parent_id": 7}, "parent_id"),
    ],
)
def test_invalid_account_input_is_a_400_problem_naming_the_field(shared, body, field):
    world = shared.world
    body = {k: v.format(agency=world.agency.account_id) if isinstance(v, str) else v for k, v in body.items()}
    response = shared.client.post("/api/accounts", json=body, headers=world.agency.admin_headers)
    assert_problem(response, 400, field=field, code="invalid_input")


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"', b"{"])
def test_a_body_that_is_not_a_json_object_is_a_400_problem(shared, raw):
    response = shared.client.post(
        "/api/accounts", data=raw, content_type="application/json", headers=shared.world.agency.admin_headers
    )
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"allowed_scopes": ["contacts.admin"]}, "allowed_scopes"),
        ({"allowed_scopes": []}, "allowed_scopes"),
        ({"allowed_scopes": 5}, "allowed_scopes"),
        ({"max_token_lifetime": "forever"}, "max_token_lifetime"),
        ({"max_token_lifetime": -5}, "max_token_lifetime"),
        ({"max_token_lifetime": True}, "max_token_lifetime"),
        ({"name": ["a"]}, "name"),
        ({"default_inactivity_window": "soon"}, "default_inactivity_window"),
        ({"default_inactivity_window": 60}, "default_inactivity_window"),
        ({"default_inactivity_window": 1.5}, "default_inactivity_window"),
        ({"max_inactivity_window": False}, "max_inactivity_window"),
        ({"max_inactivity_window": 60}, "max_inactivity_window"),
    ],
)
def test_invalid_account_changes_are_a_400_problem_naming_the_field(shared, body, field):
    world = shared.world
    response = shared.client.patch(
        f"/api/accounts/{world.agency.account_id}", json=body, headers=world.agency.admin_headers
    )
    assert_problem(response, 400, field=field)


def test_restricting_an_account_narrows_its_integrations_and_live_tokens_at_once(client, world):
    client.patch(
        f"/api/integrations/{world.sub.integration_id}",
        json={"scopes": ["contacts.readonly", "calendars.readonly"]},
        headers=world.agency.admin_headers,
    )
    response = client.patch(
        f"/api/accounts/{world.agency.account_id}",
        json={"allowed_scopes": ["calendars.readonly", "contacts.write"]},
        headers=world.agency.admin_headers,
    )
    assert response.status_code == 200
    assert response.get_json()["allowed_scopes"] == ["calendars.readonly", "contacts.write"]
    sub = client.get(f"/api/integrations/{world.sub.integration_id}", headers=world.agency.admin_headers).get_json()
    assert sub["scopes"] == ["calendars.readonly"]
    answer = client.post("/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers)
    assert answer.get_json() == {"active": False}  # its only scope, contacts.readonly, is no longer allowed


def test_an_integration_cannot_ask_past_the_accounts_ceiling(client, world):
    client.patch(
        f"/api/accounts/{world.agency.account_id}",
        json={"allowed_scopes": ["contacts.readonly"]},
        headers=world.agency.admin_headers,
    )
    for account in (world.agency.account_id, world.sub.account_id):  # the ceiling binds the sub-account too
        response = client.post(
            f"/api/accounts/{account}/integrations",
            json={"name": "Greedy", "scopes": ["contacts.readonly", "contacts.write"]},
            headers=world.agency.admin_headers,
        )
        assert_problem(response, 400, field="scopes")
    response = client.patch(
        f"/api/integrations/{world.sub.integration_id}",
        json={"scopes": ["users.write"]},
        headers=world.agency.admin_headers,
    )
    assert_problem(response, 400, field="scopes")


def test_a_max_token_lifetime_caps_generation(client, world):
    client.patch(
        f"/api/accounts/{world.other.account_id}", json={"max_token_lifetime": "1d"}, headers=world.other.admin_headers
    )
    client.post(f"/api/integrations/{world.other.integration_id}/expire", json={}, headers=world.other.admin_headers)
    response = client.post(
        f"/api/integrations/{world.other.integration_id}/tokens",
        json={"expires_in": "2d"},
        headers=world.other.admin_headers,
    )
    assert_problem(response, 400, field="expires_in")
    response = client.post(
        f"/api/integrations/{world.other.integration_id}/tokens",
        json={"expires_in": "1d"},
        headers=world.other.admin_headers,
    )
    assert response.status_code == 201


def test_clearing_the_ceiling_with_null(client, world):
    headers = world.agency.admin_headers
    client.patch(
        f"/api/accounts/{world.agency.account_id}", json={"allowed_scopes": ["contacts.readonly"]}, headers=headers
    )
    body = client.patch(
        f"/api/accounts/{world.agency.account_id}", json={"allowed_scopes": None}, headers=headers
    ).get_json()
    assert body["allowed_scopes"] is None and body["effective_allowed_scopes"] == sorted(ALL_SCOPES)


def test_inactivity_windows_and_lifetime_are_set_and_cleared_with_null(client, world):
    """default_inactivity_window, max_inactivity_window and max_token_lifetime: seconds (or text), null for
    never / no maximum, through the domain's rules (the same as the settings page and the CLI)."""
    path, headers = f"/api/accounts/{world.agency.account_id}", world.agency.admin_headers
    body = client.patch(
        path,
        json={"default_inactivity_window": 86400, "max_inactivity_window": "30d", "max_token_lifetime": 7 * 86400},
        headers=headers,
    ).get_json()
    assert (body["default_inactivity_window"], body["max_inactivity_window"], body["max_token_lifetime"]) == (
        86400,
        30 * 86400,
        7 * 86400,
    )
    assert client.get(path, headers=headers).get_json()["max_inactivity_window"] == 30 * 86400
    # a default above the maximum is refused, naming the field
    response = client.patch(path, json={"default_inactivity_window": 60 * 86400}, headers=headers)
    assert_problem(response, 400, field="default_inactivity_window")
    # an absent field is left alone; null clears
    body = client.patch(path, json={"name": "Agency"}, headers=headers).get_json()
    assert body["max_inactivity_window"] == 30 * 86400 and body["max_token_lifetime"] == 7 * 86400
    body = client.patch(
        path, json={"max_inactivity_window": None, "default_inactivity_window": None, "max_token_lifetime": None},
        headers=headers,
    ).get_json()  # fmt: skip
    assert (body["default_inactivity_window"], body["max_inactivity_window"], body["max_token_lifetime"]) == (
        None,
        None,
        None,
    )


def test_another_tenants_windows_cannot_be_changed(client, world):
    response = client.patch(
        f"/api/accounts/{world.agency.account_id}",
        json={"max_inactivity_window": 86400},
        headers=world.other.admin_headers,
    )
    assert response.status_code == 404
    body = client.get(f"/api/accounts/{world.agency.account_id}", headers=world.agency.admin_headers).get_json()
    assert body["max_inactivity_window"] is None
