"""POST /secret-scanning/alerts through the Flask test client, with the scanner's key document served for real by a
local HTTP server and alerts signed with a key generated here (``cryptography``): labels, revocation and its
records, idempotence, and every refused input with its status (404, 401, 400, 413, 429; never a 500)."""

from __future__ import annotations

import html
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import AccessToken, AuditEvent, TokenEvent, WebhookDelivery, WebhookEvent
from authserver.secret_scanning.alerts import MAX_ALERT_BYTES, MAX_ENTRIES
from tests.support.admin_ui import ADMIN, add_people, detail_path, signed_in
from tests.support.secret_scanner import ALERT_PATH, KeyServer, ScannerKey, alert_body, key_document

from . import forge

LEAK_URL = "https://github.com/octo/app/blob/main/.env"
SCANNER_KEY = ScannerKey()


@pytest.fixture(scope="module")
def key_server():
    with KeyServer(key_document(SCANNER_KEY)) as server:
        yield server


@pytest.fixture
def app_config(app_config, key_server, request):
    overrides = {"AUTHSERVER_SECRET_SCANNING_KEYS_URL": key_server.url}
    overrides |= getattr(request, "param", {})
    return app_config | overrides


def post_alert(client, body: bytes, headers: dict | None = None):
    return client.post(ALERT_PATH, data=body, headers=SCANNER_KEY.headers(body) if headers is None else headers)


def labels(response) -> list[str]:
    return [entry["label"] for entry in response.get_json()]


def is_active(client, world, token) -> bool:
    return client.post("/oauth/introspect", data={"token": token}, headers=world.rs_headers).get_json()["active"]


def leak_rows() -> list[AuditEvent]:
    return list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.leaked").order_by(AuditEvent.id))
    )


def other_issuers_jwt() -> str:
    """A well-formed RFC 9068 token of someone else's server."""
    key = ec.generate_private_key(ec.SECP256R1())
    claims = {"iss": "https://auth.other.example", "sub": "x", "aud": "api", "exp": 4102444800, "jti": "tok_x"}
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "at+jwt", "kid": "theirs"})


# -- what an alert does -----------------------------------------------------------------------------------------
def test_a_live_token_of_ours_is_true_positive_and_revoked_at_once_with_its_records(client, world):
    body = alert_body(world.agency.token, url=LEAK_URL, source="commit")
    response = post_alert(client, body)
    assert response.status_code == 200
    assert response.get_json() == [
        {"token_raw": world.agency.token, "token_type": "authserver_access_token", "label": "true_positive"}
    ]
    assert not is_active(client, world, world.agency.token)
    row = db.session.get(AccessToken, world.agency.jti)
    assert row.revocation_reason == "leaked" and row.revoked_at is not None
    tokens = client.get(f"/api/integrations/{world.agency.integration_id}/tokens", headers=world.agency.admin_headers)
    [listed] = [item for item in tokens.get_json()["tokens"] if item["token_id"] == world.agency.jti]
    assert listed["status"] == "revoked"
    [entry] = leak_rows()
    assert (entry.account_id, entry.target_type, entry.target_id) == (
        world.agency.account_id,
        "integration",
        world.agency.integration_id,
    )
    assert entry.actor_type == "secret_scanner" and entry.actor_id == SCANNER_KEY.identifier
    assert entry.after == {
        "token": world.agency.jti,
        "revoked": True,
        "url": LEAK_URL,
        "source": "commit",
        "token_type": "authserver_access_token",
    }
    [feed] = db.session.scalars(select(TokenEvent).where(TokenEvent.jti == world.agency.jti)).all()
    assert feed.type == "token.revoked" and feed.data["reason"] == "leaked"
    everything = json.dumps([entry.after, entry.before, feed.data])
    assert world.agency.token not in everything  # where it leaked, never the token


def test_every_entry_is_answered_in_order_and_only_ours_are_true_positive(client, services, world):
    unknown = forge.resign(services, world.other.token, claims={"jti": "tok_" + "z" * 32})  # our key, no record
    found = [
        world.agency.token,
        "garbage",
        other_issuers_jwt(),
        unknown,
        forge.foreign_key(world.sub.token),
        world.sub.token,
    ]
    response = post_alert(client, alert_body(*found))
    assert response.status_code == 200
    assert [entry["token_raw"] for entry in response.get_json()] == found
    assert labels(response) == [
        "true_positive",
        "false_positive",
        "false_positive",
        "false_positive",
        "false_positive",
        "true_positive",
    ]
    assert not is_active(client, world, world.agency.token) and not is_active(client, world, world.sub.token)
    assert is_active(client, world, world.other.token)  # resigned under another jti: its own record untouched


