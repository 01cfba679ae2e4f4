"""``authserver account update`` and ``account list``: ceilings and windows set from the command line, held to the
agency's maximums, with their effect on live tokens; and errors under ``--json`` as one JSON line on stderr."""

from __future__ import annotations

import json

import pytest

from authserver.extensions import db
from authserver.models import AuditEvent
from tests.factories import basic
from tests.http.test_cli import assert_one_line_error, run_json

DAY = 86400


@pytest.fixture
def tree(runner):
    """An agency with a sub-account holding an integration (30 days window) and its live token."""
    agency = run_json(runner, "account", "create", "--name", "Agency")
    sub = run_json(runner, "account", "create", "--name", "Bakery", "--parent", agency["id"])
    integration = run_json(
        runner,
        "integration",
        "create",
        "--account",
        sub["id"],
        "--name",
        "Zapier",
        "--scope",
        "contacts.readonly",
        "--scope",
        "contacts.write",
        "--inactivity-window",
        "30d",
    )
    token = run_json(runner, "token", "generate", integration["id"])
    return agency, sub, integration, token


@pytest.fixture
def service(runner):
    created = run_json(runner, "client", "create", "--name", "contacts-api", "--kind", "resource-service")
    return basic(created["client_id"], created["client_secret"])


def introspect(client, service, token):
    response = client.post("/oauth/introspect", data={"token": token}, headers=service)
    assert response.status_code == 200, response.text
    return response.get_json()


def show(runner, account_id, integration_id):
    rows = run_json(runner, "integration", "list", "--account", account_id)["integrations"]
    return next(row for row in rows if row["id"] == integration_id)


def test_update_sets_the_windows_and_lifetime_and_list_shows_them_in_the_tree(runner, tree):
    agency, sub, _, _ = tree
    updated = run_json(
        runner,
        "account",
        "update",
        agency["id"],
        "--default-inactivity",
        "30d",
        "--max-inactivity",
        "90d",
        "--max-token-lifetime",
        "365d",
    )
    assert (updated["default_inactivity_window"], updated["max_inactivity_window"]) == (30 * DAY, 90 * DAY)
    assert updated["max_token_lifetime"] == 365 * DAY
    listed = run_json(runner, "account", "list")["accounts"]
    assert [(row["id"], row["depth"]) for row in listed] == [(agency["id"], 0), (sub["id"], 1)]
    child = listed[1]
    # The sub-account keeps its own values (90 days default from creation) but lives by its agency's maximums.
    assert child["effective_max_inactivity_window"] == 90 * DAY
    assert child["effective_max_token_lifetime"] == 365 * DAY
    assert child["effective_allowed_scopes"] and child["allowed_scopes"] is None
    text = runner.invoke(args=["account", "list"])
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0].startswith(agency["id"]) and lines[1].startswith(f"  {sub['id']}")
    assert "inactivity: default 30d, max 90d" in lines[0] and "max token lifetime: 365d" in lines[0]


def test_scope_replaces_the_ceiling_and_narrowing_applies_to_the_live_token_at_once(runner, tree, client, service):
    agency, sub, integration, token = tree
    headers = service
    assert introspect(client, headers, token["token"])["scope"] == "contacts.readonly contacts.write"
    updated = run_json(
        runner, "account", "update", agency["id"], "--scope", "contacts.readonly", "--scope", "users.readonly"
    )
    assert updated["allowed_scopes"] == ["contacts.readonly", "users.readonly"]
    assert introspect(client, headers, token["token"])["scope"] == "contacts.readonly"
    shown = show(runner, sub["id"], integration["id"])
    assert shown["scopes"] == ["contacts.readonly"]
    cleared = run_json(runner, "account", "update", agency["id"], "--all-scopes")
    assert cleared["allowed_scopes"] is None and len(cleared["effective_allowed_scopes"]) > 2
    actions = {row.action for row in db.session.query(AuditEvent).filter_by(account_id=sub["id"])}
    assert "integration.scopes_narrowed_by_account" in actions


