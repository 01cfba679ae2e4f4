"""Leaked-token alerts end to end: a real ``authserver run`` on 127.0.0.1, the scanner's key document served by a
local HTTP server (a P-256 key generated here), alerts signed with that key, a real webhook receiver (signatures
checked with libsodium) and a real SMTP receiver (aiosmtpd). Ours live and already revoked, another issuer's JWT and
garbage: the labels, the live token inactive at once, the audit entries, the webhook, the mail; RFC 7009 holder
revocation as it was. A keys URL that is neither https nor loopback is one ``Error:`` line at start."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import jwt
import pytest
import requests
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.test_expiry_mail import Inbox
from tests.e2e.ui.conftest import _cli_seed
from tests.factories import basic
from tests.support.secret_scanner import ALERT_PATH, KeyServer, ScannerKey, alert_body, key_document
from tests.support.servers import free_port, make_authserver
from tests.support.webhook_receiver import WebhookReceiver, verify_ed25519

PASSWORD = "correct horse battery"  # noqa: S105 (a test user's)
SENDER = "authserver@agency.test"
LEAK_URL = "https://github.com/octo/shop/blob/4f2a/config/.env"
SCANNER_KEY = ScannerKey()


@pytest.fixture(scope="module")
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, inbox):
    handler, smtp_port = inbox
    with KeyServer(key_document(SCANNER_KEY)) as keys, WebhookReceiver() as receiver:
        server = make_authserver(
            tmp_path_factory.mktemp("secret-scanning"),
            AUTHSERVER_SECRET_SCANNING_KEYS_URL=keys.url,
            AUTHSERVER_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
            AUTHSERVER_MAIL_FROM=SENDER,
            AUTHSERVER_WEBHOOK_WORKER="in-process",
            AUTHSERVER_WEBHOOK_ALLOW_HTTP="on",
            AUTHSERVER_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
            AUTHSERVER_WEBHOOK_POLL_INTERVAL="0.1",
        )
        user = ["user", "create", "--password-stdin", "--json", "--account", "{0[id]}", "--email"]
        seeded = _cli_seed(
            server,
            ["account", "create", "--name", "Northwind Agency", "--json"],
            ["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"],
            ["client", "create", "--name", "contacts-api", "--kind", "resource-service", "--json"],
            ([*user, "owner@agency.test", "--role", "admin"], PASSWORD + "\n"),
            ([*user, "staff@agency.test", "--role", "member"], PASSWORD + "\n"),
            [
                "integration",
                "create",
                "--account",
                "{0[id]}",
                "--name",
                "Shop sync",
                "--scope",
                "contacts.readonly",
                "--json",
            ],
            ["token", "generate", "{5[id]}", "--json"],
            [
                "integration",
                "create",
                "--account",
                "{0[id]}",
                "--name",
                "Old export",
                "--scope",
                "contacts.readonly",
                "--json",
            ],
            ["token", "generate", "{7[id]}", "--json"],
        )
        server.start()
        try:
            yield {
                "server": server,
                "keys": keys,
                "receiver": receiver,
                "inbox": handler,
                "account": seeded[0]["id"],
                "admin": basic(seeded[1]["client_id"], seeded[1]["client_secret"]),
                "service": basic(seeded[2]["client_id"], seeded[2]["client_secret"]),
                "live": seeded[6],
                "dead": seeded[8],
                "live_integration": seeded[5]["id"],
            }
        finally:
            server.stop()


def introspect(stack, token: str) -> dict:
    response = requests.post(
        f"{stack['server'].url}/oauth/introspect", data={"token": token}, headers=stack["service"], timeout=5
    )
    assert response.status_code == 200
    return response.json()


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_alert_revokes_our_live_token_at_once_and_tells_the_accounts_admins(stack):
    server, account = stack["server"], stack["account"]
    hook = requests.post(
        f"{server.url}/api/accounts/{account}/webhooks",
        json={"url": stack["receiver"].url, "events": ["token.leaked", "token.revoked"]},
        headers=stack["admin"],
        timeout=5,
    )
    assert hook.status_code == 201, hook.text
    live, dead = stack["live"]["token"], stack["dead"]["token"]

    # RFC 7009 by the holder, as it always was: 200 {}, inactive, a token.revoked webhook
    held = requests.post(f"{server.url}/oauth/revoke", data={"token": dead}, timeout=5)
    assert (held.status_code, held.json()) == (200, {})
    assert introspect(stack, dead) == {"active": False}
    assert introspect(stack, live)["active"] is True

    theirs = jwt.encode(
        {"iss": "https://auth.other.example", "sub": "x", "aud": "api", "exp": 4102444800, "jti": "tok_theirs"},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"typ": "at+jwt", "kid": "theirs"},
    )
    found = [live, dead, theirs, "ghp_notOursAtAll0123456789"]
    body = alert_body(*found, url=LEAK_URL, source="commit")
    response = requests.post(f"{server.url}{ALERT_PATH}", data=body, headers=SCANNER_KEY.headers(body), timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"token_raw": token, "token_type": "authserver_access_token", "label": label}
        for token, label in zip(
            found, ["true_positive", "true_positive", "false_positive", "false_positive"], strict=True
        )
    ]
    assert introspect(stack, live) == {"active": False}  # at once: the answer came after the commit

    audit = requests.get(
        f"{server.url}/api/accounts/{account}/audit",
        params={"action": "token.leaked"},
        headers=stack["admin"],
        timeout=5,
    ).json()["events"]
    by_token = {entry["after"]["token"]: entry for entry in audit}
    assert by_token[stack["live"]["token_id"]]["after"] == {
        "token": stack["live"]["token_id"],
        "revoked": True,
        "url": LEAK_URL,
        "source": "commit",
        "token_type": "authserver_access_token",
    }
    assert by_token[stack["dead"]["token_id"]]["after"]["revoked"] is False
    assert by_token[stack["live"]["token_id"]]["actor"] == {"type": "secret_scanner", "id": SCANNER_KEY.identifier}
    assert by_token[stack["live"]["token_id"]]["source_address"] == "127.0.0.1"

    receiver = stack["receiver"]
    wait_until(lambda: receiver.of_type("token.leaked"), 20, "the token.leaked webhook")
    public_key = requests.get(f"{server.url}/api/webhooks/public-key", timeout=5).json()["public_key"]
    [leaked] = receiver.of_type("token.leaked")
    payload = verify_ed25519(public_key, leaked)["data"]
    assert payload["token_id"] == stack["live"]["token_id"] and payload["reason"] == "leaked"
    assert payload["leak"] == {"url": LEAK_URL, "source": "commit", "token_type": "authserver_access_token"}
    assert [r.payload["data"]["token_id"] for r in receiver.of_type("token.revoked")] == [stack["dead"]["token_id"]]
    assert live not in leaked.body

    inbox = stack["inbox"]
    wait_until(lambda: inbox.received(), 20, "the leak mail")
    time.sleep(1)  # nothing else arrives: the dead token is not announced again
    [(recipients, message)] = inbox.received()
    assert recipients == ["owner@agency.test"]  # the account's admins, not its members
    assert message["Subject"] == "Access token leaked and revoked: Shop sync (Northwind Agency)"
    text = message.get_body(("plain",)).get_content()
    assert LEAK_URL in text and "found in commit" in text
    assert f"/accounts/{account}/settings/integrations/{stack['live_integration']}" in text
    assert live not in message.as_string() and dead not in message.as_string()

    again = requests.post(f"{server.url}{ALERT_PATH}", data=body, headers=SCANNER_KEY.headers(body), timeout=10)
    assert again.json() == response.json()  # a retry: same answer, nothing more recorded or sent
    audit_again = requests.get(
        f"{server.url}/api/accounts/{account}/audit",
        params={"action": "token.leaked"},
        headers=stack["admin"],
        timeout=5,
    ).json()["events"]
    assert len(audit_again) == len(audit) == 2
    time.sleep(1)
    assert len(inbox.received()) == 1 and len(receiver.of_type("token.leaked")) == 1


def test_bad_signatures_and_bodies_are_refused_by_the_real_server(stack):
    url = f"{stack['server'].url}{ALERT_PATH}"
    body = alert_body(stack["live"]["token"])
    forged = ScannerKey(identifier=SCANNER_KEY.identifier)
    assert requests.post(url, data=body, headers=forged.headers(body), timeout=5).status_code == 401
    assert requests.post(url, data=body, timeout=5).status_code == 401
    assert requests.post(url, data=b"{oops", headers=SCANNER_KEY.headers(b"{oops"), timeout=5).status_code == 400
    huge = b"[" + b" " * (1024 * 1024 + 10) + b"]"
    assert requests.post(url, data=huge, headers=SCANNER_KEY.headers(huge), timeout=10).status_code == 413
    hits = stack["keys"].hits
    for index in range(20):  # forged identifiers: no fetch storm against the scanner
        headers = SCANNER_KEY.headers(body) | {"Github-Public-Key-Identifier": f"forged-{index}"}
        assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 401
    assert stack["keys"].hits - hits <= 1


@pytest.mark.parametrize("url", ["http://scanner.example/keys", "ftp://127.0.0.1/keys"])
def test_a_keys_url_that_is_not_https_or_loopback_is_one_error_line_at_start(tmp_path, url):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "DATABASE_URL"))}
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        "AUTHSERVER_SECRET_SCANNING_KEYS_URL": url,
    }
    done = subprocess.run(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "authserver", "run", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "AUTHSERVER_SECRET_SCANNING_KEYS_URL" in lines[0]
