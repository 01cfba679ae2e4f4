"""The resource package's reader of RFC 9701 signed introspection answers: every rule refuses what breaks it.

Answers are built here with PyJWT and cryptography (not with the server's code), each with one thing wrong.
"""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authserver_resource.authserver_client import UnavailableError
from authserver_resource.feed import CacheInvalidation
from authserver_resource.introspection_cache import IntrospectionCache
from authserver_resource.jwks import KeySet
from authserver_resource.signed_answers import MAX_AGE, SignedAnswerReader, UntrustedAnswerError

ISSUER = "http://127.0.0.1:5000"
ME = "cli_me"
NOW = 1_800_000_000
BODY = {"active": True, "scope": "contacts.readonly", "jti": "tok_1", "exp": NOW + 600}


class Clock:
    def time(self) -> float:
        return float(NOW)


def _jwk(private_key, kid: str, alg: str) -> dict:
    algorithm = jwt.get_algorithm_by_name(alg)
    data = json.loads(algorithm.to_jwk(private_key.public_key()))
    return dict(data, kid=kid, alg=alg, use="sig")


@pytest.fixture(scope="module")
def keys():
    return {
        "es": ec.generate_private_key(ec.SECP256R1()),
        "rs": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "stranger": ec.generate_private_key(ec.SECP256R1()),
    }


@pytest.fixture
def published(keys):
    """The JWKS the reader fetches (a list, so a test can publish a key later), and the number of fetches."""
    return {"keys": [_jwk(keys["es"], "kid-es", "ES256"), _jwk(keys["rs"], "kid-rs", "RS256")]}


@pytest.fixture
def reader(published):
    fetches = []

    def fetch():
        fetches.append(1)
        return published

    keyset = KeySet(fetch, refetch_interval=0.1)
    made = SignedAnswerReader(keyset, issuer=ISSUER, client_id=ME, clock=Clock())
    made.fetches = fetches
    return made


def _answer(keys, *, key="es", kid="kid-es", alg="ES256", header=None, **claims) -> str:
    payload = {"iss": ISSUER, "aud": ME, "iat": NOW, "token_introspection": BODY, **claims}
    payload = {name: value for name, value in payload.items() if value is not _DROP}
    headers = {"kid": kid, "typ": "token-introspection+jwt", **(header or {})}
    return jwt.encode(payload, keys[key], algorithm=alg, headers=headers)


_DROP = object()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_good_answer_gives_the_introspection_object(reader, keys):
    assert reader.read(_answer(keys)) == BODY
    assert reader.read(_answer(keys, key="rs", kid="kid-rs", alg="RS256")) == BODY
    assert reader.read(_answer(keys, iat=NOW - MAX_AGE)) == BODY
    assert reader.read(_answer(keys, iat=NOW + 60)) == BODY  # the one leeway: our clock a little behind
    assert reader.read(_answer(keys, token_introspection={"active": False})) == {"active": False}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (dict(iss="http://127.0.0.1:5001"), "wrong issuer"),
        (dict(iss=_DROP), "wrong issuer"),
        (dict(aud="cli_someone_else"), "wrong audience"),
        (dict(aud=[ME, "cli_someone_else"]), "wrong audience"),
        (dict(aud=_DROP), "wrong audience"),
        (dict(iat=NOW + 61), "issued in the future"),
        (dict(iat=NOW - MAX_AGE - 1), "too old"),
        (dict(iat=str(NOW)), "iat is not an integer"),
        (dict(iat=NOW + 0.5), "iat is not an integer"),
        (dict(iat=_DROP), "iat is not an integer"),
        (dict(token_introspection=_DROP), "token_introspection"),
        (dict(token_introspection=[BODY]), "token_introspection"),
        (dict(token_introspection=json.dumps(BODY)), "token_introspection"),
        (dict(header={"typ": "JWT"}), "typ"),
        (dict(header={"typ": "at+jwt"}), "typ"),
        (dict(header={"typ": "application/token-introspection+jwt"}), "typ"),  # exactly the short form
        (dict(header={"crit": ["exp"]}), "critical"),
        (dict(kid=""), "kid"),
        (dict(kid="kid-unknown"), "unknown kid"),
        (dict(kid="kid-rs"), "alg is not the key's algorithm"),  # an ES256 answer under the RSA key's kid
        (dict(key="stranger"), "bad signature"),  # signed by another key, under our key's kid
    ],
)
def test_each_broken_rule_is_an_untrusted_answer(reader, keys, change, reason):
    with pytest.raises(UntrustedAnswerError) as refused:
        reader.read(_answer(keys, **change))
    assert reason in refused.value.reason
    assert isinstance(refused.value, UnavailableError)  # the validator's fail-closed path: 503, never a verdict


