"""Consistency and care (issue 17 §6), over HTTP: one status vocabulary, the Scopes card's difference from the live
token, when an idle token's window ended, grace ends and self-revocations in the audit trail, HTML 405 pages for
the UI, 415 for bodies that are not JSON on the admin API, and confirmations before destructive actions."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from authserver.durations import isoformat
from authserver.extensions import db
from authserver.models import AccessToken, AuditEvent, WebhookEvent
from tests.factories import issue_token, make_integration
from tests.support.admin_ui import ADMIN, add_people, detail_path, signed_in


@pytest.fixture
def app_config(app_config):
    return {**app_config, "AUTHSERVER_WEBHOOK_ALLOW_HTTP": True, "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": ["127.0.0.1"]}


@pytest.fixture
def admin(app, world, clock):
    add_people(world, clock, member=False)
    return signed_in(app, ADMIN)


def _run_json(runner, *args):
    result = runner.invoke(args=[*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _tokens(client, world, integration_id):
    response = client.get(f"/api/integrations/{integration_id}/tokens", headers=world.agency.admin_headers)
    assert response.status_code == 200, response.text
    return {row["token_id"]: row for row in response.get_json()["tokens"]}


def _audit(action, target_id):
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action, AuditEvent.target_id == target_id)
    ).all()


# -- one vocabulary ----------------------------------------------------------------------------------------
def test_expire_now_reads_expired_in_the_api_the_cli_and_the_page(client, runner, admin, world):
    agency = world.agency
    done = client.post(f"/api/integrations/{agency.integration_id}/expire", headers=agency.admin_headers, json={})
    assert done.status_code == 200, done.text
    assert _tokens(client, world, agency.integration_id)[agency.jti]["status"] == "expired"
    listed = _run_json(runner, "token", "list", agency.integration_id)["tokens"]
    assert [row["status"] for row in listed if row["token_id"] == agency.jti] == ["expired"]
    page = admin.get(detail_path(agency)).text
    row = re.search(rf'<tr data-token="{agency.jti}" data-status="([a-z_]+)">(.*?)</tr>', page, re.S)
    assert row and row.group(1) == "expired" and "Expired" in row.group(2) and "Revoked" not in row.group(2)


def test_a_grace_end_and_expire_now_read_the_same(client, clock, world):
    agency = world.agency
    rotated = client.post(
        f"/api/integrations/{agency.integration_id}/rotate", headers=agency.admin_headers, json={"grace": "1h"}
    )
    assert rotated.status_code in (200, 201), rotated.text
    clock.advance(2 * 3600)
    assert _tokens(client, world, agency.integration_id)[agency.jti]["status"] == "expired"
    client.post(f"/api/integrations/{agency.integration_id}/expire", headers=agency.admin_headers, json={})
    statuses = {row["status"] for row in _tokens(client, world, agency.integration_id).values()}
    assert statuses == {"expired"}


def test_an_rfc_7009_revocation_still_reads_revoked(client, world):
    agency = world.agency
    assert client.post("/oauth/revoke", data={"token": agency.token}).status_code == 200
    assert _tokens(client, world, agency.integration_id)[agency.jti]["status"] == "revoked"


# -- the Scopes card after widening ------------------------------------------------------------------------
def test_widened_scopes_are_marked_until_rotation(client, admin, world):
    agency = world.agency
    widened = client.patch(
        f"/api/integrations/{agency.integration_id}",
        headers=agency.admin_headers,
        json={"scopes": ["contacts.readonly", "contacts.write"]},
    )
    assert widened.status_code == 200, widened.text
    page = admin.get(detail_path(agency)).text
    marked = re.search(r'<div class="scope-pending"[^>]*id="scopes-not-in-token"[^>]*>(.*?)</div>', page, re.S)
    assert marked, "the Scopes card does not mark the scopes the live token lacks"
    assert "contacts.write" in marked.group(1) and "contacts.readonly" not in marked.group(1)
    assert "rotate to get it" in marked.group(1)

    rotated = client.post(
        f"/api/integrations/{agency.integration_id}/rotate", headers=agency.admin_headers, json={"mode": "now"}
    )
    assert rotated.status_code in (200, 201), rotated.text
    assert 'id="scopes-not-in-token"' not in admin.get(detail_path(agency)).text


def test_no_mark_when_the_token_has_every_scope(admin, world):
    assert 'id="scopes-not-in-token"' not in admin.get(detail_path(world.agency)).text


# -- an inactivity expiry records when the window ended -------------------------------------------------------
def test_an_idle_token_ends_when_its_window_ended_not_when_the_job_ran(app, client, runner, clock, services, world):
    agency = world.agency
    subscribed = client.post(
        f"/api/accounts/{agency.account_id}/webhooks",
        headers=agency.admin_headers,
        json={"url": "http://127.0.0.1:9/hook", "events": ["token.expired"]},
    )
    assert subscribed.status_code == 201, subscribed.text
    integration = make_integration(clock, agency.account_id, name="Idle", inactivity_window=3600)
    issued = issue_token(services, clock, integration.id)
    window_end = issued.record.issued_at + timedelta(seconds=3600)
    clock.advance(5 * 3600)  # the job runs four hours after the window ended
    assert _run_json(runner, "token", "expire-inactive") == {"expired": [issued.record.jti]}

    db.session.expire_all()
    row = db.session.get(AccessToken, issued.record.jti)
    assert row.revoked_at == window_end and row.ended_at == window_end
    listed = _tokens(client, world, integration.id)[issued.record.jti]
    assert listed["status"] == "expired_inactive" and listed["revoked_at"] == isoformat(window_end)
    [audited] = _audit("token.expired_inactive", issued.record.jti)
    assert audited.after["ended_at"] == isoformat(window_end)
    bodies = [json.loads(event.body) for event in db.session.scalars(select(WebhookEvent)).all()]
    [sent] = [body for body in bodies if body["data"].get("token_id") == issued.record.jti]
    assert sent["data"]["reason"] == "inactive" and sent["data"]["ended_at"] == isoformat(window_end)


# -- the audit trail -----------------------------------------------------------------------------------------
def test_a_grace_end_is_recorded_once_in_the_audit_trail(app, client, runner, admin, clock, world):
    agency = world.agency
    rotated = client.post(
        f"/api/integrations/{agency.integration_id}/rotate", headers=agency.admin_headers, json={"grace": "1h"}
    )
    assert rotated.status_code in (200, 201), rotated.text
    ends_at = clock.now() + timedelta(hours=1)
    clock.advance(3 * 3600)
    _run_json(runner, "token", "expire-inactive")
    _run_json(runner, "token", "expire-inactive")  # idempotent: one row per grace end
    [row] = _audit("token.grace_ended", agency.integration_id)  # on the integration's trail, naming the token
    assert row.after["token"] == agency.jti and row.account_id == agency.account_id and row.actor_type == "system"
    assert row.occurred_at == ends_at and row.after["ended_at"] == isoformat(ends_at)
    trail = client.get(f"/api/accounts/{agency.account_id}/audit", headers=agency.admin_headers).get_json()
    assert any(entry["action"] == "token.grace_ended" for entry in trail["events"])
    page = signed_in(app, ADMIN).get(detail_path(agency)).text  # hours later: a fresh session
    assert "Grace period ended" in page and agency.jti in page


def test_a_grace_period_cut_short_is_not_recorded_as_ended(client, runner, clock, world):
    agency = world.agency
    client.post(f"/api/integrations/{agency.integration_id}/rotate", headers=agency.admin_headers, json={"grace": "1h"})
    client.post(
        f"/api/integrations/{agency.integration_id}/expire", headers=agency.admin_headers, json={"token_id": agency.jti}
    )
    clock.advance(3 * 3600)
    _run_json(runner, "token", "expire-inactive")
    assert _audit("token.grace_ended", agency.integration_id) == []


def test_a_self_revocation_names_the_tokens_integration_as_the_actor(client, world):
    agency = world.agency
    assert client.post("/oauth/revoke", data={"token": agency.token}).status_code == 200
    [row] = _audit("token.revoked", agency.jti)
    assert (row.actor_type, row.actor_id) == ("token_holder", agency.integration_id)
    trail = client.get(f"/api/accounts/{agency.account_id}/audit", headers=agency.admin_headers).get_json()
    [entry] = [e for e in trail["events"] if e["action"] == "token.revoked"]
    assert entry["actor"] == {"type": "token_holder", "id": agency.integration_id}
    assert agency.token not in json.dumps(trail)


# -- a POST-only page opened in the browser; bodies that are not JSON ---------------------------------------
def test_a_get_to_a_post_only_page_is_an_html_405_page(admin, world):
    base = f"/accounts/{world.agency.account_id}/settings"
    for path in (f"{base}/webhooks/wh_123/delete", f"{detail_path(world.agency)}/rotate", f"{base}/v1-keys/k/migrate"):
        response = admin.get(path)
        assert response.status_code == 405, path
        assert response.mimetype == "text/html" and "POST" in response.headers["Allow"]
        assert "<h1>Method Not Allowed</h1>" in response.text and '"error"' not in response.text
        assert "style-src 'self'" in response.headers["Content-Security-Policy"]  # the page's stylesheet loads


def test_api_and_oauth_405s_stay_json(client):
    api = client.get("/api/integrations/x/rotate")
    assert api.status_code == 405 and api.mimetype == "application/problem+json"
    oauth = client.get("/oauth/revoke")
    assert oauth.status_code == 405 and oauth.mimetype == "application/json" and "POST" in oauth.headers["Allow"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "mode=now"),
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="mode"\r\n\r\nnow\r\n--x--\r\n',
        ),
        ("text/plain", '{"mode": "now"}'),
    ],
)
def test_a_body_that_is_not_json_is_415_send_json(client, world, content_type, body):
    agency = world.agency
    response = client.post(
        f"/api/integrations/{agency.integration_id}/rotate",
        headers={**agency.admin_headers, "Content-Type": content_type},
        data=body,
    )
    assert response.status_code == 415 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 415 and "send JSON" in problem["detail"]
    assert problem["type"].endswith("/unsupported_media_type")
    assert _tokens(client, world, agency.integration_id)[agency.jti]["status"] == "active"  # nothing happened


def test_json_with_a_charset_and_an_empty_body_still_work(client, world):
    agency = world.agency
    with_charset = client.post(
        f"/api/integrations/{agency.integration_id}/rotate",
        headers={**agency.admin_headers, "Content-Type": "application/json; charset=utf-8"},
        data='{"mode": "now"}',
    )
    assert with_charset.status_code in (200, 201), with_charset.text
    empty = client.post(f"/api/integrations/{agency.integration_id}/disable", headers=agency.admin_headers)
    assert empty.status_code == 200, empty.text


# -- confirmations -----------------------------------------------------------------------------------------
def test_unsubscribe_migrate_and_roll_back_ask_first(client, admin, world):
    agency = world.agency
    created = client.post(
        f"/api/accounts/{agency.account_id}/webhooks",
        headers=agency.admin_headers,
        json={"url": "http://127.0.0.1:9/hook"},
    )
    hook = created.get_json()["id"]
    base = f"/accounts/{agency.account_id}/settings/webhooks"
    page = admin.get(base).text
    assert re.search(rf'<a [^>]*href="{base}\?confirm=unsubscribe-{hook}"[^>]*>Unsubscribe</a>', page)
    assert not re.search(r"<dialog[^>]*\bopen\b", page)  # nothing open until asked
    asked = admin.get(f"{base}?confirm=unsubscribe-{hook}").text
    dialog = re.search(rf'<dialog id="confirm-unsubscribe-{hook}"[^>]*\bopen\b[^>]*>(.*?)</dialog>', asked, re.S)
    assert dialog and f'action="{base}/{hook}/delete"' in dialog.group(1) and "Cancel" in dialog.group(1)
