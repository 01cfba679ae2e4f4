"""Settings → Account settings through the pages: values shown, windows and ceilings edited (narrowing confirmed
first, then applied to live tokens), errors on the page, tenancy; and an integration's window edited later."""

from __future__ import annotations

import html
import re

import pytest

from authserver.extensions import db
from authserver.models import Account, Integration
from tests.factories import make_integration
from tests.support.admin_ui import ADMIN, MEMBER, add_people, introspect, make_user, signed_in, version_field

DAY = 86400
SUB_ADMIN = "owner@bakery.test"


@pytest.fixture
def people(app, world, clock):
    add_people(world, clock)
    make_user(clock, world.sub.account_id, SUB_ADMIN, role="admin")
    return world


def settings(tenant) -> str:
    return f"/accounts/{tenant.account_id}/settings/account"


def values(page: str, *fields: str) -> list[str]:
    return [re.search(rf'data-value="{name}">([^<]*)<', page).group(1) for name in fields]


def test_the_page_is_linked_from_the_sidebar_and_shows_the_values_in_force(app, people):
    admin = signed_in(app, ADMIN)
    listing = admin.get(f"/accounts/{people.agency.account_id}/settings/integrations").text
    assert f'href="{settings(people.agency)}">Account settings</a>' in listing
    page = admin.get(settings(people.agency)).text
    assert values(page, "default-inactivity", "max-inactivity", "max-token-lifetime", "scopes") == [
        "90 days",
        "No maximum",
        "Server maximum",
        "All scopes",
    ]
    # The agency admin sees its sub-account listed, each with an edit link; the unrelated account is not there.
    assert f'data-sub-account="{people.sub.account_id}"' in page
    assert f'href="{settings(people.sub)}"' in page
    assert people.other.account_id not in page


def test_windows_saved_on_the_page_show_on_the_integration_form(app, people):
    admin = signed_in(app, ADMIN)
    form = {"default_inactivity_window": "30d", "max_inactivity_window": "60d", "max_token_lifetime": ""}
    response = admin.post(settings(people.agency), form)
    assert response.status_code == 200 and "data-confirm-narrowing" in response.text  # a maximum narrows: confirm
    assert db.session.get(Account, people.agency.account_id).max_inactivity_window is None
    response = admin.post(settings(people.agency), {**form, "confirmed": "yes"})
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).text
    assert values(page, "default-inactivity", "max-inactivity") == ["30 days", "60 days"]
    new = admin.get(f"/accounts/{people.agency.account_id}/settings/integrations/new").text
    assert "Account default (30 days)" in new
    options = re.findall(r'<option value="([^"]+)"', new)
    assert options == ["default", "30d"]  # nothing above the 60-day maximum, and no "never"
    # The sub-account lives by its agency's maximum.
    sub = admin.get(settings(people.sub)).text
    assert values(sub, "max-inactivity") == ["60 days"]


def test_narrowing_a_sub_accounts_scopes_is_confirmed_first_then_reaches_the_live_token(app, people, client):
    admin = signed_in(app, ADMIN)
    make_integration(
        app.extensions["authserver"].clock,
        people.sub.account_id,
        scopes=["contacts.readonly", "users.readonly"],
        name="Wide <one>",
    )
    form = {"scopes_shown": "1", "scopes": ["users.readonly"], "default_inactivity_window": "90d"}
    confirm = admin.post(settings(people.sub), form)
    assert confirm.status_code == 200
    text = html.unescape(confirm.text)
    assert re.search(r"No integration may use [a-z., ]*contacts\.readonly[a-z., ]* any more", text)
    assert "Wide <one></strong> loses contacts.readonly" in text and "Wide &lt;one&gt;" in confirm.text
    assert "Sub integration</strong> loses contacts.readonly" in text
    assert introspect(client, people, people.sub.token)["active"] is True  # nothing changed yet
    done = admin.post(settings(people.sub), {**form, "confirmed": "yes"})
    assert done.status_code == 302
    assert introspect(client, people, people.sub.token) == {"active": False}  # its only scope is gone
    page = admin.get(settings(people.sub)).text
    assert values(page, "scopes")[0].startswith("1 of ")
    assert introspect(client, people, people.agency.token)["active"] is True  # the agency is untouched


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"default_inactivity_window": "soon"}, "default_inactivity_window", "must look like 30s"),
        ({"max_inactivity_window": "30m", "confirmed": "yes"}, "max_inactivity_window", "at least 1h"),
        (
            {"default_inactivity_window": "120d", "max_inactivity_window": "60d", "confirmed": "yes"},
            "default_inactivity_window",
            "exceeds the maximum",
        ),
        ({"max_token_lifetime": "forever"}, "max_token_lifetime", "must look like"),
    ],
)
def test_bad_values_are_shown_on_the_page_and_change_nothing(app, people, form, field, message):
    admin = signed_in(app, ADMIN)
    response = admin.post(settings(people.agency), {"default_inactivity_window": "90d", **form})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert re.search(rf'<p class="field-error" id="{field}-error">[^<]*{message}', response.text), response.text
    account = db.session.get(Account, people.agency.account_id)
    assert (account.default_inactivity_window, account.max_inactivity_window) == (90 * DAY, None)


def test_a_sub_account_never_exceeds_its_agencys_maximum_on_the_page(app, people):
    admin = signed_in(app, ADMIN)
    agency = {"default_inactivity_window": "30d", "max_inactivity_window": "30d", "confirmed": "yes"}
    assert admin.post(settings(people.agency), agency).status_code == 302
    response = admin.post(settings(people.sub), {"default_inactivity_window": "30d", "max_inactivity_window": "90d"})
    assert response.status_code == 400
    assert "exceeds the parent account&#39;s maximum (30d)" in response.text


