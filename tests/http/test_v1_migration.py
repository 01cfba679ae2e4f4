"""v1 API keys and the migration to v2: the key check resource services call, the report, migrate, rollback."""

from __future__ import annotations

import json

import pytest

from tests.factories import basic, make_client


@pytest.fixture
def v1_key(runner, world):
    result = runner.invoke(
        args=["v1-key", "create", "--account", world.agency.account_id, "--name", "Legacy CRM sync", "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def check(client, headers, key, route):
    response = client.post("/oauth/v1-keys/check", headers=headers, data={"key": key, "route": route})
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def call_routes(client, world, key, routes):
    for route in routes:
        assert check(client, world.rs_headers, key, route)["active"] is True


def report(client, world):
    response = client.get(
        f"/api/accounts/{world.agency.account_id}/v1-keys/migration-report", headers=world.agency.admin_headers
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def migrate(client, world, key_id, **body):
    return client.post(f"/api/v1-keys/{key_id}/migrate", headers=world.agency.admin_headers, json=body)


def introspect(client, world, token):
    return client.post("/oauth/introspect", headers=world.rs_headers, data={"token": token}).get_json()


def test_a_v1_key_is_stored_only_as_a_digest(app, v1_key):
    from authserver.extensions import db
    from authserver.models import V1ApiKey

    row = db.session.get(V1ApiKey, v1_key["id"])
    assert v1_key["key"].startswith("v1_") and v1_key["key"] not in (row.key_digest, row.key_prefix)
    assert len(row.key_digest) == 64


def test_only_resource_services_may_check_v1_keys(client, world, v1_key):
    data = {"key": v1_key["key"], "route": "GET /v1/contacts"}
    assert client.post("/oauth/v1-keys/check", data=data).status_code == 401
    response = client.post("/oauth/v1-keys/check", data=data, headers=world.agency.admin_headers)
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"


@pytest.mark.parametrize("key", ["v1_wrong", "", "Bearer x", "a" * 300])
def test_unknown_keys_are_simply_inactive(client, world, key):
    assert check(client, world.rs_headers, key, "GET /v1/contacts") == {"active": False}


@pytest.mark.parametrize("route", ["", "GET /v2/contacts", "/v1/contacts", "BREW /v1/coffee", "GET /v1/" + "x" * 200])
def test_a_malformed_route_is_a_400(client, world, v1_key, route):
    response = client.post(
        "/oauth/v1-keys/check", headers=world.rs_headers, data={"key": v1_key["key"], "route": route}
    )
    assert response.status_code == 400


def test_a_service_bound_to_another_account_cannot_use_the_key(app, client, world, clock, v1_key):
    other_service = make_client(clock, kind="resource-service", account_id=world.other.account_id)
    assert check(client, basic(*other_service), v1_key["key"], "GET /v1/contacts") == {"active": False}


def test_the_report_names_routes_last_use_and_the_scopes_they_need(client, world, clock, v1_key):
    call_routes(
        client,
        world,
        v1_key["key"],
        ["GET /v1/contacts", "GET /v1/contacts/{id}", "GET /v1/contacts", "POST /v1/calendars/{id}/events"],
    )
    clock.advance(60)
    call_routes(client, world, v1_key["key"], ["GET /v1/contacts"])
    (key,) = report(client, world)["keys"]
    assert key["id"] == v1_key["id"] and key["status"] == "active"
    assert key["last_used_at"] == clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {(r["route"], r["calls"], r["scope"]) for r in key["routes"]} == {
        ("GET /v1/contacts", 3, "contacts.readonly"),
        ("GET /v1/contacts/{id}", 1, "contacts.readonly"),
        ("POST /v1/calendars/{id}/events", 1, "calendars.write"),
    }
    assert key["needed_scopes"] == ["calendars.write", "contacts.readonly"]
    assert key["unmapped_routes"] == [] and key["beyond_account_ceiling"] == []


def test_migrate_grants_exactly_the_scopes_seen_and_the_key_stops_after_the_overlap(client, world, clock, v1_key):
    call_routes(client, world, v1_key["key"], ["GET /v1/contacts", "POST /v1/contacts"])
    response = migrate(client, world, v1_key["id"], overlap="3d")
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["integration"]["scopes"] == ["contacts.readonly", "contacts.write"]
    assert body["key"]["status"] == "migrating"
    assert body["key"]["migrated_to_integration_id"] == body["integration"]["id"]
    answer = introspect(client, world, body["token"]["token"])
    assert answer["active"] is True and answer["scope"] == "contacts.readonly contacts.write"

    during = check(client, world.rs_headers, v1_key["key"], "GET /v1/contacts")
    assert during["active"] is True and during["stops_at"] == body["key"]["stops_at"]
    clock.advance(3 * 86400 - 1)
    assert check(client, world.rs_headers, v1_key["key"], "GET /v1/contacts")["active"] is True
    clock.advance(1)
    assert check(client, world.rs_headers, v1_key["key"], "GET /v1/contacts") == {"active": False}
    assert report(client, world)["keys"][0]["status"] == "retired"
    assert introspect(client, world, body["token"]["token"])["active"] is True
    late = client.post(f"/api/v1-keys/{v1_key['id']}/rollback", headers=world.agency.admin_headers)
    assert late.status_code == 409 and "no longer" in late.get_json()["detail"]


def test_rollback_during_the_overlap_restores_the_key_and_removes_the_integration(client, world, clock, v1_key):
    call_routes(client, world, v1_key["key"], ["GET /v1/contacts"])
    body = migrate(client, world, v1_key["id"], overlap="14d").get_json()
    clock.advance(13 * 86400)
    response = client.post(f"/api/v1-keys/{v1_key['id']}/rollback", headers=world.agency.admin_headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "active" and response.get_json()["stops_at"] is None
    assert introspect(client, world, body["token"]["token"]) == {"active": False}
    assert (
        client.get(f"/api/integrations/{body['integration']['id']}", headers=world.agency.admin_headers).status_code
        == 404
    )
    clock.advance(30 * 86400)
    assert check(client, world.rs_headers, v1_key["key"], "GET /v1/contacts")["active"] is True
    actions = [
        e["action"]
        for e in client.get(
            f"/api/accounts/{world.agency.account_id}/audit", headers=world.agency.admin_headers
        ).get_json()["events"]
    ]
    assert "v1_key.migrated" in actions and "v1_key.migration_rolled_back" in actions
    # ...and it can be migrated again later.
    assert migrate(client, world, v1_key["id"]).status_code == 201


def test_migration_is_refused_when_the_needs_are_unknown(client, world, v1_key):
    never_used = migrate(client, world, v1_key["id"])
    assert never_used.status_code == 409 and "never seen" in never_used.get_json()["detail"]
    call_routes(client, world, v1_key["key"], ["GET /v1/contacts", "GET /v1/invoices"])
    assert report(client, world)["keys"][0]["unmapped_routes"] == ["GET /v1/invoices"]
    unmapped = migrate(client, world, v1_key["id"])
    assert unmapped.status_code == 409 and "GET /v1/invoices" in unmapped.get_json()["detail"]


@pytest.mark.parametrize("overlap", ["10m", "200d", 0, "soon"])
def test_the_overlap_is_bounded(client, world, v1_key, overlap):
    call_routes(client, world, v1_key["key"], ["GET /v1/contacts"])
    assert migrate(client, world, v1_key["id"], overlap=overlap).status_code == 400


def test_a_key_is_migrated_once_and_only_by_its_account(client, world, v1_key):
    call_routes(client, world, v1_key["key"], ["GET /v1/contacts"])
    assert (
        client.post(f"/api/v1-keys/{v1_key['id']}/migrate", headers=world.other.admin_headers, json={}).status_code
        == 404
    )
    assert (
        client.get(
            f"/api/accounts/{world.agency.account_id}/v1-keys/migration-report", headers=world.other.admin_headers
        ).status_code
        == 404
    )
    assert migrate(client, world, v1_key["id"]).status_code == 201
    again = migrate(client, world, v1_key["id"])
    assert again.status_code == 409 and "migrating" in again.get_json()["detail"]


def test_the_cli_reports_migrates_and_rolls_back(runner, client, world, v1_key):
    call_routes(client, world, v1_key["key"], ["GET /v1/calendars"])

    def cli(*args):
        result = runner.invoke(args=[*args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    assert cli("migrate", "report", "--account", world.agency.account_id)["keys"][0]["needed_scopes"] == [
        "calendars.readonly"
    ]
    done = cli("migrate", "v1-key", v1_key["id"], "--overlap", "7d")
    assert done["integration"]["scopes"] == ["calendars.readonly"] and done["token"]["token"]
    assert introspect(client, world, done["token"]["token"])["scope"] == "calendars.readonly"
    assert cli("migrate", "rollback", v1_key["id"])["status"] == "active"
    refused = runner.invoke(args=["migrate", "rollback", v1_key["id"]])
    assert refused.exit_code == 1 and "no migration" in refused.output