def test_a_lower_maximum_inactivity_window_shortens_longer_windows_and_idle_tokens_stop(
    runner, tree, client, service, clock
):
    agency, sub, integration, token = tree
    assert introspect(client, service, token["token"])["active"] is True  # a use, then none for 3 days:
    clock.advance(3 * DAY)  # fine under a 30-day window, too long under 2 days
    run_json(runner, "account", "update", agency["id"], "--max-inactivity", "2d", "--default-inactivity", "1d")
    assert show(runner, sub["id"], integration["id"])["inactivity_window"] == 2 * DAY
    assert introspect(client, service, token["token"]) == {"active": False}
    trail = db.session.query(AuditEvent).filter_by(target_id=integration["id"], action="integration.updated").all()
    assert [(row.before, row.after) for row in trail] == [
        ({"inactivity_window": 30 * DAY}, {"inactivity_window": 2 * DAY})
    ]
    # A new integration of the sub-account gets its own 90-day default, capped by the agency's 2 days.
    created = run_json(
        runner, "integration", "create", "--account", sub["id"], "--name", "New", "--scope", "contacts.readonly"
    )
    assert created["inactivity_window"] == 2 * DAY


@pytest.mark.parametrize(
    ("args", "field", "fragment"),
    [
        (["--default-inactivity", "soon"], "default-inactivity", "must look like"),
        (["--max-inactivity", "30m"], "max_inactivity_window", "at least 1h"),
        (
            ["--max-inactivity", "30d", "--default-inactivity", "60d"],
            "default_inactivity_window",
            "exceeds the maximum",
        ),
        (["--max-inactivity", "30d", "--default-inactivity", "never"], "default_inactivity_window", "cannot be never"),
        (["--max-token-lifetime", "0d"], "max-token-lifetime", "must look like"),
        (["--scope", "contacts.fly"], "allowed_scopes", "contacts.fly"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_field_and_json_under_json(runner, tree, args, field, fragment):
    agency = tree[0]
    result = runner.invoke(args=["account", "update", agency["id"], *args, "--json"])
    assert_one_line_error(result, fragment)
    assert result.exit_code == 1 and result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "invalid_input" and error["field"] == field and fragment in error["detail"]
    plain = runner.invoke(args=["account", "update", agency["id"], *args])
    assert_one_line_error(plain, fragment)
    assert plain.stdout == "" and plain.stderr.startswith("Error: ")


def test_a_sub_account_never_exceeds_its_agencys_maximum(runner, tree):
    agency, sub, _, _ = tree
    run_json(runner, "account", "update", agency["id"], "--max-inactivity", "60d", "--default-inactivity", "30d")
    run_json(runner, "account", "update", agency["id"], "--max-token-lifetime", "30d")
    for args, field in (
        (["--max-inactivity", "90d"], "max_inactivity_window"),
        (["--max-token-lifetime", "31d"], "max_token_lifetime"),
        (["--default-inactivity", "61d"], "default_inactivity_window"),
    ):
        result = runner.invoke(args=["account", "update", sub["id"], *args, "--json"])
        assert result.exit_code == 1, result.output
        assert json.loads(result.stderr)["error"]["field"] == field
    assert (
        run_json(runner, "account", "update", sub["id"], "--max-inactivity", "7d")["max_inactivity_window"] == 7 * DAY
    )


def test_unknown_accounts_and_usage_errors_are_json_under_json(runner, tree):
    missing = runner.invoke(args=["account", "update", "acc_nothere", "--name", "x", "--json"])
    assert_one_line_error(missing, "not found")
    assert json.loads(missing.stderr)["error"]["code"] == "not_found"
    usage = runner.invoke(args=["account", "update", tree[0]["id"], "--bogus", "--json"])
    assert usage.exit_code == 2
    assert_one_line_error(usage, "--bogus")
    assert json.loads(usage.stderr)["error"]["code"] == "usage"
    both = runner.invoke(
        args=["account", "update", tree[0]["id"], "--scope", "contacts.readonly", "--all-scopes", "--json"]
    )
    assert both.exit_code == 2 and json.loads(both.stderr)["error"]["code"] == "usage"
    # Another command's domain error is JSON too: the change is central.
    other = runner.invoke(args=["integration", "disable", "int_nothere", "--json"])
    assert json.loads(other.stderr)["error"]["code"] == "not_found"