def test_a_sub_accounts_own_admin_may_narrow_but_not_widen(app, people):
    owner = signed_in(app, SUB_ADMIN)
    page = owner.get(settings(people.sub)).text
    assert "data-sub-accounts" not in page and "data-account-form" in page
    lowered = owner.post(settings(people.sub), {"default_inactivity_window": "30d", "max_token_lifetime": "7d"})
    assert lowered.status_code == 200 and "data-confirm-narrowing" in lowered.text
    assert (
        owner.post(
            settings(people.sub), {"default_inactivity_window": "30d", "max_token_lifetime": "7d", "confirmed": "yes"}
        ).status_code
        == 302
    )
    widened = owner.post(settings(people.sub), {"default_inactivity_window": "30d", "max_token_lifetime": "30d"})
    assert widened.status_code == 403 and "only an admin of the parent account" in widened.text
    assert db.session.get(Account, people.sub.account_id).max_token_lifetime == 7 * DAY
    # Scopes the agency did not allow cannot be ticked back in by a forged form: only narrowing is possible.
    admin = signed_in(app, ADMIN)
    narrow = {
        "scopes_shown": "1",
        "scopes": ["contacts.readonly"],
        "default_inactivity_window": "30d",
        "max_token_lifetime": "7d",
        "confirmed": "yes",
    }
    assert admin.post(settings(people.sub), narrow).status_code == 302
    forged = owner.post(settings(people.sub), {**narrow, "scopes": ["contacts.readonly", "users.write"]})
    assert forged.status_code == 302
    assert db.session.get(Account, people.sub.account_id).allowed_scopes == "contacts.readonly"
    assert re.search(r'value="users.write"\s+disabled>', owner.get(settings(people.sub)).text)


def test_tenancy_other_accounts_are_not_found_and_members_only_view(app, people):
    admin = signed_in(app, ADMIN)
    for response in (
        admin.get(settings(people.other)),
        admin.post(settings(people.other), {"max_token_lifetime": "1d"}),
    ):
        assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")
        assert "Other" not in response.text
    owner = signed_in(app, SUB_ADMIN)
    assert owner.get(settings(people.agency)).status_code == 404  # a sub-account's admin does not see its agency
    member = signed_in(app, MEMBER)
    page = member.get(settings(people.agency))
    assert page.status_code == 200 and "data-account-form" not in page.text and "its admins change them" in page.text
    refused = member.post(settings(people.agency), {"default_inactivity_window": "30d"})
    assert refused.status_code == 403 and refused.headers["Content-Type"].startswith("text/html")
    assert db.session.get(Account, people.agency.account_id).default_inactivity_window == 90 * DAY


def test_a_change_without_the_pages_csrf_token_is_refused(app, people):
    admin = signed_in(app, ADMIN)
    response = admin.client.post(
        settings(people.agency), data={"csrf_token": "forged", "default_inactivity_window": "1d"}
    )
    assert response.status_code == 403
    assert db.session.get(Account, people.agency.account_id).default_inactivity_window == 90 * DAY


# -- an integration's window ---------------------------------------------------------------------------------
def window_path(tenant) -> str:
    return f"/accounts/{tenant.account_id}/settings/integrations/{tenant.integration_id}/inactivity"


def edit_path(tenant) -> str:
    return f"/accounts/{tenant.account_id}/settings/integrations/{tenant.integration_id}/edit"


def test_the_window_is_edited_later_and_a_shorter_one_stops_an_idle_token(app, people, client, clock):
    admin = signed_in(app, ADMIN)
    edit = admin.get(edit_path(people.agency)).text
    assert "data-window-form" in edit and '<option value="90d" selected>' in edit
    introspect(client, people, people.agency.token)  # a use, then two idle days
    clock.advance(2 * DAY)
    admin = signed_in(app, ADMIN)  # the earlier sign-in has gone idle meanwhile
    response = admin.post(window_path(people.agency), {"inactivity_window": "1d", "version": version_field(edit)})
    assert response.status_code == 302 and response.headers["Location"].endswith(people.agency.integration_id)
    assert db.session.get(Integration, people.agency.integration_id).inactivity_window == DAY
    assert introspect(client, people, people.agency.token) == {"active": False}
    detail = admin.get(response.headers["Location"]).text
    assert "expires after 1 day without use" in detail
    # A custom window is offered as it is on the edit page.
    assert '<option value="1d" selected>1 day</option>' in admin.get(edit_path(people.agency)).text


def test_a_window_above_the_maximum_is_an_error_on_the_edit_page(app, people):
    admin = signed_in(app, ADMIN)
    agency = {"default_inactivity_window": "30d", "max_inactivity_window": "30d", "confirmed": "yes"}
    assert admin.post(settings(people.agency), agency).status_code == 302
    edit = admin.get(edit_path(people.agency)).text
    assert "365d" not in edit and 'value="never"' not in edit
    response = admin.post(window_path(people.agency), {"inactivity_window": "365d", "version": version_field(edit)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/edit")
    page = admin.get(response.headers["Location"]).text
    assert "The inactivity window was not changed: Inactivity_window exceeds the account" in page
    assert db.session.get(Integration, people.agency.integration_id).inactivity_window == 30 * DAY


def test_a_member_cannot_change_a_window_and_another_accounts_integration_is_not_found(app, people):
    member = signed_in(app, MEMBER)
    assert member.post(window_path(people.agency), {"inactivity_window": "1d"}).status_code == 403
    admin = signed_in(app, ADMIN)
    other = f"/accounts/{people.agency.account_id}/settings/integrations/{people.other.integration_id}/inactivity"
    assert admin.post(other, {"inactivity_window": "1d"}).status_code == 404
    assert admin.post(window_path(people.other), {"inactivity_window": "1d"}).status_code == 404
