"""Settings → Private Integrations through the pages: create, generate, rotate, expire, edit, disable, delete."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from markupsafe import escape

from authserver.accounts import update_account
from authserver.activity import flush
from authserver.integrations import list_integrations, live_tokens
from authserver.principals import OPERATOR
from authserver.scopes import CATALOGUE
from authserver.unit_of_work import unit_of_work
from tests.support.admin_ui import ADMIN, add_people, detail_path, introspect, signed_in, version_field

_TOKEN = re.compile(r'<pre id="token-value"[^>]*>([^<]+)</pre>')


@pytest.fixture
def admin(app, world, clock):
    add_people(world, clock, member=False)
    return signed_in(app, ADMIN)


def _act(admin, tenant, action: str, form: dict | None = None):
    page = admin.get(detail_path(tenant)).text
    return admin.post(f"{detail_path(tenant)}/{action}", {"version": version_field(page), **(form or {})})


def _shown_token(response) -> str:
    match = _TOKEN.search(response.text)
    assert match, "no token on the page"
    return match.group(1)


# -- create -------------------------------------------------------------------------------------------------
def test_creating_an_integration_leads_to_its_page(admin, world):
    response = admin.post(
        f"/accounts/{world.agency.account_id}/settings/integrations/new",
        {"name": "Zapier", "description": "CRM sync", "scopes": ["contacts.readonly", "calendars.write"]},
    )
    assert response.status_code == 302
    created = next(i for i in list_integrations(OPERATOR, world.agency.account_id) if i.name == "Zapier")
    assert response.headers["Location"].endswith(f"/settings/integrations/{created.id}")
    assert created.scopes == "calendars.write contacts.readonly"
    page = admin.get(response.headers["Location"]).text
    assert "Created Zapier." in page and "Generate access token" in page


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"name": " ", "scopes": ["contacts.readonly"]}, "name", "Name is required."),
        ({"name": "x" * 201, "scopes": ["contacts.readonly"]}, "name", "Name must be at most 200 characters."),
        ({"name": "Zapier"}, "scopes", "At least one scope is required."),
        (
            {"name": "Zapier", "scopes": ["contacts.readonly"], "inactivity_window": "forever"},
            "inactivity_window",
            "Choose one of the offered periods.",
        ),
    ],
)
def test_create_form_shows_the_message_next_to_the_field(admin, world, form, field, message):
    response = admin.post(f"/accounts/{world.agency.account_id}/settings/integrations/new", form)
    assert response.status_code == 400
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in response.text
    assert f'aria-describedby="{field}-error"' in response.text
    assert len(list_integrations(OPERATOR, world.agency.account_id)) == 1


def test_the_scope_picker_offers_only_what_the_account_allows(admin, world, clock):
    with unit_of_work():
        update_account(OPERATOR, world.agency.account_id, now=clock.now(), allowed=["contacts.readonly"])
    page = admin.get(f"/accounts/{world.agency.account_id}/settings/integrations/new").text
    assert re.search(r'value="contacts.readonly"\s*>', page)
    assert re.search(r'value="contacts.write"\s*disabled', page)
    assert page.count("Not available for this account</span>") == 11
    refused = admin.post(
        f"/accounts/{world.agency.account_id}/settings/integrations/new",
        {"name": "Zapier", "scopes": ["contacts.readonly", "users.write"]},
    )
    assert refused.status_code == 400
    assert "Scope not allowed for this account: users.write." in refused.text


def test_every_scope_choice_and_granted_scope_shows_what_it_allows(admin, world):
    """The catalogue's description is visible text next to each choice (not only a tooltip), and the detail page's
    Scopes card says what each granted scope allows."""
    page = admin.get(f"/accounts/{world.agency.account_id}/settings/integrations/new").text
    for resource, (_label, accesses) in CATALOGUE.items():
        for access, text in accesses.items():
            cell = re.search(rf'value="{resource}\.{access}".*?</td>', page, re.S)
            assert cell, f"{resource}.{access} not offered"
            assert f'<span class="scope-desc">{escape(text)}</span>' in cell.group(0), (resource, access)
    detail = admin.get(detail_path(world.agency)).text
    card = re.search(r'id="scopes-heading".*?</section>', detail, re.S)
    assert card
    assert "Contacts: Read" in card.group(0)
    assert '<div class="scope-desc">View contacts</div>' in card.group(0)
    assert "Create, edit and delete contacts" not in card.group(0)  # not granted: not described


# -- the token, shown once ----------------------------------------------------------------------------------
def test_generated_token_is_shown_once_and_is_active_with_the_chosen_scopes(client, admin, world, services):
    _act(admin, world.agency, "expire", {"mode": "now"})
    response = _act(admin, world.agency, "token")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "This token will not be shown again." in response.text
    token = _shown_token(response)
    assert token not in admin.get(detail_path(world.agency)).text
    body = introspect(client, world, token)
    assert body["active"] is True and body["scope"] == "contacts.readonly"


def test_generating_while_a_token_is_live_goes_back_with_the_reason(admin, world):
    response = _act(admin, world.agency, "token")
    assert response.status_code == 302
    assert "already has a live token; rotate it instead" in admin.get(response.headers["Location"]).text


# -- rotate and expire --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("choice", "seconds"), [("1h", 3600), ("24h", 86400), ("7d", 7 * 86400), ("30d", 30 * 86400)])
def test_rotate_and_expire_later_keeps_the_old_token_for_the_chosen_grace(
    client, admin, world, services, choice, seconds
):
    now = services.clock.now()
    response = _act(admin, world.agency, "rotate", {"mode": "later", "grace": choice})
    new_token = _shown_token(response)
    until = now + timedelta(seconds=seconds)
    assert f"The previous token keeps working until <strong>{until:%-d %b %Y, %H:%M} UTC</strong>" in response.text
    assert introspect(client, world, world.agency.token)["active"] is True
    assert introspect(client, world, new_token)["active"] is True
    grace = [row for row in live_tokens(world.agency.integration_id, now) if row.jti == world.agency.jti]
    assert grace[0].ends_at == until
    page = admin.get(detail_path(world.agency)).text
    assert page.count('data-status="active"') == 1 and page.count('data-status="grace"') == 1


def test_rotate_later_to_an_exact_date(admin, world, services):
    now = services.clock.now()
    _act(admin, world.agency, "rotate", {"mode": "later", "grace": "date", "grace_date": "2026-01-20T09:30"})
    grace = [row for row in live_tokens(world.agency.integration_id, now) if row.jti == world.agency.jti]
    assert grace[0].ends_at.isoformat() == "2026-01-20T09:30:00+00:00"


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"mode": "later", "grace": "date", "grace_date": ""}, "Choose a date and time."),
        (
            {"mode": "later", "grace": "date", "grace_date": "2027-01-01T00:00"},
            "The grace period must be between 1 hour and 30 days.",
        ),
        ({"mode": "later", "grace": "90d"}, "Choose one of the offered periods or a date."),
    ],
)
def test_a_bad_grace_choice_goes_back_with_the_reason_and_rotates_nothing(client, admin, world, form, reason):
    response = _act(admin, world.agency, "rotate", form)
    assert response.status_code == 302
    assert reason in admin.get(response.headers["Location"]).text
    assert introspect(client, world, world.agency.token)["active"] is True


def test_rotate_now_stops_the_old_token_at_once(client, admin, world):
    response = _act(admin, world.agency, "rotate", {"mode": "now"})
    assert "The previous token has stopped working." in response.text
    assert introspect(client, world, world.agency.token)["active"] is False
    assert introspect(client, world, _shown_token(response))["active"] is True


def test_expire_now_stops_every_live_token(client, admin, world):
    new_token = _shown_token(_act(admin, world.agency, "rotate", {"mode": "later", "grace": "7d"}))
    response = _act(admin, world.agency, "expire", {"mode": "now"})
    assert "2 tokens stopped working just now." in admin.get(response.headers["Location"]).text
    assert introspect(client, world, world.agency.token)["active"] is False
    assert introspect(client, world, new_token)["active"] is False


def test_expiring_only_the_grace_token_leaves_the_new_one_working(client, admin, world):
    new_token = _shown_token(_act(admin, world.agency, "rotate", {"mode": "later", "grace": "7d"}))
    _act(admin, world.agency, "expire", {"mode": "now", "token_id": world.agency.jti})
    assert introspect(client, world, world.agency.token)["active"] is False
    assert introspect(client, world, new_token)["active"] is True


def test_expire_later_schedules_the_end_and_says_when(client, admin, world, services, clock):
    response = _act(admin, world.agency, "expire", {"mode": "later", "at": "24h"})
    end = services.clock.now() + timedelta(hours=24)
    page = admin.get(response.headers["Location"]).text
    assert f"keeps working until {end:%-d %b %Y, %H:%M} UTC, then stops." in page
    clock.advance(86400)
    assert introspect(client, world, world.agency.token)["active"] is False


def test_a_page_older_than_the_last_change_is_refused_instead_of_acting_twice(client, admin, world):
    stale = version_field(admin.get(detail_path(world.agency)).text)
    _act(admin, world.agency, "rotate", {"mode": "later", "grace": "7d"})
    response = admin.post(f"{detail_path(world.agency)}/rotate", {"version": stale, "mode": "now"})
    assert response.status_code == 302
    assert "changed since you loaded it" in admin.get(response.headers["Location"]).text
    assert introspect(client, world, world.agency.token)["active"] is True


# -- edit, disable, enable, delete --------------------------------------------------------------------------
def test_removing_a_scope_narrows_the_live_token_at_once(client, admin, world, clock, services):
    _act(admin, world.agency, "expire", {"mode": "now"})
    admin.post(
        f"{detail_path(world.agency)}/edit",
        {
            "version": version_field(admin.get(f"{detail_path(world.agency)}/edit").text),
            "name": "Agency integration",
            "scopes": ["contacts.readonly", "calendars.readonly"],
        },
    )
    token = _shown_token(_act(admin, world.agency, "token"))
    assert introspect(client, world, token)["scope"] == "calendars.readonly contacts.readonly"
    edit = admin.get(f"{detail_path(world.agency)}/edit").text
    response = admin.post(
        f"{detail_path(world.agency)}/edit",
        {"version": version_field(edit), "name": "Renamed", "scopes": ["contacts.readonly"]},
    )
    assert response.status_code == 302
    assert introspect(client, world, token)["scope"] == "contacts.readonly"
    assert "Renamed" in admin.get(detail_path(world.agency)).text


def test_edit_form_shows_the_message_next_to_the_field(admin, world):
    edit = admin.get(f"{detail_path(world.agency)}/edit").text
    response = admin.post(f"{detail_path(world.agency)}/edit", {"version": version_field(edit), "name": ""})
    assert response.status_code == 400
    assert '<p class="field-error" id="name-error">Name is required.</p>' in response.text


def test_disable_stops_tokens_until_enabled_again(client, admin, world):
    _act(admin, world.agency, "disable")
    assert introspect(client, world, world.agency.token)["active"] is False
    assert "Disabled. Its tokens stop working until you enable it again." in admin.get(detail_path(world.agency)).text
    _act(admin, world.agency, "enable")
    assert introspect(client, world, world.agency.token)["active"] is True


def test_delete_revokes_tokens_and_leaves_the_list(client, admin, world):
    response = _act(admin, world.agency, "delete")
    assert response.headers["Location"] == f"/accounts/{world.agency.account_id}/settings/integrations"
    listing = admin.get(response.headers["Location"]).text
    assert "Deleted Agency integration." in listing and world.agency.integration_id not in listing
    assert introspect(client, world, world.agency.token)["active"] is False
    assert admin.get(detail_path(world.agency)).status_code == 404


# -- what the confirmations say -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("confirm", "says"),
    [
        ("rotate-now", "The current token will stop working immediately."),
        (
            "rotate-later",
            "The current token keeps working until <strong data-until-text>22 Jan 2026, 12:00 UTC"
            "</strong>, then stops.",
        ),
        ("expire-now", "The current token will stop working immediately."),
        (
            "expire-later",
            "The current token keeps working until <strong data-until-text>22 Jan 2026, 12:00 UTC"
            "</strong>, then stops.",
        ),
        ("disable", "Every token of this integration will stop working immediately."),
        (
            "delete",
            "Every token of this integration will stop working immediately, and the integration\n"
            "    cannot be restored.",
        ),
    ],
)
def test_each_confirmation_says_exactly_what_happens_to_the_running_integration(admin, world, confirm, says):
    page = admin.get(f"{detail_path(world.agency)}?confirm={confirm}").text
    dialog = re.search(rf'<dialog id="confirm-{confirm}".*?</dialog>', page, re.S).group(0)
    assert "open data-autoshow" in dialog
    assert says in dialog


def test_grace_choices_name_the_moment_each_one_ends(admin, world):
    page = admin.get(f"{detail_path(world.agency)}?confirm=rotate-later").text
    for until in (
        "15 Jan 2026, 13:00 UTC",
        "16 Jan 2026, 12:00 UTC",
        "22 Jan 2026, 12:00 UTC",
        "14 Feb 2026, 12:00 UTC",
    ):
        assert f'data-until="{until}"' in page


# -- activity and audit -------------------------------------------------------------------------------------
def test_activity_shows_last_use_by_service_and_a_thirty_day_chart(client, admin, world, services, clock):
    # Calls as the service reported them (activity/calls.py): 3 today, each answered by an introspection of its
    # own, and 2 two days ago; the introspections themselves are not counted again.
    for _ in range(3):
        introspect(client, world, world.agency.token)
    two_days_ago = (clock.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    uses = [
        {"jti": world.agency.jti, "count": 3, "introspected": 3, "scopes": {"contacts.readonly": 3}},
        {"jti": world.agency.jti, "count": 2, "last_used_at": two_days_ago, "scopes": {"contacts.readonly": 2}},
    ]
    for use in uses:
        assert client.post("/oauth/usage", json={"uses": [use]}, headers=world.rs_headers).status_code == 202
    flush(services.activity)
    page = admin.get(detail_path(world.agency)).text
    bars = re.findall(r'<rect class="bar[^"]*"[^>]*data-day="([\d-]+)" data-count="(\d+)"', page)
    assert len(bars) == 30
    assert bars[-1] == ("2026-01-15", "3") and bars[-3] == ("2026-01-13", "2")
    assert '<dd id="usage-total">5</dd>' in page
    assert '<dd id="last-used-by">contacts-service</dd>' in page


def test_the_audit_trail_names_who_did_what(admin, world):
    _act(admin, world.agency, "rotate", {"mode": "later", "grace": "24h"})
    trail = re.search(
        r'<ol class="timeline" id="audit-trail">.*?</ol>', admin.get(detail_path(world.agency)).text, re.S
    ).group(0)
    assert "Rotated the token with a grace period" in trail
    assert "old token works until 16 Jan 2026, 12:00 UTC" in trail
    assert ADMIN in trail and "Server operator" in trail
