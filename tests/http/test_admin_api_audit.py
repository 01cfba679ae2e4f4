"""Admin API: the audit log of an account, as JSON or CSV, with filters."""

from __future__ import annotations

import csv
import io

import pytest

from .problems import assert_problem


@pytest.fixture
def history(client, world, clock):
    headers = world.agency.admin_headers
    path = f"/api/integrations/{world.agency.integration_id}"
    clock.advance(3600)
    client.post(f"{path}/rotate", json={"mode": "later"}, headers=headers)
    clock.advance(3600)
    client.patch(path, json={"description": "after"}, headers=headers)
    client.post("/oauth/revoke", data={"token": world.agency.token})
    return f"/api/accounts/{world.agency.account_id}/audit", headers


def test_the_audit_log_lists_actions_newest_first_with_actor_address_and_state(client, world, history):
    path, headers = history
    events = client.get(path, headers=headers).get_json()["events"]
    assert [e["action"] for e in events] == [
        "token.revoked",
        "integration.updated",
        "token.rotated_with_grace",
        "token.generated",
        "integration.created",
        "client.created",
        "account.created",
    ]
    revoked, updated = events[0], events[1]
    assert revoked["actor"] == {"type": "token_holder", "id": world.agency.integration_id}  # whose token it was
    assert updated["actor"] == {"type": "admin_client", "id": world.agency.admin_client[0]}
    assert updated["source_address"] == "127.0.0.1"
    assert updated["before"]["description"] == "" and updated["after"]["description"] == "after"
    assert {e["account_id"] for e in events} == {world.agency.account_id}


def test_filters_by_action_target_time_and_paging(client, world, history, clock):
    path, headers = history
    only = client.get(f"{path}?action=token.rotated_with_grace", headers=headers).get_json()["events"]
    assert [e["action"] for e in only] == ["token.rotated_with_grace"]
    target = client.get(f"{path}?target_id={world.agency.jti}", headers=headers).get_json()["events"]
    assert [e["action"] for e in target] == ["token.revoked"]
    since = (clock.now().replace(minute=0)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = client.get(f"{path}?since={since}", headers=headers).get_json()["events"]
    assert [e["action"] for e in recent] == ["token.revoked", "integration.updated"]
    older = client.get(f"{path}?until={since}", headers=headers).get_json()["events"]
    assert len(older) == 5
    first = client.get(f"{path}?limit=2", headers=headers).get_json()["events"]
    rest = client.get(f"{path}?limit=10&before_id={first[-1]['id']}", headers=headers).get_json()["events"]
    assert len(first) == 2 and len(rest) == 5


def test_the_audit_log_as_csv(client, world, history):
    path, headers = history
    response = client.get(f"{path}?format=csv&action=integration.updated", headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["action"] for row in rows] == ["integration.updated"]
    assert rows[0]["actor_id"] == world.agency.admin_client[0] and '"description": "after"' in rows[0]["after"]


def test_refused_cross_account_actions_show_up_in_the_requesters_log_not_the_victims(client, world):
    client.post("/oauth/revoke", data={"token": world.agency.token}, headers=world.other.admin_headers)
    theirs = client.get(
        f"/api/accounts/{world.other.account_id}/audit?action=token.revocation_refused",
        headers=world.other.admin_headers,
    ).get_json()["events"]
    assert [(e["actor"]["id"], e["target"]["id"]) for e in theirs] == [(world.other.admin_client[0], world.agency.jti)]
    victims = client.get(
        f"/api/accounts/{world.agency.account_id}/audit?action=token.revocation_refused",
        headers=world.agency.admin_headers,
    ).get_json()["events"]
    assert victims == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=many", "limit"),
        ("limit=-1", "limit"),
        ("before_id=x", "before_id"),
        ("before_id=" + "9" * 30, "before_id"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
    ],
)
def test_bad_audit_filters_are_a_400_problem_naming_the_field(shared, query, field):
    world = shared.world
    response = shared.client.get(
        f"/api/accounts/{world.agency.account_id}/audit?{query}", headers=world.agency.admin_headers
    )
    assert_problem(response, 400, field=field)
