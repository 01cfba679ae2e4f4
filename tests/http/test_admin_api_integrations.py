"""Admin API: integrations (create, list, read with ETag, edit with If-Match, disable, enable, delete)."""

from __future__ import annotations

import pytest

from .problems import assert_problem


def create(client, world, **body):
    body = {"name": "Zapier", "scopes": ["contacts.readonly"], **body}
    return client.post(
        f"/api/accounts/{world.agency.account_id}/integrations", json=body, headers=world.agency.admin_headers
    )


def test_create_returns_the_integration_with_an_etag(client, world):
    response = create(
        client, world, description="Sync contacts", scopes="contacts.readonly contacts.write", inactivity_window="30d"
    )
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["ETag"] == f'"{body["version"]}"'
    assert body["name"] == "Zapier" and body["description"] == "Sync contacts"
    assert body["scopes"] == ["contacts.readonly", "contacts.write"] and body["status"] == "active"
    assert body["inactivity_window"] == 30 * 86400 and body["tokens"] == []
    assert body["created_by"] == f"admin_client:{world.agency.admin_client[0]}"


def test_never_as_inactivity_window(client, world):
    assert create(client, world, inactivity_window="never").get_json()["inactivity_window"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"description": "x" * 2001}, "description"),
        ({"scopes": []}, "scopes"),
        ({"scopes": None}, "scopes"),
        ({"scopes": ["contacts.readonly", "contacts.delete"]}, "scopes"),
        ({"scopes": [1]}, "scopes"),
        ({"inactivity_window": "5m"}, "inactivity_window"),
        ({"inactivity_window": "soon"}, "inactivity_window"),
        ({"inactivity_window": 0}, "inactivity_window"),
        ({"inactivity_window": False}, "inactivity_window"),
    ],
)
def test_invalid_integration_input_is_a_400_problem_naming_the_field(shared, body, field):
    assert_problem(create(shared.client, shared.world, **body), 400, field=field, code="invalid_input")


def test_the_list_shows_each_integration_with_its_live_tokens(shared):
    world = shared.world
    body = shared.client.get(
        f"/api/accounts/{world.agency.account_id}/integrations", headers=world.agency.admin_headers
    ).get_json()
    [integration] = body["integrations"]
    assert integration["id"] == world.agency.integration_id
    [token] = integration["tokens"]
    assert token["token_id"] == world.agency.jti and token["status"] == "active"
    assert "token" not in token  # the token itself is shown once, at generation, never again


def test_read_shows_live_tokens_and_their_unused_expiry(shared):
    world = shared.world
    response = shared.client.get(f"/api/integrations/{world.agency.integration_id}", headers=world.agency.admin_headers)
    body = response.get_json()
    assert response.headers["ETag"] == f'"{body["version"]}"'
    [token] = body["tokens"]
    assert token["expires_if_unused_after"] == "2026-04-15T12:00:00Z"  # issued + the 90-day default window


def test_patch_with_the_current_etag_changes_and_bumps_the_version(client, world):
    path, headers = f"/api/integrations/{world.agency.integration_id}", world.agency.admin_headers
    etag = client.get(path, headers=headers).headers["ETag"]
    response = client.patch(path, json={"name": "Renamed", "description": "new"}, headers={**headers, "If-Match": etag})
    assert response.status_code == 200
    assert response.get_json()["name"] == "Renamed" and response.headers["ETag"] != etag


def test_patch_with_a_stale_etag_is_409_and_changes_nothing(client, world):
    path, headers = f"/api/integrations/{world.agency.integration_id}", world.agency.admin_headers
    stale = client.get(path, headers=headers).headers["ETag"]
    client.patch(path, json={"name": "First"}, headers=headers)
    response = client.patch(path, json={"name": "Second"}, headers={**headers, "If-Match": stale})
    assert_problem(response, 409, code="conflict")
    assert client.get(path, headers=headers).get_json()["name"] == "First"


@pytest.mark.parametrize("etag", ["abc", '"x"', '"-1"', '"1.5"', '"²"', '"' + "9" * 20 + '"'])
def test_a_malformed_if_match_is_a_400_problem(shared, etag):
    world = shared.world
    response = shared.client.patch(
        f"/api/integrations/{world.agency.integration_id}",
        json={"name": "x"},
        headers={**world.agency.admin_headers, "If-Match": etag},
    )
    assert_problem(response, 400, field="If-Match")


@pytest.mark.parametrize("action", ["rotate", "disable", "expire", "tokens"])
def test_every_lifecycle_action_honours_if_match(client, world, action):
    path, headers = f"/api/integrations/{world.agency.integration_id}", world.agency.admin_headers
    stale = client.get(path, headers=headers).headers["ETag"]
    client.patch(path, json={"description": "moved on"}, headers=headers)
    response = client.post(f"{path}/{action}", json={}, headers={**headers, "If-Match": stale})
    assert_problem(response, 409)


def test_narrowing_scopes_applies_to_the_live_token_and_widening_does_not(client, world):
    path, headers = f"/api/integrations/{world.agency.integration_id}", world.agency.admin_headers
    client.patch(path, json={"scopes": ["contacts.readonly", "contacts.write"]}, headers=headers)
    issued = client.post(f"{path}/rotate", json={"mode": "now"}, headers=headers).get_json()
    client.patch(path, json={"scopes": ["contacts.write"]}, headers=headers)
    answer = client.post("/oauth/introspect", data={"token": issued["token"]}, headers=world.rs_headers).get_json()
    assert answer["scope"] == "contacts.write"
    client.patch(path, json={"scopes": ["contacts.readonly", "contacts.write", "calendars.readonly"]}, headers=headers)
    answer = client.post("/oauth/introspect", data={"token": issued["token"]}, headers=world.rs_headers).get_json()
    assert answer["scope"] == "contacts.write"


def test_disable_then_enable(client, world):
    path, headers = f"/api/integrations/{world.agency.integration_id}", world.agency.admin_headers
    body = client.post(f"{path}/disable", headers=headers).get_json()
    assert body["status"] == "disabled" and body["tokens"] == []
    assert client.post(
        "/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers
    ).get_json() == {"active": False}
    assert_problem(client.post(f"{path}/rotate", json={}, headers=headers), 409)
    assert client.post(f"{path}/enable", headers=headers).get_json()["status"] == "active"
    assert (
        client.post("/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers).get_json()[
            "active"
        ]
        is True
    )


def test_delete_is_204_then_the_integration_is_gone_and_its_token_dead(client, world):
    path, headers = f"/api/integrations/{world.agency.integration_id}", world.agency.admin_headers
    response = client.delete(path, headers=headers)
    assert response.status_code == 204 and response.data == b""
    assert_problem(client.get(path, headers=headers), 404)
    assert_problem(client.delete(path, headers=headers), 404)
    assert client.post(
        "/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers
    ).get_json() == {"active": False}
    audit = client.get(
        f"/api/accounts/{world.agency.account_id}/audit?target_id={world.agency.integration_id}", headers=headers
    ).get_json()["events"]
    assert audit[0]["action"] == "integration.deleted"  # the trail survives the deletion
