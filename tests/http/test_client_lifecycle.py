"""The admin API's client endpoints: who may manage which client, bad input, and what each change does at once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from authserver.extensions import db
from authserver.models import ApiClient, AuditEvent
from tests.factories import basic, make_client
from tests.support.admin_ui import MEMBER, add_people, signed_in

from .problems import assert_problem


def introspect(client, token: str, auth: tuple[str, str]):
    return client.post("/oauth/introspect", data={"token": token}, headers=basic(*auth))


def audit_actions(target_id: str) -> list[str]:
    return [row.action for row in db.session.query(AuditEvent).filter_by(target_id=target_id).order_by(AuditEvent.id)]


@pytest.fixture
def agency_service(world, clock):
    """A resource service bound to the agency account, managed by the agency's admins."""
    return make_client(clock, kind="resource-service", account_id=world.agency.account_id, name="agency service")


def test_list_shows_the_callers_clients_and_never_a_secret(client, world, agency_service):
    response = client.get("/api/clients", headers=world.agency.admin_headers)
    assert response.status_code == 200
    ids = {row["client_id"] for row in response.get_json()["clients"]}
    # the agency's own, and its sub-account's admin client; not the other tenant's, nor the global service
    assert ids == {world.agency.admin_client[0], world.sub.admin_client[0], agency_service[0]}
    assert "secret" not in response.get_data(as_text=True).replace("secret_rotated_at", "").replace(
        "previous_secret_expires_at", ""
    )


def test_list_of_one_account(client, world, agency_service):
    response = client.get(
        "/api/clients", query_string={"account_id": world.sub.account_id}, headers=world.agency.admin_headers
    )
    assert [row["client_id"] for row in response.get_json()["clients"]] == [world.sub.admin_client[0]]


@pytest.mark.parametrize("who", ["other", "sub"])
def test_another_tenants_client_is_not_found_for_every_verb(client, world, agency_service, who):
    caller = getattr(world, who)
    for method, path in [
        ("GET", ""),
        ("POST", "/disable"),
        ("POST", "/enable"),
        ("POST", "/rotate-secret"),
        ("DELETE", ""),
    ]:
        response = client.open(
            f"/api/clients/{agency_service[0]}{path}",
            method=method,
            headers=caller.admin_headers,
            json={} if method == "POST" else None,
        )
        assert_problem(response, 404, code="not_found")
    assert db.session.get(ApiClient, agency_service[0]).disabled_at is None


def test_a_resource_service_for_every_account_is_the_operators_alone(client, world):
    service_id = world.resource_service[0]
    assert_problem(client.get(f"/api/clients/{service_id}", headers=world.agency.admin_headers), 404)
    assert_problem(client.post(f"/api/clients/{service_id}/disable", headers=world.agency.admin_headers), 404)


