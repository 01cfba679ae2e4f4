"""The key an integration's tokens are bound to (RFC 9449): RFC 7638 thumbprints of public JWKs, refusal of
private, symmetric, weak or malformed keys, the thumbprint's shape, and the strict reading of ``cnf`` in the shared
token parser (compact_jws), which refuses any confirmation it does not understand."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey

from authserver.dpop_keys import parse_binding, parse_jwk, parse_key_text, parse_thumbprint
from authserver.errors import InvalidInputError
from authserver_resource.compact_jws import TokenRefusedError

from .test_compact_jws import claims, read, signed

# RFC 7638 section 3.1: the example key and its SHA-256 thumbprint.
RFC7638_KEY = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
    "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgn"
    "Yb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0L"
    "s1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_the_rfc_7638_example_key_has_the_rfc_s_thumbprint():
    assert parse_jwk(RFC7638_KEY) == RFC7638_THUMBPRINT
    assert parse_jwk(json.dumps(RFC7638_KEY)) == RFC7638_THUMBPRINT  # as a file's text
    assert parse_key_text("  " + json.dumps(RFC7638_KEY) + "\n") == RFC7638_THUMBPRINT  # as a form field


@pytest.mark.parametrize(
    "generate",
    [
        lambda: ECKey.generate_key("P-256"),
        lambda: ECKey.generate_key("P-384"),
        lambda: OKPKey.generate_key("Ed25519"),
        lambda: RSAKey.generate_key(2048),
    ],
    ids=["P-256", "P-384", "Ed25519", "RSA-2048"],
)
def test_every_accepted_key_type_gives_joserfc_s_thumbprint(generate):
    """An independent implementation (joserfc) agrees on each accepted key type."""
    key = generate()
    public = key.as_dict(private=False)
    assert parse_jwk(public) == key.thumbprint()


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        ({"kty": "oct", "k": "c2VjcmV0"}, "symmetric"),
        ({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}, "private key (it has d)"),
        ({"kty": "RSA", "n": "AQAB", "e": "AQAB", "p": "AQ", "q": "AQ"}, "private key (it has p, q)"),
        ({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}, "P-256 or P-384"),
        ({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, "32 bytes"),
        ({"kty": "OKP", "crv": "X25519", "x": "AA"}, "Ed25519"),
        ({"kty": "OKP", "crv": "Ed25519"}, "needs crv, kty, x"),
        ({"kty": "RSA", "n": 5, "e": "AQAB"}, "needs e, kty, n"),
        ({"kty": "XYZ"}, "RSA, EC or OKP"),
        ({"n": "AQAB"}, "RSA, EC or OKP"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA="}, "canonical base64url"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "AB"}, "canonical base64url"),  # trailing bits set
        ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}, "not a valid public key"),  # 3 bytes
        ([RFC7638_KEY], "JSON object"),
        ("{not json", "not valid JSON"),
        ("x" * 20000, "too long"),
    ],
)
def test_unusable_keys_are_refused_with_a_reason(jwk, message):
    with pytest.raises(InvalidInputError) as refused:
        parse_jwk(jwk)
    assert message in refused.value.detail
    assert refused.value.field == "dpop_jwk"


def test_a_weak_rsa_key_and_a_point_off_the_curve_are_refused():
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  # the weak key under test
    weak = weak_key.public_key().public_numbers()
    n = base64.urlsafe_b64encode(weak.n.to_bytes(128, "big")).rstrip(b"=").decode()
    with pytest.raises(InvalidInputError, match="at least 2048 bits"):
        parse_jwk({"kty": "RSA", "n": n, "e": "AQAB"})
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    x = base64.urlsafe_b64encode(point.x.to_bytes(32, "big")).rstrip(b"=").decode()
    y = base64.urlsafe_b64encode(((point.y + 1) % 2**256).to_bytes(32, "big")).rstrip(b"=").decode()
    with pytest.raises(InvalidInputError, match="not a valid public key"):
        parse_jwk({"kty": "EC", "crv": "P-256", "x": x, "y": y})


def test_members_other_than_the_required_ones_do_not_change_the_thumbprint():
    key = ed25519.Ed25519PrivateKey.generate()
    jwk = OKPKey.import_key(key).as_dict(private=False)
    assert parse_jwk(jwk | {"kid": "laptop", "use": "sig", "alg": "EdDSA"}) == parse_jwk(jwk)


@pytest.mark.parametrize(
    "value",
    [
        RFC7638_THUMBPRINT[:-1],
        RFC7638_THUMBPRINT + "A",
        RFC7638_THUMBPRINT[:-1] + "t",  # the last character's unused bits are not zero: a second spelling
        RFC7638_THUMBPRINT[:-1] + "=",
        RFC7638_THUMBPRINT.replace("-", "+"),
        "",
        None,
        43,
    ],
)
def test_a_thumbprint_must_be_43_characters_of_canonical_base64url(value):
    with pytest.raises(InvalidInputError, match="43 characters"):
        parse_thumbprint(value)


def test_a_binding_is_a_thumbprint_or_a_jwk_not_both():
    assert parse_binding(jkt=RFC7638_THUMBPRINT) == RFC7638_THUMBPRINT
    assert parse_binding(jwk=RFC7638_KEY) == RFC7638_THUMBPRINT
    assert parse_binding() is None
    assert parse_key_text("  ") is None
    with pytest.raises(InvalidInputError, match="not both"):
        parse_binding(jkt=RFC7638_THUMBPRINT, jwk=RFC7638_KEY)


# -- cnf in the shared token parser --------------------------------------------------------------------
def test_a_bound_token_reads_its_cnf_jkt_and_an_unbound_one_none():
    assert read(signed(claims(cnf={"jkt": RFC7638_THUMBPRINT}))).cnf_jkt == RFC7638_THUMBPRINT
    assert read(signed(claims())).cnf_jkt is None


@pytest.mark.parametrize(
    "cnf",
    [
        None,
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
        [],
        {},
        {"jkt": None},
        {"jkt": 43},
        {"jkt": RFC7638_THUMBPRINT[:-1]},
        {"jkt": RFC7638_THUMBPRINT[:-1] + "t"},
        {"jkt": RFC7638_THUMBPRINT.replace("-", "+")},
        {"jkt": RFC7638_THUMBPRINT, "x5t#S256": RFC7638_THUMBPRINT},  # a second binding is never dropped
        {"jwk": RFC7638_KEY},
    ],
)
def test_a_cnf_that_is_not_exactly_one_jkt_thumbprint_refuses_the_token(cnf):
    payload = claims() | {"cnf": cnf}
    with pytest.raises(TokenRefusedError, match="cnf"):
        read(signed(payload))