def test_a_flipped_byte_a_none_alg_and_an_hmac_with_the_public_key_are_refused(reader, keys, published):
    good = _answer(keys)
    header, payload, signature = good.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["token_introspection"] = dict(BODY, scope="contacts.write")
    forged_payload = _b64(json.dumps(body).encode())
    none_header = _b64(json.dumps({"alg": "none", "typ": "token-introspection+jwt", "kid": "kid-es"}).encode())
    hmac_header = _b64(json.dumps({"alg": "HS256", "typ": "token-introspection+jwt", "kid": "kid-rs"}).encode())
    for forged in (
        f"{header}.{forged_payload}.{signature}",
        f"{header}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}",
        f"{none_header}.{payload}.",
        f"{hmac_header}.{payload}.{_b64(b'x' * 32)}",
        f"{header}.{payload}.{signature}=",
        f"{header}.{payload}",
        "",
        "not a jwt",
        good + "." + signature,
    ):
        with pytest.raises(UntrustedAnswerError):
            reader.read(forged)


def test_duplicate_members_are_refused(reader, keys):
    header = _b64(b'{"alg":"ES256","typ":"token-introspection+jwt","kid":"kid-es","kid":"kid-rs"}')
    payload = _b64(json.dumps({"iss": ISSUER, "aud": ME, "iat": NOW, "token_introspection": BODY}).encode())
    signature = jwt.get_algorithm_by_name("ES256").sign(f"{header}.{payload}".encode(), keys["es"])
    with pytest.raises(UntrustedAnswerError, match="duplicate|JSON object"):
        reader.read(f"{header}.{payload}.{_b64(signature)}")


def test_an_unknown_kid_refetches_the_jwks_once_and_then_verifies(reader, keys, published):
    newcomer = ec.generate_private_key(ec.SECP256R1())
    keys = dict(keys, new=newcomer)
    assert reader.read(_answer(keys)) == BODY
    fetched = len(reader.fetches)
    published["keys"].append(_jwk(newcomer, "kid-new", "ES256"))
    reader.keys._attempted_at = None  # past the refetch interval
    assert reader.read(_answer(keys, key="new", kid="kid-new")) == BODY
    assert len(reader.fetches) == fetched + 1


def test_a_jwks_that_cannot_be_fetched_is_unavailable(keys):
    def fetch():
        raise UnavailableError("down")

    reader = SignedAnswerReader(KeySet(fetch, refetch_interval=0.1), issuer=ISSUER, client_id=ME, clock=Clock())
    with pytest.raises(UnavailableError):
        reader.read(_answer(keys))


def test_a_key_revoked_on_the_feed_stops_verifying_answers_at_once(reader, keys, published):
    """Introspection mode's feed listener hands key.revoked to the reader's key set (no wait for a JWKS refresh)."""
    invalidation = CacheInvalidation(IntrospectionCache(30, 5), reader.keys)
    assert reader.read(_answer(keys)) == BODY
    published["keys"] = [key for key in published["keys"] if key["kid"] != "kid-es"]  # the server unpublishes it
    invalidation.apply({"type": "key.revoked", "kid": "kid-es"})
    with pytest.raises(UntrustedAnswerError, match="unknown kid"):
        reader.read(_answer(keys))
