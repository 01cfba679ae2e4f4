"""Cross-site request forgery: every change made with a session cookie must come from our own page."""

from __future__ import annotations

import pytest

from tests.support.admin_ui import ADMIN, add_people, detail_path, introspect, signed_in, version_field


@pytest.fixture
def admin(app, world, clock):
    add_people(world, clock, member=False)
    return signed_in(app, ADMIN)


def _expire_form(admin, world) -> dict:
    return {"mode": "now", "version": version_field(admin.get(detail_path(world.agency)).text)}


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(client, admin, world):
    response = admin.client.post(f"{detail_path(world.agency)}/expire", data=_expire_form(admin, world))
    assert response.status_code == 403
    assert "did not come from this page" in response.text
    assert introspect(client, world, world.agency.token)["active"] is True


def test_a_csrf_token_from_another_session_is_refused(app, client, admin, world):
    other = signed_in(app, ADMIN)
    response = admin.client.post(
        f"{detail_path(world.agency)}/expire", data=_expire_form(admin, world) | {"csrf_token": other.csrf}
    )
    assert response.status_code == 403
    assert introspect(client, world, world.agency.token)["active"] is True


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_post_from_another_site_is_refused_even_with_a_valid_token(client, admin, world, headers):
    response = admin.post(f"{detail_path(world.agency)}/expire", _expire_form(admin, world), headers=headers)
    assert response.status_code == 403
    assert "sent from another site" in response.text
    assert introspect(client, world, world.agency.token)["active"] is True


def test_the_same_post_from_our_own_page_goes_through(client, admin, world):
    response = admin.post(
        f"{detail_path(world.agency)}/expire",
        _expire_form(admin, world),
        headers={"Origin": "http://127.0.0.1:5000", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 302
    assert introspect(client, world, world.agency.token)["active"] is False


def test_sign_out_needs_the_csrf_token_too(admin):
    assert admin.client.post("/signout").status_code == 403
    assert admin.get("/").status_code == 302 and "/signin" not in admin.get("/").headers["Location"]


# -- the JSON admin API with the same session ---------------------------------------------------------------
def test_json_api_reads_with_the_session_cookie_need_no_csrf_header(admin, world):
    response = admin.get(f"/api/accounts/{world.agency.account_id}/integrations")
    assert response.status_code == 200
    assert [i["id"] for i in response.get_json()["integrations"]] == [world.agency.integration_id]


def test_json_api_changes_with_the_session_cookie_need_the_csrf_header(admin, world):
    path = f"/api/accounts/{world.agency.account_id}/integrations"
    body = {"name": "From the page", "scopes": ["contacts.readonly"]}
    refused = admin.client.post(path, json=body)
    assert refused.status_code == 403
    assert refused.get_json()["title"] == "Forbidden"
    assert admin.client.post(path, json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert admin.client.post(path, json=body, headers={"X-CSRF-Token": admin.csrf}).status_code == 201


def test_json_api_clients_with_http_basic_need_no_csrf_header(client, world):
    response = client.post(
        f"/api/accounts/{world.agency.account_id}/integrations",
        headers=world.agency.admin_headers,
        json={"name": "Script", "scopes": ["contacts.readonly"]},
    )
    assert response.status_code == 201
