"""A refused cross-tenant action is audited on the requester's account, never written into the victim's trail
(issue 13 §5): another tenant can neither write into an account's audit log nor show up in it, and the attempt is
still on record where the requester's own admins (and the operator) look.

Over HTTP against the security run's real server; the victim's trail is read through the admin API and through
the real CLI (``authserver audit list --account VICTIM --json``).
"""

from __future__ import annotations

import pytest

from .conftest import run_cli


def victim_trail(target, account_id: str) -> list[dict]:
    """The victim account's audit trail, both ways its owners read it: the admin API and the CLI."""
    admin = {target.agency.account_id: target.agency, target.other.account_id: target.other}[account_id]
    response = admin.request("GET", f"/accounts/{account_id}/audit", params={"limit": 1000})
    assert response.status_code == 200, response.text
    from_api = response.json()["events"]
    from_cli = run_cli(target.server, (["audit", "list", "--account", account_id, "--limit", "1000", "--json"], None))[
        0
    ]["events"]
    assert [event["id"] for event in from_api] == [event["id"] for event in from_cli]
    return from_api


def mentions(events: list[dict], *values: str) -> list[dict]:
    return [event for event in events if any(value in repr(event) for value in values)]


def test_a_refused_cross_tenant_revocation_is_audited_on_the_requesters_account_only(target):
    issued = target.agency.integration_with_token()
    token, jti = issued["token"], issued["token_id"]
    attacker = target.other

    response = target.revoke(token, auth=attacker.credentials)

    assert (response.status_code, response.json()) == (200, {})  # RFC 7009 §2.2: never confirms the token
    assert target.is_active(token)
    victims = victim_trail(target, target.agency.account_id)
    assert mentions(victims, attacker.client_id) == []
    # The victim's own clients may have been refused elsewhere in the shared run: none of those rows is about this token.
    assert [event for event in mentions(victims, jti) if event["action"] == "token.revocation_refused"] == []
    [event] = attacker.request(
        "GET", f"/accounts/{attacker.account_id}/audit", params={"action": "token.revocation_refused", "target_id": jti}
    ).json()["events"]
    assert event["account_id"] == attacker.account_id
    assert event["actor"] == {"type": "admin_client", "id": attacker.client_id}
    assert target.agency.account_id not in repr(event)  # the victim's account is not named in the requester's row


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"description": "taken over"}),
        ("POST", "/tokens", {}),
        ("POST", "/expire", {}),
        ("DELETE", "", None),
    ],
)
def test_a_refused_cross_tenant_integration_change_is_audited_on_the_requesters_account_only(
    target, method, suffix, body
):
    integration_id = target.agency.create_integration()["id"]
    attacker = target.other

    response = attacker.request(method, f"/integrations/{integration_id}{suffix}", json=body)

    assert response.status_code == 404, response.text
    assert target.agency.request("GET", f"/integrations/{integration_id}").json()["status"] == "active"
    assert mentions(victim_trail(target, target.agency.account_id), attacker.client_id) == []
    refused = attacker.request(
        "GET",
        f"/accounts/{attacker.account_id}/audit",
        params={"action": "integration.change_refused", "target_id": integration_id},
    )
    [event] = refused.json()["events"]
    assert event["actor"] == {"type": "admin_client", "id": attacker.client_id}
    assert target.agency.account_id not in repr(event)


def test_the_requesters_trail_cannot_tell_another_tenants_integration_from_none(target):
    """Recording the refusal only for ids that exist elsewhere would make the requester's own trail an oracle."""
    existing = target.agency.create_integration()["id"]
    missing = existing[:-1] + ("b" if existing.endswith("a") else "a")  # well-formed, but no such integration
    attacker = target.other
    for integration_id in (existing, missing):
        response = attacker.request("PATCH", f"/integrations/{integration_id}", json={"description": "x"})
        assert response.status_code == 404, response.text
    rows = {
        integration_id: attacker.request(
            "GET", f"/accounts/{attacker.account_id}/audit", params={"target_id": integration_id}
        ).json()["events"]
        for integration_id in (existing, missing)
    }
    shape = {key: [(e["action"], e["target"]["type"], e["after"]) for e in events] for key, events in rows.items()}
    assert shape[existing] == shape[missing] and len(shape[existing]) == 1
