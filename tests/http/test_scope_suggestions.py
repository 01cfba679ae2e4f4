"""Least-privilege suggestions: granted scopes that no reported call needed in the last 30 days, in the domain,
the admin API (narrowed through the ordinary PATCH), the CLI and the integration page's one-click Remove."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from authserver.principals import OPERATOR
from authserver.scope_suggestions import NO_REPORTS, READY, TOO_NEW, remove_scope, suggest_scope_removals
from authserver.unit_of_work import unit_of_work
from tests.factories import basic, issue_token, make_client, make_integration
from tests.http.problems import assert_problem
from tests.support.admin_ui import ADMIN, add_people, introspect, signed_in

DAY = 86400
SCOPES = ("contacts.readonly", "contacts.write", "calendars.readonly")


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def report(client, headers, jti, scope, at, count=1):
    response = client.post(
        "/oauth/usage",
        json={"uses": [{"jti": jti, "count": count, "last_used_at": iso(at), "scopes": {scope: count}}]},
        headers=headers,
    )
    assert response.status_code == 202 and response.get_json() == {"accepted": 1}, response.text


@pytest.fixture
def aged(client, world, services, clock):
    """An integration of the agency made 40 days ago (never expiring when idle) with one live token."""
    integration = make_integration(clock, world.agency.account_id, scopes=SCOPES, name="Sync", inactivity_window=None)
    issued = issue_token(services, clock, integration.id)
    clock.advance(40 * DAY)
    return integration.id, issued


def _messages(found):
    return [item.message(found.window_days) for item in found.suggestions]


# -- the domain -------------------------------------------------------------------------------------------------
def test_a_scope_used_on_day_29_is_kept_and_one_last_used_on_day_31_is_suggested(client, world, clock, aged):
    integration_id, issued = aged
    now = clock.now()
    report(client, world.rs_headers, issued.record.jti, "contacts.readonly", now - timedelta(days=29))
    report(client, world.rs_headers, issued.record.jti, "contacts.write", now - timedelta(days=31))
    found = suggest_scope_removals(OPERATOR, integration_id, now=now)
    assert found.status == READY
    assert found.used == ["contacts.readonly"]
    assert _messages(found) == [
        "calendars.readonly was never used in 30 days",
        "contacts.write was never used in 30 days",
    ]
    assert [item.description for item in found.suggestions] == [
        "View calendars and their events",
        "Create, edit and delete contacts",
    ]
    assert all(item.removable for item in found.suggestions)
    # The window is a parameter: over 32 days, contacts.write was used.
    wider = suggest_scope_removals(OPERATOR, integration_id, now=now, window_days=32)
    assert [item.scope for item in wider.suggestions] == ["calendars.readonly"]


def test_a_call_that_needed_no_scope_is_evidence_but_exercises_none(client, world, clock, aged):
    integration_id, issued = aged
    report(client, world.rs_headers, issued.record.jti, "", clock.now())
    found = suggest_scope_removals(OPERATOR, integration_id, now=clock.now())
    assert found.status == READY and [item.scope for item in found.suggestions] == sorted(SCOPES)


def test_a_new_integration_is_not_told_to_drop_what_it_has_not_used_yet(client, world, services, clock):
    integration = make_integration(clock, world.agency.account_id, scopes=SCOPES, name="New")
    issued = issue_token(services, clock, integration.id)
    clock.advance(20 * DAY)
    report(client, world.rs_headers, issued.record.jti, "contacts.readonly", clock.now())
    found = suggest_scope_removals(OPERATOR, integration.id, now=clock.now())
    assert (found.status, found.suggestions, found.used) == (TOO_NEW, [], ["contacts.readonly"])


def test_without_any_reported_call_nothing_is_suggested(world, clock, aged):
    found = suggest_scope_removals(OPERATOR, aged[0], now=clock.now())
    assert (found.status, found.suggestions) == (NO_REPORTS, [])
    assert "No service reported a call" in found.reason


def test_the_only_scope_is_never_offered_for_removal(client, world, services, clock):
    integration = make_integration(clock, world.agency.account_id, scopes=["contacts.write"], inactivity_window=None)
    issued = issue_token(services, clock, integration.id)
    clock.advance(31 * DAY)
    report(client, world.rs_headers, issued.record.jti, "", clock.now())
    found = suggest_scope_removals(OPERATOR, integration.id, now=clock.now())
    assert [(item.scope, item.removable) for item in found.suggestions] == [("contacts.write", False)]
    with pytest.raises(Exception, match="only scope"), unit_of_work():
        remove_scope(OPERATOR, integration.id, "contacts.write", now=clock.now(), expected_version=None)


def test_calls_another_service_reported_count_too(client, world, clock, aged):
    integration_id, issued = aged
    other = basic(*make_client(clock, kind="resource-service", name="calendar-service"))
    report(client, world.rs_headers, issued.record.jti, "contacts.readonly", clock.now())
    report(client, other, issued.record.jti, "calendars.readonly", clock.now())
    found = suggest_scope_removals(OPERATOR, integration_id, now=clock.now())
    assert [item.scope for item in found.suggestions] == ["contacts.write"]


# -- the admin API ----------------------------------------------------------------------------------------------
def test_api_lists_suggestions_and_the_ordinary_patch_narrows_the_live_token(client, world, clock, aged):
    integration_id, issued = aged
    report(client, world.rs_headers, issued.record.jti, "contacts.readonly", clock.now())
    response = client.get(f"/api/integrations/{integration_id}/suggestions", headers=world.agency.admin_headers)
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["status"] == "ready" and body["window_days"] == 30
    assert body["used_scopes"] == ["contacts.readonly"]
    write = next(item for item in body["suggestions"] if item["scope"] == "contacts.write")
    assert write["message"] == "contacts.write was never used in 30 days"
    assert write["description"] == "Create, edit and delete contacts"
    assert write["remaining_scopes"] == ["calendars.readonly", "contacts.readonly"]
    narrowed = client.patch(
        f"/api/integrations/{integration_id}",
        json={"scopes": write["remaining_scopes"]},
        headers={**world.agency.admin_headers, "If-Match": f'"{body["version"]}"'},
    )
    assert narrowed.status_code == 200, narrowed.text
    assert introspect(client, world, issued.token)["scope"] == "calendars.readonly contacts.readonly"
    again = client.get(f"/api/integrations/{integration_id}/suggestions", headers=world.agency.admin_headers)
    assert [item["scope"] for item in again.get_json()["suggestions"]] == ["calendars.readonly"]


@pytest.mark.parametrize("days", ["0", "366", "x", "-1", "1.5", "99999"])
def test_api_refuses_a_bad_window_naming_the_field(client, world, aged, days):
    response = client.get(f"/api/integrations/{aged[0]}/suggestions?days={days}", headers=world.agency.admin_headers)
    assert_problem(response, 400, field="days")


def test_api_another_tenants_integration_is_not_found(client, world, aged):
    response = client.get(f"/api/integrations/{aged[0]}/suggestions", headers=world.other.admin_headers)
    assert_problem(response, 404)
    assert_problem(client.get(f"/api/integrations/{aged[0]}/suggestions"), 401)


# -- the CLI ----------------------------------------------------------------------------------------------------
def test_cli_suggestions_json_and_text(runner, client, world, clock, aged):
    integration_id, issued = aged
    report(client, world.rs_headers, issued.record.jti, "contacts.readonly", clock.now() - timedelta(days=29))
    result = runner.invoke(args=["integration", "suggestions", integration_id, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [item["scope"] for item in body["suggestions"]] == ["calendars.readonly", "contacts.write"]
    text = runner.invoke(args=["integration", "suggestions", integration_id])
    assert text.stdout.splitlines() == [
        "calendars.readonly was never used in 30 days: View calendars and their events",
        "contacts.write was never used in 30 days: Create, edit and delete contacts",
    ]
    narrower = runner.invoke(args=["integration", "suggestions", integration_id, "--days", "28", "--json"])
    narrow = json.loads(narrower.stdout)
    assert (narrow["status"], narrow["suggestions"]) == ("no_reports", [])  # no call in 28 days: no evidence, no advice
    assert "default: 30" in runner.invoke(args=["integration", "suggestions", "--help"]).stdout


@pytest.mark.parametrize(
    ("args", "fragment", "code"),
    [
        (["integration-that-is-not-there"], "not found", 1),
        (["x", "--days", "0"], "--days", 2),
        (["x", "--days", "many"], "--days", 2),
    ],
)
def test_cli_errors_are_one_line_and_json_under_json(runner, world, args, fragment, code):
    result = runner.invoke(args=["integration", "suggestions", *args, "--json"])
    assert result.exit_code == code
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.output
    assert "error" in json.loads(lines[0])


# -- the integration page ---------------------------------------------------------------------------------------
def _page(admin, world, integration_id):
    return admin.get(f"/accounts/{world.agency.account_id}/settings/integrations/{integration_id}")


def test_page_card_says_what_was_never_used_and_remove_narrows_at_once(app, client, world, clock, aged):
    integration_id, issued = aged
    add_people(world, clock, member=False)
    admin = signed_in(app, ADMIN)
    report(client, world.rs_headers, issued.record.jti, "contacts.readonly", clock.now())
    page = _page(admin, world, integration_id).text
    card = re.search(r'<section class="card" id="suggestions".*?</section>', page, re.S).group(0)
    assert "<code>contacts.write</code> was never used in 30 days" in card
    assert "Create, edit and delete contacts" in card
    assert "contacts.readonly</code> was never" not in card
    base = f"/accounts/{world.agency.account_id}/settings/integrations/{integration_id}"
    confirm = admin.get(f"{base}?confirm=remove-contacts-write").text  # the confirmation without script
    dialog = re.search(r'<dialog id="confirm-remove-contacts-write".*?</dialog>', confirm, re.S).group(0)
    assert "open data-autoshow" in dialog
    assert "any call that needs it is refused" in dialog
    version = re.search(r'name="version" value="(\d+)"', dialog).group(1)
    done = admin.post(f"{base}/scopes/remove", {"scope": "contacts.write", "version": version})
    assert done.status_code == 302
    assert introspect(client, world, issued.token)["scope"] == "calendars.readonly contacts.readonly"
    after = admin.get(base).text
    assert "Removed contacts.write." in after
    assert "contacts.write</code> was never" not in after


@pytest.mark.parametrize("scope", ["users.write", "", "<b>", "contacts.readonly contacts.write"])
def test_page_remove_of_a_scope_not_held_changes_nothing(app, client, world, clock, aged, scope):
    integration_id, issued = aged
    add_people(world, clock, member=False)
    admin = signed_in(app, ADMIN)
    base = f"/accounts/{world.agency.account_id}/settings/integrations/{integration_id}"
    response = admin.post(f"{base}/scopes/remove", {"scope": scope}, follow_redirects=True)
    assert response.status_code == 200
    assert "The integration does not hold" in response.text and "<b>" not in response.text
    assert introspect(client, world, issued.token)["scope"] == " ".join(sorted(SCOPES))


def test_page_remove_needs_the_csrf_token_and_the_right_tenant(app, client, world, clock, aged):
    integration_id, issued = aged
    add_people(world, clock, member=False)
    admin = signed_in(app, ADMIN)
    base = f"/accounts/{world.agency.account_id}/settings/integrations/{integration_id}"
    no_token = admin.client.post(f"{base}/scopes/remove", data={"scope": "contacts.write"})
    assert no_token.status_code == 403
    other = f"/accounts/{world.other.account_id}/settings/integrations/{world.other.integration_id}/scopes/remove"
    assert admin.post(other, {"scope": "contacts.readonly"}).status_code == 404
    wrong_account = f"/accounts/{world.other.account_id}/settings/integrations/{integration_id}/scopes/remove"
    assert admin.post(wrong_account, {"scope": "contacts.write"}).status_code == 404
    assert introspect(client, world, issued.token)["scope"] == " ".join(sorted(SCOPES))
    assert introspect(client, world, world.other.token)["scope"] == "contacts.readonly"
