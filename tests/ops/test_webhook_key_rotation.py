"""Webhook signing-key rotation end to end: ``authserver run`` with its in-process delivery worker, a real receiver
checking v1a signatures with libsodium (and v1 with the Standard Webhooks library), rotation through the CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from authserver.webhooks.signing import WebhookKeys
from tests.factories import basic
from tests.support.servers import make_authserver
from tests.support.webhook_receiver import Received, WebhookReceiver, verify_hmac

ENV = {
    "AUTHSERVER_WEBHOOK_ALLOW_HTTP": "on",
    "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    "AUTHSERVER_WEBHOOK_WORKER": "in-process",
    "AUTHSERVER_WEBHOOK_POLL_INTERVAL": "0.1",
    "AUTHSERVER_PRUNE_INTERVAL": "off",  # the test runs `authserver prune` itself
}


def v1a_signatures(received: Received) -> list[bytes]:
    return [
        base64.b64decode(value)
        for version, _, value in (s.partition(",") for s in received.headers["webhook-signature"].split(" "))
        if version == "v1a"
    ]


def verifies_with(public_key: str, received: Received) -> bool:
    """What a receiver does (Standard Webhooks): the message is genuine if any v1a signature verifies."""
    key = VerifyKey(base64.b64decode(public_key.removeprefix("whpk_")))
    content = f"{received.headers['webhook-id']}.{received.headers['webhook-timestamp']}.{received.body}".encode()
    for signature in v1a_signatures(received):
        try:
            key.verify(content, signature)
            return True
        except BadSignatureError:
            continue
    return False


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("rotation"), **ENV)
    account, admin = server.cli_batch(
        ["account", "create", "--name", "Rotated", "--json"],
        ["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"],
    )
    server.start()
    yield server, account["id"], basic(admin["client_id"], admin["client_secret"])
    server.stop()


def api(server, method, path, headers=None, **kwargs):
    return requests.request(method, f"{server.url}/api{path}", headers=headers or {}, timeout=30, **kwargs)


def published(server) -> dict:
    response = api(server, "GET", "/webhooks/public-key")
    assert response.status_code == 200, response.text
    return response.json()


def new_integration(server, account_id, admin) -> None:
    body = {"name": "hooked", "scopes": ["contacts.readonly"]}
    response = api(server, "POST", f"/accounts/{account_id}/integrations", admin, json=body)
    assert response.status_code == 201, response.text


def test_rotation_signs_with_both_keys_during_the_overlap_then_only_the_new_one(env):
    server, account_id, admin = env
    keys_dir = server.workdir / "keys" / "webhooks"
    with WebhookReceiver() as receiver:
        hooks = {
            signing: api(
                server, "POST", f"/accounts/{account_id}/webhooks", admin,
                json={"url": f"{receiver.url}/{signing}", "signing": signing, "events": ["integration.created"]},
            ).json()
            for signing in ("ed25519", "hmac")
        }  # fmt: skip
        before = published(server)
        old_key = before["public_key"]
        assert [k["public_key"] for k in before["keys"]] == [old_key] and before["keys"][0]["status"] == "active"

        new_integration(server, account_id, admin)
        first = {r.path.rsplit("/", 1)[1]: r for r in receiver.wait_for(2)}
        assert len(v1a_signatures(first["ed25519"])) == 1 and verifies_with(old_key, first["ed25519"])
        verify_hmac(hooks["hmac"]["secret"], first["hmac"])

        rotated = server.cli("webhooks", "rotate-key", "--overlap", "1h", "--json")
        new_key = rotated["public_key"]
        assert new_key != old_key and rotated["previous"]["public_key"] == old_key
        assert rotated["previous"]["status"] == "retiring" and rotated["previous"]["retiring_until"]

        # During the overlap: both keys published, the new one first; each delivery signed by both.
        during = published(server)
        assert during["public_key"] == new_key
        assert [(k["public_key"], k["status"]) for k in during["keys"]] == [(new_key, "active"), (old_key, "retiring")]
        assert server.cli("webhooks", "public-key", "--json")["keys"] == during["keys"]
        new_integration(server, account_id, admin)
        second = {r.path.rsplit("/", 1)[1]: r for r in receiver.wait_for(4)[2:]}
        assert len(v1a_signatures(second["ed25519"])) == 2
        assert verifies_with(old_key, second["ed25519"]), "a receiver still holding the old key must verify"
        assert verifies_with(new_key, second["ed25519"])
        verify_hmac(hooks["hmac"]["secret"], second["hmac"])  # hmac secrets are untouched by rotation

        # After the overlap: only the new key is published and signs; prune deletes the old key's file.
        server.set_clock_offset(2 * 3600)
        try:
            after = published(server)
            assert [(k["public_key"], k["status"]) for k in after["keys"]] == [(new_key, "active")]
            new_integration(server, account_id, admin)
            third = {r.path.rsplit("/", 1)[1]: r for r in receiver.wait_for(6)[4:]}
            assert len(v1a_signatures(third["ed25519"])) == 1
            assert verifies_with(new_key, third["ed25519"]) and not verifies_with(old_key, third["ed25519"])
            assert (keys_dir / "ed25519.pem").exists()
            server.cli("prune", "--json")
            assert not (keys_dir / "ed25519.pem").exists(), "the retired key's private file must be deleted"
            ring = json.loads((keys_dir / "keyring.json").read_text())
            assert [k["kid"] for k in ring["keys"]] == [rotated["kid"]]
        finally:
            server.set_clock_offset(0)

        # The hmac secret, sealed before the rotation under a key derived from the deleted file, still opens.
        new_integration(server, account_id, admin)
        fourth = {r.path.rsplit("/", 1)[1]: r for r in receiver.wait_for(8)[6:]}
        verify_hmac(hooks["hmac"]["secret"], fourth["hmac"])
        assert verifies_with(new_key, fourth["ed25519"])

    with sqlite3.connect(server.workdir / "authserver.db") as connection:
        rows = connection.execute(
            "SELECT actor_type, target_id, after FROM audit_events WHERE action = 'webhook.signing_key_rotated'"
        ).fetchall()
    assert [(actor, target) for actor, target, _ in rows] == [("operator", rotated["kid"])]
    assert json.loads(rows[0][2])["retiring"] == rotated["previous"]["kid"]


def test_rotate_key_refuses_a_bad_overlap_in_one_line(env):
    server, _, _ = env
    detail = "overlap must look like 30s, 15m, 12h, 90d or 2w"
    done = server.cli("webhooks", "rotate-key", "--overlap", "soon", check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"Error: {detail}"]
    done = server.cli("webhooks", "rotate-key", "--overlap", "soon", "--json", check=False)
    assert done.returncode == 1 and done.stdout == ""
    error = {"code": "invalid_input", "detail": detail, "field": "overlap"}
    assert [json.loads(line) for line in done.stderr.strip().splitlines()] == [{"error": error}]  # --json: JSON


def _legacy_sealing_key(pem_path: Path) -> AESGCM:
    """How every version before rotation sealed hmac secrets: HKDF over the one Ed25519 key's raw bytes."""
    key = serialization.load_pem_private_key(pem_path.read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"authserver webhook secret sealing v1")
    return AESGCM(derived.derive(raw))


def test_secrets_sealed_before_the_upgrade_open_after_rotations(tmp_path):
    legacy_pem = tmp_path / "webhooks" / "ed25519.pem"
    legacy_pem.parent.mkdir()
    legacy_pem.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    nonce = hashlib.sha256(b"nonce").digest()[:12]
    sealed = base64.b64encode(nonce + _legacy_sealing_key(legacy_pem).encrypt(nonce, b"whsec_old", b"webhook-secret"))
    keys = WebhookKeys(tmp_path)
    first_kid = keys.active().kid
    now = datetime.now(UTC)
    keys.rotate(now, 1)
    keys.remove_spent_keys(now + timedelta(seconds=2))
    assert not legacy_pem.exists() and keys.active().kid != first_kid
    assert WebhookKeys(tmp_path).unseal(sealed.decode()) == "whsec_old"  # a fresh process, as after a restart
