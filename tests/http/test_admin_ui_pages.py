"""What every admin page guarantees: security headers, escaping, tenancy, and members who can look but not touch."""

from __future__ import annotations

import re

import pytest

from authserver.integrations import get_integration_for, live_tokens, update_integration
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from tests.factories import make_integration
from tests.support.admin_ui import (
    ADMIN,
    MEMBER,
    add_people,
    detail_path,
    introspect,
    signed_in,
    version_field,
)


@pytest.fixture
def people(app, world, clock):
    add_people(world, clock)
    return world


@pytest.fixture
def admin(app, people):
    return signed_in(app, ADMIN)


@pytest.fixture
def member(app, people):
    return signed_in(app, MEMBER)


def _pages(world) -> list[str]:
    integrations = f"/accounts/{world.agency.account_id}/settings/integrations"
    return [
        integrations,
        f"{integrations}/new",
        detail_path(world.agency),
        f"{detail_path(world.agency)}/edit",
        f"{detail_path(world.agency)}?confirm=rotate-later",
        "/settings/password",
        f"{integrations}/int_doesnotexist",
    ]


# -- headers ------------------------------------------------------------------------------------------------
def _assert_page_headers(response) -> None:
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_every_page_sends_the_security_headers(client, admin, world):
    _assert_page_headers(client.get("/signin"))
    for path in _pages(world):
        _assert_page_headers(admin.get(path))


def test_pages_need_no_inline_script_or_style_so_the_policy_breaks_nothing(client, admin, world):
    for response in [client.get("/signin")] + [admin.get(path) for path in _pages(world)]:
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), response.request.path
        assert not re.search(r"\son[a-z]+\s*=", response.text), response.request.path
        assert not re.search(r"\sstyle\s*=", response.text), response.request.path
    script = client.get("/static/ui.js")
    assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
    script.close()


# -- escaping -----------------------------------------------------------------------------------------------
NAME = '<script>alert("name")</script>'
DESCRIPTION = "<img src=x onerror=alert(1)> & more"


def test_names_and_descriptions_are_shown_as_text_everywhere(admin, world, clock):
    hostile = make_integration(clock, world.agency.account_id, name=NAME)
    with unit_of_work():
        update_integration(OPERATOR, hostile.id, now=clock.now(), description=DESCRIPTION)
    base = f"/accounts/{world.agency.account_id}/settings/integrations"
    page = f"{base}/{hostile.id}"
    token_page = admin.post(f"{page}/token", {"version": version_field(admin.get(page).text)})
    assert token_page.status_code == 200
    for response in [
        admin.get(base),
        admin.get(page),
        admin.get(f"{page}?confirm=delete"),
        admin.get(f"{page}/edit"),
        token_page,
    ]:
        assert NAME not in response.text and "<img src=x" not in response.text, response.request.path
        assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in response.text, response.request.path
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in admin.get(page).text


# -- tenancy ------------------------------------------------------------------------------------------------
def _switcher(html: str) -> list[str]:
    return re.findall(r'role="menuitem" class="menu-item depth-(\d)[^"]*"\s+href="/accounts/([^/]+)/', html)


def test_the_account_switcher_lists_only_the_users_accounts_with_sub_accounts_under_their_agency(admin, world):
    entries = _switcher(admin.get(f"/accounts/{world.agency.account_id}/settings/integrations").text)
    assert entries == [("0", world.agency.account_id), ("1", world.sub.account_id)]


def test_every_page_is_scoped_to_the_chosen_account(admin, world):
    sub_list = admin.get(f"/accounts/{world.sub.account_id}/settings/integrations").text
    assert world.sub.integration_id in sub_list and world.agency.integration_id not in sub_list
    assert admin.get(detail_path(world.sub)).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/{other}/settings/integrations",
        "/accounts/{other}/settings/integrations/{other_integration}",
        "/accounts/{agency}/settings/integrations/{other_integration}",
        "/accounts/{agency}/settings/integrations/{sub_integration}",
    ],
)
def test_accounts_and_integrations_the_user_does_not_belong_to_are_not_found(admin, world, path):
    response = admin.get(
        path.format(
            other=world.other.account_id,
            agency=world.agency.account_id,
            other_integration=world.other.integration_id,
            sub_integration=world.sub.integration_id,
        )
    )
    assert response.status_code == 404
    assert "Other" not in response.text


def test_the_home_page_opens_the_first_account(admin, world):
    assert admin.get("/").headers["Location"] == f"/accounts/{world.agency.account_id}/settings/integrations"


# -- members ------------------------------------------------------------------------------------------------
def test_members_see_integrations_without_any_button_that_changes_them(member, world):
    listing = member.get(f"/accounts/{world.agency.account_id}/settings/integrations")
    assert listing.status_code == 200
    assert "Create new integration" not in listing.text
    assert "Only its admins can change them" in listing.text
    for path in (detail_path(world.agency), f"{detail_path(world.agency)}?confirm=delete"):
        page = member.get(path).text
        assert world.agency.jti in page
        assert page.count('method="post"') == 1  # signing out is the only form
        assert 'class="button' not in page and "data-dialog" not in page and "<dialog" not in page
        for label in ("Rotate", "Expire now", "Expire later", "Disable", "Delete", "Edit scopes", "Generate access"):
            assert f">{label}" not in page


def test_members_see_sub_accounts_as_view_only(member, world):
    page = member.get(f"/accounts/{world.agency.account_id}/settings/integrations").text
    assert page.count('<span class="tag">View only</span>') == 2


@pytest.mark.parametrize(
    ("suffix", "form"),
    [
        ("/token", {}),
        ("/rotate", {"mode": "now"}),
        ("/rotate", {"mode": "later", "grace": "7d"}),
        ("/expire", {"mode": "now"}),
        ("/expire", {"mode": "later", "at": "24h"}),
        ("/disable", {}),
        ("/delete", {}),
        ("/edit", {"name": "Renamed", "scopes": "contacts.readonly"}),
    ],
)
def test_the_server_refuses_a_members_direct_post(client, member, world, services, suffix, form):
    response = member.post(detail_path(world.agency) + suffix, form | {"version": "1"})
    assert response.status_code == 403
    assert "members may view this account but not change it" in response.text
    integration = get_integration_for(OPERATOR, world.agency.integration_id)
    assert integration.status == "active" and integration.name == "Agency integration"
    assert [row.jti for row in live_tokens(integration.id, services.clock.now())] == [world.agency.jti]
    assert introspect(client, world, world.agency.token)["active"] is True


def test_members_cannot_open_the_create_or_edit_forms(member, world):
    assert member.get(f"/accounts/{world.agency.account_id}/settings/integrations/new").status_code == 403
    assert (
        member.post(
            f"/accounts/{world.agency.account_id}/settings/integrations/new",
            {"name": "Sneaky", "scopes": "contacts.readonly"},
        ).status_code
        == 403
    )
    assert member.get(f"{detail_path(world.agency)}/edit").status_code == 403


def test_members_cannot_change_anything_through_the_json_api_either(member, world):
    response = member.client.post(
        f"/api/integrations/{world.agency.integration_id}/disable", headers={"X-CSRF-Token": member.csrf}
    )
    assert response.status_code == 403