def test_a_token_already_dead_is_true_positive_recorded_once_and_not_revoked_again(client, world):
    assert client.post("/oauth/revoke", data={"token": world.other.token}).status_code == 200  # RFC 7009, by its holder
    before = db.session.get(AccessToken, world.other.jti).revoked_at
    body = alert_body(world.other.token)
    for _ in range(2):  # the scanner's retry
        response = post_alert(client, body)
        assert labels(response) == ["true_positive"]
    row = db.session.get(AccessToken, world.other.jti)
    assert (row.revocation_reason, row.revoked_at) == ("revoked", before)
    [entry] = leak_rows()
    assert entry.after["revoked"] is False
    assert db.session.scalar(select(func.count()).select_from(TokenEvent).where(TokenEvent.jti == row.jti)) == 1


def test_a_repeated_alert_is_idempotent(client, world):
    body = alert_body(world.agency.token)
    first, second = post_alert(client, body), post_alert(client, body)
    assert first.get_json() == second.get_json() and labels(first) == ["true_positive"]
    [entry] = leak_rows()  # the retry adds nothing: same token, same place
    assert entry.after["revoked"] is True
    assert (
        db.session.scalar(select(func.count()).select_from(TokenEvent).where(TokenEvent.jti == world.agency.jti)) == 1
    )
    elsewhere = post_alert(client, alert_body(world.agency.token, url="https://gist.github.com/x"))
    assert labels(elsewhere) == ["true_positive"]
    assert [row.after["revoked"] for row in leak_rows()] == [True, False]  # a new place is a new report


def test_a_disabled_integrations_token_is_revoked_so_enabling_does_not_bring_it_back(client, world):
    path = f"/api/integrations/{world.agency.integration_id}"
    assert client.post(f"{path}/disable", headers=world.agency.admin_headers).status_code == 200
    assert labels(post_alert(client, alert_body(world.agency.token))) == ["true_positive"]
    assert client.post(f"{path}/enable", headers=world.agency.admin_headers).status_code == 200
    assert not is_active(client, world, world.agency.token)
    assert leak_rows()[0].after["revoked"] is True


WEBHOOKS_TO_LOOPBACK = {"AUTHSERVER_WEBHOOK_ALLOW_HTTP": True, "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": ["127.0.0.1"]}


@pytest.mark.parametrize("app_config", [WEBHOOKS_TO_LOOPBACK], indirect=True)
def test_the_accounts_subscribers_get_token_leaked_and_only_for_a_revocation(client, world):
    hook = client.post(
        f"/api/accounts/{world.agency.account_id}/webhooks",
        headers=world.agency.admin_headers,
        json={"url": "http://127.0.0.1:9/hook", "events": ["token.leaked"]},
    )
    assert hook.status_code == 201, hook.get_json()
    body = alert_body(world.agency.token, source="content")
    post_alert(client, body)
    post_alert(client, alert_body(world.agency.token, url="https://gist.github.com/x"))  # already dead: no webhook
    [event] = db.session.scalars(select(WebhookEvent).where(WebhookEvent.type == "token.leaked")).all()
    payload = json.loads(event.body)["data"]
    assert payload["token_id"] == world.agency.jti and payload["reason"] == "leaked"
    assert payload["leak"] == {"url": LEAK_URL, "source": "content", "token_type": "authserver_access_token"}
    assert world.agency.token not in event.body
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_the_integration_page_and_the_audit_api_show_the_leak(app, client, clock, world):
    add_people(world, clock, member=False)
    post_alert(client, alert_body(world.agency.token, url=LEAK_URL))
    admin = signed_in(app, ADMIN)
    page = admin.get(detail_path(world.agency))
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Token found in public by a secret scanner" in text
    assert f"Leak reported: {LEAK_URL} · token {world.agency.jti}, revoked at once" in text
    assert re.search(rf'data-token="{world.agency.jti}" data-status="revoked"', page.text)
    audit = client.get(f"/api/accounts/{world.agency.account_id}/audit", headers=world.agency.admin_headers)
    [entry] = [item for item in audit.get_json()["events"] if item["action"] == "token.leaked"]
    assert entry["after"]["url"] == LEAK_URL and entry["actor"] == {
        "type": "secret_scanner",
        "id": SCANNER_KEY.identifier,
    }
    assert world.agency.token not in page.text + audit.text


# -- refused alerts ---------------------------------------------------------------------------------------------
def _signed(body: bytes) -> tuple[bytes, dict]:
    return body, SCANNER_KEY.headers(body)


