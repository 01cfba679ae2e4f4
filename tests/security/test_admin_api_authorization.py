"""Every admin API route, tried against the agency's resources by an admin of another account, by the admin of
the agency's own sub-account (upwards), by an agency member (a session that may only look), and by nobody.

Another tenant's resource is indistinguishable from one that does not exist (404); a member's change is 403; an
anonymous call is 401. After all of it, the agency's resources are exactly as they were.
"""

from __future__ import annotations

import pytest
import requests

from .conftest import run_cli

READS = {
    "get_account": ("GET", "/accounts/{account}", None),
    "list_audit": ("GET", "/accounts/{account}/audit", None),
    "audit_csv": ("GET", "/accounts/{account}/audit?format=csv", None),
    "list_integrations": ("GET", "/accounts/{account}/integrations", None),
    "v1_migration_report": ("GET", "/accounts/{account}/v1-keys/migration-report", None),
    "list_webhooks": ("GET", "/accounts/{account}/webhooks", None),
    "get_integration": ("GET", "/integrations/{integration}", None),
    "list_tokens": ("GET", "/integrations/{integration}/tokens", None),
    "activity": ("GET", "/integrations/{integration}/activity", None),
    "get_webhook": ("GET", "/webhooks/{webhook}", None),
    "list_webhook_deliveries": ("GET", "/webhooks/{webhook}/deliveries", None),
}
CHANGES = {
    "create_sub_account": ("POST", "/accounts", {"name": "planted", "parent_id": "{account}"}),
    "rename_account": ("PATCH", "/accounts/{account}", {"name": "pwned"}),
    "widen_account_ceiling": ("PATCH", "/accounts/{account}", {"allowed_scopes": None}),
    "create_integration": (
        "POST",
        "/accounts/{account}/integrations",
        {"name": "planted", "scopes": ["contacts.readonly"]},
    ),
    "create_webhook": (
        "POST",
        "/accounts/{account}/webhooks",
        {"url": "http://127.0.0.1:9/steal", "events": ["token.generated"]},
    ),
    "rename_integration": ("PATCH", "/integrations/{integration}", {"name": "pwned"}),
    "widen_integration": ("PATCH", "/integrations/{integration}", {"scopes": ["contacts.readonly", "users.write"]}),
    "delete_integration": ("DELETE", "/integrations/{integration}", None),
    "disable_integration": ("POST", "/integrations/{integration}/disable", {}),
    "enable_integration": ("POST", "/integrations/{integration}/enable", {}),
    "expire_now": ("POST", "/integrations/{integration}/expire", {}),
    "expire_later": ("POST", "/integrations/{integration}/expire", {"in": "2h"}),
    "rotate_now": ("POST", "/integrations/{integration}/rotate", {"mode": "now"}),
    "rotate_later": ("POST", "/integrations/{integration}/rotate", {"mode": "later", "grace": "1h"}),
    "generate_token": ("POST", "/integrations/{integration}/tokens", {}),
    "delete_webhook": ("DELETE", "/webhooks/{webhook}", None),
    "migrate_v1_key": ("POST", "/v1-keys/{v1key}/migrate", {"overlap": "1d"}),
    "rollback_v1_key": ("POST", "/v1-keys/{v1key}/rollback", {}),
}
ROUTES = READS | CHANGES


def _fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.fixture(scope="module")
def victim(target) -> dict:
    """The agency's resources of every kind the admin API serves."""
    issued = target.agency.integration_with_token()
    webhook = target.agency.request(
        "POST",
        f"/accounts/{target.agency.account_id}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["token.revoked"]},
    )
    assert webhook.status_code == 201, webhook.text
    (v1key,) = run_cli(target.server, (["v1-key", "create", "--account", target.agency.account_id, "--json"], None))
    ids = {
        "account": target.agency.account_id,
        "integration": issued["integration_id"],
        "webhook": webhook.json()["id"],
        "v1key": v1key["id"],
    }
    return {"ids": ids, "token": issued["token"], "v1key_secret": v1key["key"]}


def snapshot(target, victim) -> dict:
    """What an intruder must not be able to change."""
    ids, agency = victim["ids"], target.agency
    integration = agency.request("GET", f"/integrations/{ids['integration']}")
    return {
        "account": agency.request("GET", f"/accounts/{ids['account']}").json(),
        "accounts": sorted(a["id"] for a in agency.request("GET", "/accounts").json()["accounts"]),
        "integration": _without_activity(integration.json()),
        "etag": integration.headers["ETag"],
        "integrations": sorted(
            i["id"] for i in agency.request("GET", f"/accounts/{ids['account']}/integrations").json()["integrations"]
        ),
        "webhooks": agency.request("GET", f"/accounts/{ids['account']}/webhooks").json(),
        "token_active": target.is_active(victim["token"]),
    }


