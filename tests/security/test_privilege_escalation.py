"""Reaching past what an account is allowed: scopes beyond the ceiling, ceilings lifted from below, lifetimes past
the maximum, fields that are not the caller's to set (mass assignment), and tokens of another integration."""

from __future__ import annotations

import pytest

from .conftest import run_cli


@pytest.fixture(scope="module")
def restricted(target) -> dict:
    """The agency restricts its sub-account to contacts.readonly and tokens of at most one day."""
    response = target.agency.request(
        "PATCH",
        f"/accounts/{target.sub.account_id}",
        json={"allowed_scopes": ["contacts.readonly"], "max_token_lifetime": "1d"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def sub_account(target) -> dict:
    return target.agency.request("GET", f"/accounts/{target.sub.account_id}").json()


def assert_problem(response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    if field:
        assert response.json()["errors"][0]["field"] == field


def test_integration_with_a_scope_beyond_the_account_ceiling_is_400(target, restricted):
    response = target.sub.request(
        "POST",
        f"/accounts/{target.sub.account_id}/integrations",
        json={"name": "x", "scopes": ["contacts.readonly", "users.write"]},
    )
    assert_problem(response, 400, "scopes")


def test_widening_an_integration_past_the_ceiling_is_400_and_changes_nothing(target, restricted):
    integration = target.sub.create_integration()
    response = target.sub.request(
        "PATCH", f"/integrations/{integration['id']}", json={"scopes": ["contacts.readonly", "contacts.write"]}
    )
    assert_problem(response, 400, "scopes")
    assert target.sub.request("GET", f"/integrations/{integration['id']}").json()["scopes"] == ["contacts.readonly"]


@pytest.mark.parametrize(
    "change",
    [
        {"allowed_scopes": None},
        {"allowed_scopes": ["contacts.readonly", "users.write"]},
        {"max_token_lifetime": "365d"},
    ],
    ids=["clear_scopes", "widen_scopes", "raise_lifetime"],
)
def test_sub_account_admin_cannot_lift_a_ceiling_its_agency_set(target, restricted, change):
    before = sub_account(target)
    assert_problem(target.sub.request("PATCH", f"/accounts/{target.sub.account_id}", json=change), 403)
    assert sub_account(target) == before


def test_sub_account_admin_may_still_narrow_its_own_ceiling(target, restricted):
    response = target.sub.request("PATCH", f"/accounts/{target.sub.account_id}", json={"max_token_lifetime": "12h"})
    assert response.status_code == 200, response.text
    assert (
        target.agency.request(
            "PATCH", f"/accounts/{target.sub.account_id}", json={"max_token_lifetime": "1d"}
        ).status_code
        == 200
    )


def test_token_lifetime_past_the_account_maximum_is_400(target, restricted):
    integration = target.sub.create_integration()
    response = target.sub.request("POST", f"/integrations/{integration['id']}/tokens", json={"expires_in": "2d"})
    assert_problem(response, 400, "expires_in")


SMUGGLED = {
    "two_in_one_item": ["contacts.readonly users.write"],
    "wildcard": ["*"],
    "resource_wildcard": ["contacts.*"],
    "upper_case": ["USERS.WRITE"],
    "nul_suffix": ["contacts.readonly\u0000users.write"],
    "newline": ["contacts.readonly\nusers.write"],
    "padded": [" users.write "],
    "not_a_list": {"users.write": True},
}


@pytest.mark.parametrize("scopes", SMUGGLED.values(), ids=SMUGGLED.keys())
def test_scope_strings_that_smuggle_a_scope_past_the_ceiling_are_400(target, restricted, scopes):
    response = target.sub.request(
        "POST", f"/accounts/{target.sub.account_id}/integrations", json={"name": "smuggler", "scopes": scopes}
    )
    assert_problem(response, 400, "scopes")


def test_fields_that_are_not_the_callers_to_set_are_ignored(target):
    """Mass assignment: account, status, version, creator and id in a body change none of them."""
    integration = target.agency.create_integration()
    planted = {
        "account_id": target.other.account_id,
        "status": "deleted",
        "version": 99,
        "id": "int_planted",
        "created_by": "operator:cli",
        "name": "renamed",
    }
    response = target.agency.request("PATCH", f"/integrations/{integration['id']}", json=planted)
    assert response.status_code == 200, response.text
    after = response.json()
    assert (after["id"], after["account_id"], after["status"], after["created_by"], after["name"]) == (
        integration["id"],
        integration["account_id"],
        "active",
        integration["created_by"],
        "renamed",
    )
    assert integration["version"] < after["version"] < 99
    created = target.agency.request(
        "POST",
        f"/accounts/{target.agency.account_id}/integrations",
        json={"name": "x", "scopes": ["contacts.readonly"]} | planted,
    )
    assert created.status_code == 201 and created.json()["account_id"] == target.agency.account_id
    assert created.json()["id"] != "int_planted" and created.json()["status"] == "active"


def test_sub_account_admin_cannot_move_its_account_under_another_parent(target):
    before = sub_account(target)
    response = target.sub.request(
        "PATCH",
        f"/accounts/{target.sub.account_id}",
        json={"parent_id": target.other.account_id, "name": before["name"]},
    )
    assert response.status_code == 200
    assert sub_account(target)["parent_id"] == target.agency.account_id


def test_admin_client_cannot_create_a_top_level_account(target):
    assert_problem(target.agency.request("POST", "/accounts", json={"name": "my own tenant"}), 403)


def test_token_request_cannot_choose_its_own_scopes(target):
    integration = target.agency.create_integration(scopes=("contacts.readonly",))
    issued = target.agency.generate(integration["id"], scope="users.write", scopes=["users.write"])
    assert issued["scopes"] == ["contacts.readonly"]
    assert target.introspect(issued["token"]).json()["scope"] == "contacts.readonly"


def test_expiring_with_a_token_id_of_another_accounts_integration_is_404(target):
    mine = target.agency.integration_with_token()
    theirs = target.other.integration_with_token()
    response = target.agency.request(
        "POST", f"/integrations/{mine['integration_id']}/expire", json={"token_id": theirs["token_id"]}
    )
    assert_problem(response, 404)
    assert target.is_active(theirs["token"]) and target.is_active(mine["token"])


def test_webhook_for_another_accounts_integration_is_refused(target):
    theirs = target.other.create_integration()
    response = target.agency.request(
        "POST",
        f"/accounts/{target.agency.account_id}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["token.generated"], "integration_id": theirs["id"]},
    )
    assert response.status_code in (400, 404), response.text
    listed = target.agency.request("GET", f"/accounts/{target.agency.account_id}/webhooks").json()["webhooks"]
    assert all(hook.get("integration_id") != theirs["id"] for hook in listed)


def test_v1_key_of_another_account_cannot_be_migrated(target):
    (key,) = run_cli(target.server, (["v1-key", "create", "--account", target.other.account_id, "--json"], None))
    response = target.agency.request("POST", f"/v1-keys/{key['id']}/migrate", json={"overlap": "1d"})
    assert_problem(response, 404)