def _refusals() -> dict[str, tuple[bytes, dict, int, str]]:
    good = alert_body("eyJhbGciOi.x.y")
    other = ScannerKey(identifier=SCANNER_KEY.identifier)
    headers = SCANNER_KEY.headers(good)
    cases: dict[str, tuple[bytes, dict]] = {
        "no identifier": (good, {k: v for k, v in headers.items() if k != "Github-Public-Key-Identifier"}),
        "no signature": (good, {k: v for k, v in headers.items() if k != "Github-Public-Key-Signature"}),
        "no headers": (good, {"Content-Type": "application/json"}),
        "unknown key": (good, headers | {"Github-Public-Key-Identifier": "f" * 64}),
        "bad base64": (good, headers | {"Github-Public-Key-Signature": "!!not-base64!!"}),
        "another key": (good, headers | {"Github-Public-Key-Signature": other.sign(good)}),
        "another body": (good + b" ", headers),
        "garbage signature": (good, headers | {"Github-Public-Key-Signature": "AAAA"}),
    }
    refused = {name: (body, head, 401, "invalid_signature") for name, (body, head) in cases.items()}
    malformed = {
        "not json": b"{not json",
        "an object": b'{"token": "x", "type": "authserver_access_token"}',
        "empty array": b"[]",
        "entry not an object": b'["eyJ"]',
        "no token": b'[{"type": "authserver_access_token"}]',
        "token not a string": b'[{"token": 1, "type": "authserver_access_token"}]',
        "no type": b'[{"token": "x"}]',
        "url too long": json.dumps([{"token": "x", "type": "t", "url": "u" * 5000}]).encode(),
        "too many entries": json.dumps([{"token": "x", "type": "t"}] * (MAX_ENTRIES + 1)).encode(),
        "deep nesting": b"[" * 50000 + b"]" * 50000,
        "lone surrogate": b'[{"token": "x", "type": "t", "source": "\\udc00"}]',
        "not utf-8": b'[{"token": "\xff", "type": "t"}]',
    }
    refused |= {name: (*_signed(body), 400, "invalid_request") for name, body in malformed.items()}
    huge = b'[{"token": "' + b"a" * MAX_ALERT_BYTES + b'", "type": "t"}]'
    refused["too large"] = (*_signed(huge), 413, "request_entity_too_large")
    return refused


REFUSALS = _refusals()


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_alert_gets_its_status_and_changes_nothing(client, world, case):
    body, headers, status, code = REFUSALS[case]
    response = client.post(ALERT_PATH, data=body, headers=headers)
    assert response.status_code == status, response.get_data()[:300]
    assert response.get_json()["error"] == code
    assert is_active(client, world, world.agency.token)
    assert leak_rows() == []


def test_a_valid_alert_naming_a_token_signed_over_other_bytes_is_refused_not_judged(client, world):
    body = alert_body(world.agency.token)
    response = client.post(ALERT_PATH, data=body, headers=SCANNER_KEY.headers(alert_body("something else")))
    assert response.status_code == 401
    assert is_active(client, world, world.agency.token)


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_are_not_allowed(client, method):
    assert getattr(client, method)(ALERT_PATH).status_code == 405


@pytest.mark.parametrize("app_config", [{"AUTHSERVER_SECRET_SCANNING_KEYS_URL": None}], indirect=True)
def test_without_a_keys_url_the_endpoint_is_off(client, world):
    body = alert_body(world.agency.token)
    response = post_alert(client, body)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    assert is_active(client, world, world.agency.token)


@pytest.mark.parametrize("app_config", [{"AUTHSERVER_RATE_LIMIT_REVOCATION": "2/1m"}], indirect=True)
def test_alerts_are_rate_limited_per_address_like_holder_revocation(client, world):
    bad = (b"[]", {"Github-Public-Key-Identifier": "x", "Github-Public-Key-Signature": "AAAA"})
    assert [client.post(ALERT_PATH, data=bad[0], headers=bad[1]).status_code for _ in range(2)] == [401, 401]
    response = post_alert(client, alert_body(world.agency.token))
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert is_active(client, world, world.agency.token)


def test_the_key_document_is_fetched_once_for_many_alerts_and_forged_identifiers(client, world, key_server):
    start = key_server.hits
    for index in range(5):
        post_alert(client, alert_body(f"garbage-{index}"))
        body = alert_body("x")
        forged = SCANNER_KEY.headers(body) | {"Github-Public-Key-Identifier": f"forged-{index}"}
        assert client.post(ALERT_PATH, data=body, headers=forged).status_code == 401
    assert key_server.hits - start == 1


def test_holder_revocation_rfc7009_is_unchanged(client, world):
    response = client.post("/oauth/revoke", data={"token": world.agency.token})
    assert (response.status_code, response.get_json()) == (200, {})
    row = db.session.get(AccessToken, world.agency.jti)
    assert row.revocation_reason == "revoked"
    assert leak_rows() == []


def test_concurrent_copies_of_an_alert_revoke_once_and_all_answer_true_positive(app, world):
    """The scanner may deliver the same alert twice at once: exactly one revokes (a conditional write), the others
    find the token already dead and the report already recorded."""
    body = alert_body(world.agency.token)
    start = threading.Barrier(6)

    def send(_index: int):
        start.wait(timeout=10)
        with app.test_client() as client:
            response = post_alert(client, body)
            return response.status_code, labels(response)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send, range(6)))
    assert answers == [(200, ["true_positive"])] * 6
    db.session.remove()
    [entry] = leak_rows()
    assert entry.after["revoked"] is True
    assert (
        db.session.scalar(select(func.count()).select_from(TokenEvent).where(TokenEvent.jti == world.agency.jti)) == 1
    )
