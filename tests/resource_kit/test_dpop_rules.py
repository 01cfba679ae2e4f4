"""RFC 9449 on the resource side, without servers: proofs built by hand with joserfc (an implementation independent of
the PyJWT the package verifies with) against ``dpop.verify_proof``, the request-side rules of ``SenderConstraint``,
the replay caches (memory, and a real Redis on 127.0.0.1), and the challenges the faces render."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
import warnings

import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

from authserver_resource.bearer import (
    InvalidDPoPProofError,
    InvalidTokenError,
    MissingTokenError,
    TemporarilyUnavailableError,
    UseDPoPNonceError,
)
from authserver_resource.dpop import ProofRefusedError, jwk_thumbprint, normalize_htu, verify_proof
from authserver_resource.dpop_nonce import NonceIssuer
from authserver_resource.dpop_replay import KEY_PREFIX, MemoryReplayCache, RedisReplayCache, replay_key
from authserver_resource.grants import Grant
from authserver_resource.sender_constraint import ALGS, SenderConstraint
from authserver_resource.settings import Settings, SettingsError

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"  # noqa: S105 - an access token the proofs bind to (never parsed)
URL = "https://api.example.com/v2/contacts"
NOW = 1_800_000_000
REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_available() -> bool:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ath(token: str = TOKEN) -> str:
    return b64(hashlib.sha256(token.encode()).digest())


def make_proof(key, alg: str = "ES256", *, header: dict | None = None, **claims) -> str:
    """A DPoP proof per RFC 9449 section 4.2, with any claim or header member overridden (None removes it)."""
    body = {"jti": str(uuid.uuid4()), "htm": "GET", "htu": URL, "iat": NOW, "ath": ath()} | claims
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)} | (header or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # "EdDSA is deprecated via RFC 9864": still advertised here
        return jose_jwt.encode(
            {k: v for k, v in head.items() if v is not None},
            {k: v for k, v in body.items() if v is not None},
            key,
            algorithms=[alg],
        )


def small_rsa_jwk() -> dict:
    """A 1024-bit RSA public JWK, by hand (joserfc warns on such keys, and warnings are errors here)."""
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_numbers()  # noqa: S505
    return {"kty": "RSA", "n": b64(numbers.n.to_bytes(128, "big")), "e": b64(numbers.e.to_bytes(3, "big"))}


@pytest.fixture(scope="module")
def ec_key():
    return ECKey.generate_key("P-256")


def verify(proof: str | list[str], key, **overrides):
    arguments = {
        "method": "GET",
        "url": URL,
        "access_token": TOKEN,
        "jkt": key.thumbprint(),
        "now": NOW,
    } | overrides
    return verify_proof([proof] if isinstance(proof, str) else proof, **arguments)


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (ECKey.generate_key("P-256"), "ES256"),
        (ECKey.generate_key("P-384"), "ES384"),
        (RSAKey.generate_key(2048), "RS256"),
        (RSAKey.generate_key(2048), "PS256"),
        (OKPKey.generate_key("Ed25519"), "EdDSA"),
    ],
    ids=["ES256", "ES384", "RS256", "PS256", "EdDSA"],
)
def test_a_proof_of_every_advertised_algorithm_verifies(key, alg):
    proof = verify(make_proof(key, alg, jti="one"), key)
    assert proof.jti == "one" and proof.iat == NOW and proof.jkt == key.thumbprint()
    assert jwk_thumbprint(key.as_dict(private=False)) == key.thumbprint()  # RFC 7638, as joserfc computes it


def test_htu_matches_after_normalization_and_ignores_query_and_fragment(ec_key):
    for htu in (
        "HTTPS://API.Example.com:443/v2/contacts",
        "https://api.example.com/v2/contacts?page=2#top",
        "https://api.example.com/v2/%63ontacts",
        "https://api.example.com/v2/./contacts",
    ):
        assert verify(make_proof(ec_key, htu=htu), ec_key).jkt == ec_key.thumbprint()
    assert normalize_htu("http://127.0.0.1:80") == "http://127.0.0.1/"
    assert normalize_htu("http://[::1]:8080/a%2fb") == "http://[::1]:8080/a%2Fb"


@pytest.mark.parametrize(
    ("case", "proof_kwargs", "verify_kwargs", "reason"),
    [
        ("another URL", {"htu": "https://api.example.com/v2/calendars"}, {}, "htu does not match"),
        ("another host", {"htu": "https://evil.example.com/v2/contacts"}, {}, "htu does not match"),
        ("another port", {"htu": "https://api.example.com:8443/v2/contacts"}, {}, "htu does not match"),
        ("http for https", {"htu": "http://api.example.com/v2/contacts"}, {}, "htu does not match"),
        ("another method", {"htm": "POST"}, {}, "htm does not match"),
        ("lower-case method", {"htm": "get"}, {}, "htm does not match"),
        ("too old", {"iat": NOW - 61}, {}, "too old"),
        ("from the future", {"iat": NOW + 6}, {}, "in the future"),
        ("iat as text", {"iat": str(NOW)}, {}, "iat must be an integer"),
        ("iat as float", {"iat": NOW + 0.5}, {}, "iat must be an integer"),
        ("no iat", {"iat": None}, {}, "iat must be an integer"),
        ("no ath", {"ath": None}, {}, "ath (the access token's hash) is missing"),
        ("ath of another token", {"ath": ath("another.token.value")}, {}, "ath does not match"),
        ("no jti", {"jti": None}, {}, "jti must be"),
        ("jti too long", {"jti": "x" * 257}, {}, "jti must be"),
        ("jti not text", {"jti": 7}, {}, "jti must be"),
        ("no htu", {"htu": None}, {}, "htu does not match"),
        ("another key's token", {}, {"jkt": ECKey.generate_key("P-256").thumbprint()}, "not the key the access"),
        ("typ JWT", {"header": {"typ": "JWT"}}, {}, "typ must be dpop+jwt"),
        ("no typ", {"header": {"typ": None}}, {}, "typ must be dpop+jwt"),
        ("no jwk", {"header": {"jwk": None}}, {}, "jwk header must hold"),
        ("jwk with private key", {"header": {"jwk": "private"}}, {}, "private key members"),
    ],
)
def test_bad_proofs_are_refused_with_the_reason(ec_key, case, proof_kwargs, verify_kwargs, reason):
    header = proof_kwargs.pop("header", None)
    if header and header.get("jwk") == "private":
        header = {"jwk": ec_key.as_dict(private=True)}
    proof = make_proof(ec_key, header=header, **proof_kwargs)
    with pytest.raises(ProofRefusedError, match=re.escape(reason)):
        verify(proof, ec_key, **verify_kwargs)


def test_the_window_is_configurable(ec_key):
    assert verify(make_proof(ec_key, iat=NOW - 200), ec_key, max_age=300).iat == NOW - 200
    with pytest.raises(ProofRefusedError, match="in the future"):
        verify(make_proof(ec_key, iat=NOW + 2), ec_key, clock_skew=0)


def test_proofs_signed_by_another_key_or_tampered_are_refused(ec_key):
    other = ECKey.generate_key("P-256")
    # signed by `other` while its jwk header names ec_key: the signature does not verify with the named key
    forged = make_proof(other, header={"jwk": ec_key.as_dict(private=False)})
    with pytest.raises(ProofRefusedError, match="signature does not verify"):
        verify(forged, ec_key)
    # a proof of the other key (valid in itself) for a token bound to ec_key: the thumbprint differs
    with pytest.raises(ProofRefusedError, match="not the key the access token is bound to"):
        verify(make_proof(other), ec_key)
    head, body, signature = make_proof(ec_key).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["htm"] = "DELETE"
    altered = b64(json.dumps(claims).encode())
    with pytest.raises(ProofRefusedError, match="signature does not verify"):
        verify(f"{head}.{altered}.{signature}", ec_key, method="DELETE")


@pytest.mark.parametrize(
    ("alg", "key_factory", "reason"),
    [
        ("HS256", None, "alg is not one of"),
        ("none", None, "alg is not one of"),
        ("ES256", lambda: ECKey.generate_key("P-384").as_dict(private=False), "key type does not match alg"),
        ("RS256", lambda: ECKey.generate_key("P-256").as_dict(private=False), "key type does not match alg"),
        ("RS256", small_rsa_jwk, "fewer than 2048 bits"),
        ("ES256", "crit", "critical header extensions"),
    ],
)
def test_weak_or_mismatched_algorithms_are_refused(ec_key, alg, key_factory, reason):
    jwk = key_factory() if callable(key_factory) else ec_key.as_dict(private=False)
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": jwk}
    if key_factory == "crit":
        header |= {"crit": ["exp"], "exp": 1}
    payload = {"jti": "j", "htm": "GET", "htu": URL, "iat": NOW, "ath": ath()}
    segments = [b64(json.dumps(part).encode()) for part in (header, payload)]
    with pytest.raises(ProofRefusedError, match=reason):  # refused before any signature is looked at
        verify(".".join(segments) + ".c2ln", ec_key)


@pytest.mark.parametrize(
    "headers",
    [[], [""], ["a.b.c", "d.e.f"], ["a.b.c, d.e.f"], ["not-a-jwt"], ["é.b.c"], ["x" * 9000], ["e30.e30.!!"]],
    ids=["none", "empty", "two headers", "two folded", "not a JWS", "not ascii", "too long", "bad base64"],
)
def test_anything_but_exactly_one_compact_proof_is_refused(ec_key, headers):
    with pytest.raises(ProofRefusedError):
        verify(headers, ec_key)


def test_duplicate_members_in_the_proof_header_are_refused(ec_key):
    head, body, signature = make_proof(ec_key).split(".")
    text = base64.urlsafe_b64decode(head + "==").decode()
    doubled = text[:-1] + ',"alg":"ES256"}'
    respelt = b64(doubled.encode())
    with pytest.raises(ProofRefusedError, match="duplicate"):
        verify(f"{respelt}.{body}.{signature}", ec_key)


# -- the request side (section 7) ---------------------------------------------------------------------------------
class FixedClock:
    def time(self) -> float:
        return float(NOW)


def grant(jkt: str | None) -> Grant:
    return Grant("jti-1", "acc", "int", "int", frozenset({"contacts.readonly"}), NOW + 600.0, jkt)


def constraint(**settings) -> SenderConstraint:
    base = {"issuer": "http://127.0.0.1:5000", "client_id": "svc", "client_secret": "s"}  # noqa: S105 - test value
    return SenderConstraint(Settings(**(base | settings)), FixedClock())


def test_unbound_tokens_as_bearer_need_nothing_and_as_dpop_are_refused(ec_key):
    rules = constraint()
    rules.enforce(grant(None), scheme="bearer", token=TOKEN, method=None, url=None, proofs=())
    with pytest.raises(InvalidTokenError) as refused:
        rules.enforce(grant(None), scheme="dpop", token=TOKEN, method="GET", url=URL, proofs=[make_proof(ec_key)])
    assert refused.value.challenge("v2").startswith('DPoP realm="v2", error="invalid_token"')


def test_bound_tokens_need_the_dpop_scheme_and_a_fresh_proof(ec_key):
    rules = constraint()
    bound = grant(ec_key.thumbprint())
    with pytest.raises(InvalidTokenError) as as_bearer:
        rules.enforce(bound, scheme="bearer", token=TOKEN, method="GET", url=URL, proofs=[make_proof(ec_key)])
    assert 'DPoP realm="v2", error="invalid_token"' in as_bearer.value.challenge("v2")
    with pytest.raises(InvalidDPoPProofError, match="no DPoP proof"):
        rules.enforce(bound, scheme="dpop", token=TOKEN, method="GET", url=URL, proofs=())
    proof = make_proof(ec_key)
    rules.enforce(bound, scheme="dpop", token=TOKEN, method="GET", url=URL, proofs=[proof])
    with pytest.raises(InvalidDPoPProofError, match="used before") as replayed:
        rules.enforce(bound, scheme="dpop", token=TOKEN, method="GET", url=URL, proofs=[proof])
    challenge = replayed.value.challenge("v2")
    assert challenge.startswith('DPoP realm="v2", error="invalid_dpop_proof", error_description="this DPoP proof')
    assert challenge.endswith(f'algs="{ALGS}"') and replayed.value.status_code == 401


def test_the_public_url_replaces_what_the_service_sees(ec_key):
    rules = constraint(public_url="https://api.example.com/")
    bound = grant(ec_key.thumbprint())
    internal = "http://10.0.0.7:8080/v2/contacts?page=1"
    rules.enforce(bound, scheme="dpop", token=TOKEN, method="GET", url=internal, proofs=[make_proof(ec_key)])
    with pytest.raises(InvalidDPoPProofError, match="htu"):
        constraint().enforce(bound, scheme="dpop", token=TOKEN, method="GET", url=internal, proofs=[make_proof(ec_key)])


def test_a_request_without_credentials_gets_both_challenges():
    error = MissingTokenError().as_dpop(ALGS, dpop_scheme=False)
    assert error.challenge("v2", "https://x/.well-known/oauth-protected-resource") == (
        f'Bearer realm="v2", resource_metadata="https://x/.well-known/oauth-protected-resource", DPoP algs="{ALGS}"'
    )


def test_dpop_settings_refuse_unsafe_values():
    base = {"issuer": "http://127.0.0.1:5000", "client_id": "svc", "client_secret": "s"}  # noqa: S105 - test value
    for bad in (
        {"public_url": "api.example.com"},
        {"public_url": "https://api.example.com/?x=1"},
        {"dpop_max_age": 0},
        {"dpop_clock_skew": 301},
        {"dpop_replay_redis_url": "http://127.0.0.1:6379"},
    ):
        with pytest.raises(SettingsError):
            Settings(**(base | bad))


# -- replay caches --------------------------------------------------------------------------------------------------
def test_memory_replay_cache_accepts_each_jti_once_per_key_and_forgets_after_the_window():
    cache = MemoryReplayCache(ttl=0.2)
    assert cache.first_use("k1", "a") and not cache.first_use("k1", "a")
    assert cache.first_use("k2", "a")  # another key's jti: its own namespace
    time.sleep(0.25)
    assert cache.first_use("k1", "b") and len(cache) == 1  # expired entries dropped on the way
    assert cache.first_use("k1", "a")


def test_redis_replay_cache_is_shared_between_instances():
    if not redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    first, second = RedisReplayCache(REDIS_URL, ttl=5), RedisReplayCache(REDIS_URL, ttl=5)
    jti = str(uuid.uuid4())
    assert first.first_use("k", jti)
    assert not second.first_use("k", jti)
    assert 0 < first.client.pttl(KEY_PREFIX + replay_key("k", jti)) <= 5000  # forgotten after the window


def test_an_unreachable_redis_fails_closed():
    cache = RedisReplayCache("redis://127.0.0.1:1/0", ttl=5, timeout=0.2)
    with pytest.raises(TemporarilyUnavailableError) as unavailable:
        cache.first_use("k", "j")
    assert unavailable.value.status_code == 503


# -- nonces (section 9) ---------------------------------------------------------------------------------------------
SECRET = "n" * 32


def test_nonces_are_accepted_in_their_window_and_the_next_under_the_same_secret_only():
    issuer = NonceIssuer(SECRET, lifetime=300)
    nonce = issuer.current(NOW)
    assert issuer.is_valid(nonce, NOW) and issuer.is_valid(nonce, NOW + 300)
    assert not issuer.is_valid(nonce, NOW + 600)
    assert not issuer.is_valid(nonce, NOW - 300)  # from the future
    assert not NonceIssuer("m" * 32, lifetime=300).is_valid(nonce, NOW)
    assert NonceIssuer(SECRET, lifetime=300).is_valid(nonce, NOW)  # another instance, same secret
    for bad in (None, 7, "", "x" * 65, nonce[:-2], "!!!!", nonce[:-1] + ("A" if nonce[-1] != "A" else "B")):
        assert not issuer.is_valid(bad, NOW), bad


def test_a_service_that_hands_out_nonces_wants_one_in_every_proof(ec_key):
    rules = constraint(dpop_nonce_secret=SECRET)
    bound = grant(ec_key.thumbprint())
    with pytest.raises(UseDPoPNonceError) as asked:
        rules.enforce(bound, scheme="dpop", token=TOKEN, method="GET", url=URL, proofs=[make_proof(ec_key)])
    error = asked.value
    nonce = error.headers("v2")["DPoP-Nonce"]
    assert (
        error.status_code == 401
        and 'DPoP realm="v2", error="use_dpop_nonce"' in error.headers("v2")["WWW-Authenticate"]
    )
    assert nonce == NonceIssuer(SECRET, 300).current(NOW)
    rules.enforce(bound, scheme="dpop", token=TOKEN, method="GET", url=URL, proofs=[make_proof(ec_key, nonce=nonce)])
    with pytest.raises(UseDPoPNonceError):
        stale = NonceIssuer(SECRET, 300).current(NOW - 600)
        rules.enforce(
            bound, scheme="dpop", token=TOKEN, method="GET", url=URL, proofs=[make_proof(ec_key, nonce=stale)]
        )
    with pytest.raises(SettingsError):
        constraint(dpop_nonce_secret="short")  # noqa: S106 - a test value
