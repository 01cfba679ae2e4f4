"""JWKS refetch on an unknown kid is rate-limited, and key parsing keeps only keys that pin an algorithm."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from authserver_resource.authserver_client import UnavailableError
from authserver_resource.jwks import KeySet, parse_jwks
from tests.resource_demo.conftest import rsa_key


def rsa_jwk(kid: str) -> dict:
    key = rsa_key(kid).public_key()
    return jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True) | {"kid": kid, "alg": "RS256", "use": "sig"}


class Publisher:
    """What the authorization server would publish, counting fetches."""

    def __init__(self, *keys: dict) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False

    def __call__(self) -> dict:
        self.fetches += 1
        if self.down:
            raise UnavailableError("connection refused")
        return {"keys": self.keys}


def test_a_flood_of_unknown_kids_costs_one_fetch_per_interval():
    publisher = Publisher(rsa_jwk("k1"))
    keys = KeySet(publisher, refetch_interval=60)
    assert keys.key_for("k1") is not None
    for n in range(200):
        assert keys.key_for(f"bogus-{n}") is None
    assert publisher.fetches == 1


def test_a_new_signing_key_is_picked_up_once_the_interval_has_passed():
    publisher = Publisher(rsa_jwk("k1"))
    keys = KeySet(publisher, refetch_interval=0.05)
    keys.key_for("k1")
    publisher.keys.append(rsa_jwk("k2"))
    time.sleep(0.06)
    assert keys.key_for("k2") is not None and publisher.fetches == 2


def test_without_any_fetched_keys_the_answer_is_unavailable_not_invalid():
    publisher = Publisher(rsa_jwk("k1"))
    publisher.down = True
    with pytest.raises(UnavailableError):
        KeySet(publisher, refetch_interval=60).key_for("k1")


def test_known_keys_survive_a_failed_refresh():
    publisher = Publisher(rsa_jwk("k1"))
    keys = KeySet(publisher, refetch_interval=0.01, max_age=0.01)
    keys.key_for("k1")
    publisher.down = True
    time.sleep(0.02)
    assert keys.key_for("k1") is not None


def test_keys_without_a_supported_alg_are_ignored():
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    ec_jwk = jwt.algorithms.ECAlgorithm.to_jwk(ec_key, as_dict=True)
    document = {
        "keys": [
            rsa_jwk("good"),
            rsa_jwk("no-alg") | {"alg": None},
            rsa_jwk("hmac") | {"alg": "HS256"},
            rsa_jwk("enc") | {"use": "enc"},
            ec_jwk | {"kid": "ec", "alg": "ES256"},
            {"kid": "junk", "alg": "RS256", "kty": "RSA"},
            "not-a-key",
        ]
    }
    parsed = parse_jwks(document)
    assert sorted(parsed) == ["ec", "good"]
    assert parsed["ec"].algorithm_name == "ES256"


def test_a_revoked_kid_is_forgotten_and_its_replacement_fetched_at_once_despite_the_rate_limit():
    publisher = Publisher(rsa_jwk("k1"))
    keys = KeySet(publisher, refetch_interval=60)
    assert keys.key_for("k1") is not None and keys.key_for("k2") is None  # k2 unknown: refetches rate-limited now
    publisher.keys = [rsa_jwk("k2")]  # k1 revoked, k2 signs from now on

    keys.forget("k1")

    assert keys.key_for("k2") is not None
    assert keys.key_for("k1") is None and publisher.fetches == 2