def test_rotate_secret_returns_the_new_secret_once_and_both_work_during_the_overlap(
    client, world, clock, agency_service
):
    response = client.post(
        f"/api/clients/{agency_service[0]}/rotate-secret", json={"overlap": "1h"}, headers=world.agency.admin_headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    new = (agency_service[0], body["client_secret"])
    assert body["previous_secret_expires_at"] == "2026-01-15T13:00:00Z"  # noqa: S105
    assert introspect(client, world.agency.token, agency_service).get_json()["active"]
    assert introspect(client, world.agency.token, new).get_json()["active"]
    clock.advance(3600)
    assert introspect(client, world.agency.token, agency_service).status_code == 401
    assert introspect(client, world.agency.token, new).get_json()["active"]
    shown = client.get(f"/api/clients/{agency_service[0]}", headers=world.agency.admin_headers).get_json()
    assert "client_secret" not in shown and shown["previous_secret_expires_at"] is None


def test_a_second_rotation_ends_the_first_secret_at_once(client, world, agency_service):
    first = client.post(
        f"/api/clients/{agency_service[0]}/rotate-secret", json={}, headers=world.agency.admin_headers
    ).get_json()
    client.post(f"/api/clients/{agency_service[0]}/rotate-secret", json={}, headers=world.agency.admin_headers)
    assert introspect(client, world.agency.token, agency_service).status_code == 401  # two rotations ago
    assert introspect(client, world.agency.token, (agency_service[0], first["client_secret"])).status_code == 200


@pytest.mark.parametrize("overlap", ["-1h", "24", "31d", "soon", 2592001, -1, True, [], {"h": 1}, "0x10"])
def test_a_bad_overlap_is_400_naming_the_field(client, world, agency_service, overlap):
    response = client.post(
        f"/api/clients/{agency_service[0]}/rotate-secret", json={"overlap": overlap}, headers=world.agency.admin_headers
    )
    assert_problem(response, 400, field="overlap", code="invalid_input")
    assert introspect(client, world.agency.token, agency_service).status_code == 200  # nothing rotated


def test_disable_enable_and_delete_hold_at_once_and_are_audited(client, world, agency_service):
    headers = world.agency.admin_headers
    disabled = client.post(f"/api/clients/{agency_service[0]}/disable", headers=headers)
    assert disabled.status_code == 200 and disabled.get_json()["status"] == "disabled"
    response = introspect(client, world.agency.token, agency_service)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert client.post(f"/api/clients/{agency_service[0]}/enable", headers=headers).get_json()["status"] == "active"
    assert introspect(client, world.agency.token, agency_service).status_code == 200
    assert client.delete(f"/api/clients/{agency_service[0]}", headers=headers).status_code == 204
    assert introspect(client, world.agency.token, agency_service).status_code == 401
    assert_problem(client.get(f"/api/clients/{agency_service[0]}", headers=headers), 404)
    assert_problem(client.post(f"/api/clients/{agency_service[0]}/enable", headers=headers), 404)
    row = db.session.get(ApiClient, agency_service[0])
    assert row.deleted_at is not None and row.secret_digest == "" and row.previous_secret_digest is None
    assert audit_actions(agency_service[0]) == ["client.created", "client.disabled", "client.enabled", "client.deleted"]


def test_disabling_twice_changes_nothing_and_audits_once(client, world, agency_service):
    for _ in range(2):
        assert (
            client.post(f"/api/clients/{agency_service[0]}/disable", headers=world.agency.admin_headers).status_code
            == 200
        )
    assert audit_actions(agency_service[0]) == ["client.created", "client.disabled"]


def test_a_disabled_admin_client_is_refused_by_the_admin_api_at_once(client, world):
    sub_admin = world.sub.admin_client
    assert client.post(f"/api/clients/{sub_admin[0]}/disable", headers=world.agency.admin_headers).status_code == 200
    assert_problem(client.get("/api/accounts", headers=basic(*sub_admin)), 401)


def test_a_member_may_see_but_not_change_clients(app, world, clock, agency_service):
    add_people(world, clock)
    member = signed_in(app, MEMBER)
    assert member.client.get(f"/api/clients/{agency_service[0]}").status_code == 200
    response = member.client.post(f"/api/clients/{agency_service[0]}/disable", headers={"X-CSRF-Token": member.csrf})
    assert_problem(response, 403, code="forbidden")
    assert db.session.get(ApiClient, agency_service[0]).disabled_at is None


def test_last_used_is_recorded_off_the_request_path_and_flushed_in_one_batch(
    client, world, clock, services, app, agency_service
):
    assert introspect(client, world.agency.token, agency_service).status_code == 200
    assert db.session.get(ApiClient, agency_service[0]).last_used_at is None  # nothing written by the request
    clock.advance(60)
    introspect(client, world.agency.token, agency_service)
    assert services.oauth.client_uses.flush(app) == 1
    db.session.expire_all()
    assert db.session.get(ApiClient, agency_service[0]).last_used_at == clock.now()
    shown = client.get(f"/api/clients/{agency_service[0]}", headers=world.agency.admin_headers).get_json()
    assert shown["last_used_at"] == "2026-01-15T12:01:00Z"


def test_a_late_flush_never_moves_last_used_back(client, world, clock, services, app, agency_service):
    services.oauth.client_uses.note(agency_service[0], clock.now() + timedelta(hours=1))
    services.oauth.client_uses.flush(app)
    services.oauth.client_uses.note(agency_service[0], clock.now())
    services.oauth.client_uses.flush(app)
    db.session.expire_all()
    assert db.session.get(ApiClient, agency_service[0]).last_used_at == clock.now() + timedelta(hours=1)


# -- the CLI ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rotate-secret", "{id}", "--overlap", "forever"], "overlap must look like"),
        (["rotate-secret", "{id}", "--overlap", "31d"], "overlap must be between 0 and 30d"),
        (["rotate-secret", "cli_nobody"], "client 'cli_nobody' not found"),
        (["disable", "cli_nobody"], "client 'cli_nobody' not found"),
        (["enable", "cli_nobody"], "client 'cli_nobody' not found"),
        (["delete", "cli_nobody"], "client 'cli_nobody' not found"),
        (["list", "--account", "acc_nobody"], "account 'acc_nobody' not found"),
    ],
)
def test_cli_errors_are_one_line_and_exit_1(runner, agency_service, args, message):
    result = runner.invoke(args=["client", *[arg.format(id=agency_service[0]) for arg in args], "--json"])
    assert result.exit_code == 1, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert db.session.get(ApiClient, agency_service[0]).secret_rotated_at is None


def test_cli_list_and_rotate_answer_json_and_the_text_mode_shows_the_secret_once(runner, world, agency_service):
    listed = runner.invoke(args=["client", "list", "--account", world.agency.account_id, "--json"])
    assert {row["client_id"] for row in json.loads(listed.output)["clients"]} == {
        world.agency.admin_client[0],
        agency_service[0],
    }
    rotated = runner.invoke(args=["client", "rotate-secret", agency_service[0]])
    assert rotated.exit_code == 0 and "shown only once" in rotated.output and "old one works until" in rotated.output
    assert len(json.loads(runner.invoke(args=["client", "list", "--json"]).output)["clients"]) == 5
