"""Security primitives: identifiers, client secrets and their digests, constant-time compare, scrypt passwords."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authserver import security
from authserver.security import (
    check_password,
    digests_match,
    hash_password,
    new_id,
    new_jti,
    new_secret,
    password_needs_rehash,
    secret_digest,
)


def test_new_id_is_prefix_and_100_random_bits_in_lower_base32():
    ids = {new_id("tok") for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"tok_[a-z2-7]{24}", value) for value in ids)


def test_new_jti_is_tok_and_160_random_bits_in_lower_base32():
    jtis = {new_jti() for _ in range(200)}
    assert len(jtis) == 200
    assert all(re.fullmatch(r"tok_[a-z2-7]{32}", value) for value in jtis)


def test_new_secret_has_256_bits_of_url_safe_randomness():
    secrets_ = {new_secret() for _ in range(200)}
    assert len(secrets_) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", value) for value in secrets_)


def test_secret_digest_is_sha256_hex_and_never_the_secret():
    secret = new_secret()
    digest = secret_digest(secret)
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in digest


def test_digests_match_accepts_the_secret_and_refuses_near_misses():
    secret = new_secret()
    digest = secret_digest(secret)
    assert digests_match(secret, digest)
    assert not digests_match(secret[:-1], digest)
    assert not digests_match(secret + "x", digest)
    assert not digests_match(secret.upper(), digest)
    assert not digests_match("", digest)


def test_digests_match_compares_in_constant_time(monkeypatch):
    """The comparison goes through hmac.compare_digest, never ``==`` (which stops at the first difference)."""
    seen = []
    real = security.hmac.compare_digest

    def recording(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", recording)
    digest = secret_digest("s3cret")
    assert digests_match("s3cret", digest)
    assert not digests_match("other", digest)
    assert len(seen) == 2
    # An old scrypt hash is compared the same way (argon2id hashes are compared inside libargon2, in constant time).
    salt = bytes(16)
    key = hashlib.scrypt(b"correct horse", salt=salt, n=2**14, r=8, p=1, dklen=32)
    assert check_password("correct horse", f"scrypt${2**14}$8$1${salt.hex()}${key.hex()}")
    assert len(seen) == 3


@given(st.text(max_size=64), st.text(max_size=64))
def test_digests_match_exactly_when_the_secrets_are_equal(a, b):
    assert digests_match(a, secret_digest(b)) == (a == b)


def test_hash_password_uses_salted_argon2id_with_its_parameters_recorded():
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first != second  # a fresh salt each time
    _, scheme, version, parameters, salt, key = first.split("$")
    assert (scheme, version, parameters) == ("argon2id", "v=19", "m=65536,t=3,p=4")  # RFC 9106, low memory
    assert salt and key and "correct horse battery" not in first
    assert not password_needs_rehash(first)


def test_check_password_accepts_the_password_and_refuses_others():
    stored = hash_password("correct horse battery")
    assert check_password("correct horse battery", stored)
    assert not check_password("correct horse batter", stored)
    assert not check_password("Correct horse battery", stored)
    assert not check_password("", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text-password",
        "bcrypt$1$2$3$00$00",
        "scrypt$x$8$1$00$00",
        "scrypt$16384$8$1$zz$00",
        "scrypt$16384$8$1$00",
        "$$$$$",
        "scrypt$3$8$1$00$00",  # n not a power of two
    ],
)
def test_check_password_of_a_malformed_stored_hash_is_false_not_an_error(stored):
    assert check_password("whatever", stored) is False


@settings(max_examples=3, deadline=None)  # scrypt is slow on purpose
@given(st.text(min_size=1, max_size=40))
def test_any_password_round_trips_through_scrypt(password):
    assert check_password(password, hash_password(password))
