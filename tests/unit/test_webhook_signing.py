"""Webhook signatures and the retry schedule, checked against implementations that share no code with ours."""

from __future__ import annotations

import base64
import random
import stat
import time

import pytest
from cryptography.exceptions import InvalidTag
from nacl.signing import VerifyKey
from standardwebhooks.webhooks import Webhook

from authserver.webhooks.deliveries import MAX_DELAY, backoff
from authserver.webhooks.signing import WebhookKeys, hmac_signature, new_hmac_secret, signed_content

BODY = '{"data":{"token_id":"tok_1"},"timestamp":"2026-01-15T12:00:00Z","type":"token.revoked"}'


def test_the_ed25519_key_is_created_once_private_and_outside_the_jwt_key_directory(tmp_path):
    first, second = WebhookKeys(tmp_path), WebhookKeys(tmp_path)
    assert first.public_key() == second.public_key()
    assert first.public_key().startswith("whpk_") and len(base64.b64decode(first.public_key()[5:])) == 32
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert list(tmp_path.glob("*.pem")) == []  # the JWT key store reads *.pem at the top level


def test_v1a_signatures_verify_with_libsodium(tmp_path):
    keys = WebhookKeys(tmp_path)
    header = keys.signature("ed25519", None, "msg_1", 1767225600, BODY)
    version, value = header.split(",", 1)
    assert version == "v1a"
    verifier = VerifyKey(base64.b64decode(keys.public_key().removeprefix("whpk_")))
    verifier.verify(signed_content("msg_1", 1767225600, BODY), base64.b64decode(value))
    with pytest.raises(Exception, match="[Ss]ignature"):
        verifier.verify(signed_content("msg_1", 1767225601, BODY), base64.b64decode(value))


def test_v1_hmac_signatures_verify_with_the_reference_library(tmp_path):
    keys = WebhookKeys(tmp_path)
    secret = new_hmac_secret()
    sealed = keys.seal(secret)
    assert secret not in sealed and keys.unseal(sealed) == secret
    now = int(time.time())
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(now),
        "webhook-signature": keys.signature("hmac", sealed, "msg_2", now, BODY),
    }
    assert Webhook(secret).verify(BODY, headers)["type"] == "token.revoked"
    assert hmac_signature(secret, signed_content("msg_2", now, BODY)) == headers["webhook-signature"]


def test_a_sealed_secret_opens_only_with_its_own_server_key(tmp_path):
    sealed = WebhookKeys(tmp_path / "a").seal(new_hmac_secret())
    with pytest.raises(InvalidTag):
        WebhookKeys(tmp_path / "b").unseal(sealed)


def test_backoff_grows_by_four_with_jitter_and_is_capped():
    rng = random.Random(8)
    for attempts in range(1, 15):
        delay = min(5 * 4 ** (attempts - 1), MAX_DELAY)
        assert delay / 2 <= backoff(attempts, 5.0, rng) <= delay
    assert backoff(30, 5.0, rng) <= 6 * 3600