def _without_activity(integration: dict) -> dict:
    """Introspecting (to see the token is still active) is a use: last-use fields move by themselves."""
    moving = ("last_used_at", "last_used_by", "expires_if_unused_after")
    return integration | {
        "tokens": [{k: v for k, v in token.items() if k not in moving} for token in integration["tokens"]]
    }


def call(requester, victim, route: str) -> requests.Response:
    method, path, body = ROUTES[route]
    return requester.request(
        method, _fill(path, victim["ids"]), **({} if body is None else {"json": _fill(body, victim["ids"])})
    )


def assert_problem(response: requests.Response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status


class SessionApi:
    """A signed-in person calling the JSON API with the browser's cookie and the page's CSRF token."""

    def __init__(self, browser, csrf_token: str) -> None:
        self.browser, self.csrf_token = browser, csrf_token

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-CSRF-Token": self.csrf_token, "Origin": self.browser.server.url} | kwargs.pop("headers", {})
        return self.browser.request(method, f"/api{path}", headers=headers, **kwargs)


@pytest.fixture(scope="module")
def member(target, victim) -> SessionApi:
    browser = target.browser("agency_member")
    return SessionApi(browser, browser.page_csrf_token(f"/accounts/{target.agency.account_id}/settings/integrations"))


@pytest.fixture(scope="module")
def other_user(target, victim) -> SessionApi:
    browser = target.browser("other_admin")
    return SessionApi(browser, browser.page_csrf_token(f"/accounts/{target.other.account_id}/settings/integrations"))


def attempt(target, victim, requester, route: str, status: int) -> None:
    """The call is refused with ``status``; a refused change leaves everything as it was."""
    before = snapshot(target, victim) if route in CHANGES else None
    assert_problem(call(requester, victim, route), status)
    if before is not None:
        assert snapshot(target, victim) == before


@pytest.mark.parametrize("route", ROUTES)
def test_another_accounts_admin_client_gets_404_on_every_route(target, victim, route):
    attempt(target, victim, target.other, route, 404)


@pytest.mark.parametrize("route", ROUTES)
def test_another_accounts_signed_in_admin_gets_404_on_every_route(target, victim, other_user, route):
    attempt(target, victim, other_user, route, 404)


@pytest.mark.parametrize("route", ROUTES)
def test_sub_account_admin_gets_404_on_every_route_of_its_agency(target, victim, route):
    attempt(target, victim, target.sub, route, 404)


@pytest.mark.parametrize("route", READS)
def test_member_may_read_every_route_of_its_account(target, victim, member, route):
    response = call(member, victim, route)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("route", CHANGES)
def test_member_gets_403_on_every_change(target, victim, member, route):
    attempt(target, victim, member, route, 403)


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_without_credentials_is_401(target, victim, route):
    method, path, body = ROUTES[route]
    response = requests.request(
        method,
        f"{target.url}/api{_fill(path, victim['ids'])}",
        timeout=30,
        **({} if body is None else {"json": _fill(body, victim["ids"])}),
    )
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_account_list_shows_only_the_callers_accounts(target, victim):
    seen = {a["id"] for a in target.other.request("GET", "/accounts").json()["accounts"]}
    assert seen == {target.other.account_id}
    seen = {a["id"] for a in target.sub.request("GET", "/accounts").json()["accounts"]}
    assert seen == {target.sub.account_id}


def test_an_id_that_does_not_exist_answers_exactly_like_another_tenants(target, victim):
    theirs = target.other.request("GET", f"/integrations/{victim['ids']['integration']}").json()
    missing = target.other.request("GET", "/integrations/int_aaaaaaaaaaaaaaaaaaaa").json()
    assert {k: v for k, v in theirs.items() if k not in ("detail", "request_id")} == {
        k: v for k, v in missing.items() if k not in ("detail", "request_id")
    }


def test_v1_key_of_another_account_cannot_be_checked_into_a_token(target, victim):
    """The v1 key itself stays usable only by its owner; a migration attempt by another tenant minted nothing."""
    tokens = target.agency.request("GET", f"/integrations/{victim['ids']['integration']}/tokens").json()["tokens"]
    assert len(tokens) == 1
