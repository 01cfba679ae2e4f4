"""Forged, tampered and malformed JWTs presented to introspection. Whatever the trick, the answer is exactly
``{"active": false}`` with status 200 (RFC 7662 section 2.2) and the genuine token stays active.

Claim-level forgeries are signed with the server's real key and carry a real ``jti``, so the database would call
them live: only the claim checks stand between them and ``active: true``.
"""

from __future__ import annotations

import hashlib
import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from .forge import (
    Listener,
    b64json,
    b64url,
    foreign_ec,
    foreign_rsa,
    parts,
    public_jwk,
    resign,
    self_signed_certificate,
    sign,
)


@pytest.fixture(scope="module")
def issued(target) -> dict:
    return target.agency.integration_with_token(scopes=("contacts.readonly", "calendars.readonly"))


@pytest.fixture(scope="module")
def genuine(issued) -> tuple[dict, dict]:
    return parts(issued["token"])


def assert_inactive(target, issued, token) -> None:
    assert token != issued["token"]
    response = target.introspect(token)
    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}
    assert response.headers["Cache-Control"] == "no-store"
    assert target.is_active(issued["token"])


def our_public_key(target, kid: str):
    jwks = requests.get(f"{target.url}/.well-known/jwks.json", timeout=10).json()["keys"]
    jwk = next(key for key in jwks if key["kid"] == kid)
    return jwk, jwt.PyJWK(jwk).key


# -- algorithm confusion ----------------------------------------------------------------------------------
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_unsigned_token_is_inactive(target, issued, genuine, alg):
    header, claims = genuine
    assert_inactive(target, issued, f"{b64json(header | {'alg': alg})}.{b64json(claims)}.")


def test_alg_none_keeping_the_genuine_signature_is_inactive(target, issued, genuine):
    header, claims = genuine
    signature = issued["token"].rsplit(".", 1)[1]
    assert_inactive(target, issued, f"{b64json(header | {'alg': 'none'})}.{b64json(claims)}.{signature}")


@pytest.mark.parametrize("secret_form", ["pem", "der", "jwk_json", "modulus"])
def test_hs256_signed_with_our_public_key_is_inactive(target, issued, genuine, secret_form):
    """Key confusion: an HMAC whose secret is our public key, in every form a verifier might hand to HMAC."""
    header, claims = genuine
    jwk, public = our_public_key(target, header["kid"])
    secret = {
        "pem": lambda: public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "der": lambda: public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        "jwk_json": lambda: json.dumps(jwk).encode(),
        "modulus": lambda: public.public_numbers().n.to_bytes(256, "big"),
    }[secret_form]()
    assert_inactive(target, issued, sign(header | {"alg": "HS256"}, claims, secret, "HS256"))


@pytest.mark.parametrize("alg", ["PS256", "RS512"])
def test_our_own_key_under_another_rsa_algorithm_is_inactive(target, issued, genuine, alg):
    """The key's algorithm is pinned: even our real private key signing with another algorithm is refused."""
    forged = resign(target.server, issued["token"], header={"alg": alg})
    header, claims = parts(forged)
    from .forge import server_key

    assert_inactive(target, issued, sign(header, claims, server_key(target.server, header["kid"]), alg))


def test_foreign_rsa_key_under_our_known_kid_is_inactive(target, issued, genuine):
    header, claims = genuine
    assert_inactive(target, issued, sign(header, claims, foreign_rsa(), "RS256"))


def test_foreign_ec_key_under_our_known_kid_with_es256_is_inactive(target, issued, genuine):
    header, claims = genuine
    assert_inactive(target, issued, sign(header | {"alg": "ES256"}, claims, foreign_ec(), "ES256"))


# -- kid abuse ----------------------------------------------------------------------------------------------
KID_TRAVERSAL = [
    "../../../../../../etc/passwd",
    "../keys/{kid}",
    "{kid}/../{kid}",
    "/dev/null",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "..\\..\\windows\\win.ini",
    "keys/{kid}.pem",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("kid", KID_TRAVERSAL)
def test_kid_path_traversal_is_inactive(target, issued, genuine, kid):
    """Signed with a foreign key, and with HMAC over an empty secret (the /dev/null trick)."""
    header, claims = genuine
    kid = kid.format(kid=header["kid"])
    assert_inactive(target, issued, sign(header | {"kid": kid}, claims, foreign_rsa(), "RS256"))
    assert_inactive(target, issued, sign(header | {"kid": kid, "alg": "HS256"}, claims, b"", "HS256"))


KID_INJECTION = {
    "sql_or_true": "' OR '1'='1",
    "sql_union": "x' UNION SELECT public_jwk FROM signing_keys --",
    "sql_comment": "{kid}'--",
    "shell": "$(touch /tmp/authserver-pwned)",
    "template": "{{{{7*7}}}}",
    "nul_byte": "{kid}\u0000",
    "newline": "{kid}\n",
    "very_long": "k" * 10_000,
    "our_kid_upper_case": "{upper}",
}


@pytest.mark.parametrize("kid", KID_INJECTION.values(), ids=KID_INJECTION.keys())
def test_kid_injection_strings_are_inactive(target, issued, genuine, kid):
    header, claims = genuine
    kid = kid.format(kid=header["kid"], upper=header["kid"].upper())
    assert_inactive(target, issued, sign(header | {"kid": kid}, claims, foreign_rsa(), "RS256"))


@pytest.mark.parametrize("kid", [123, ["{kid}"], {"kid": "{kid}"}, None, True])
def test_kid_of_a_non_string_type_is_inactive(target, issued, genuine, kid):
    header, claims = genuine
    value = json.loads(json.dumps(kid).replace("{kid}", header["kid"]))
    assert_inactive(
        target,
        issued,
        resign(target.server, issued["token"], header={"kid": value})
        if value is None
        else sign(header | {"kid": value}, claims, foreign_rsa(), "RS256"),
    )


# -- keys offered by the token itself: never fetched, never trusted ---------------------------------------------
@pytest.mark.parametrize("member", ["jku", "x5u"])
def test_key_url_in_the_header_is_never_fetched_nor_trusted(target, issued, genuine, member):
    header, claims = genuine
    attacker = foreign_rsa()
    body = json.dumps({"keys": [public_jwk(attacker, header["kid"])]}).encode()
    with Listener(body) as listener:
        forged = sign(header | {member: f"{listener.url}/jwks.json"}, claims, attacker, "RS256")
        assert_inactive(target, issued, forged)
        # The same URL with a fresh kid (a verifier that fetches on an unknown kid would fetch now).
        assert_inactive(
            target,
            issued,
            sign(header | {member: f"{listener.url}/jwks.json", "kid": "attacker"}, claims, attacker, "RS256"),
        )
        time.sleep(0.3)
        assert listener.seen == []


def test_embedded_jwk_header_is_not_trusted(target, issued, genuine):
    header, claims = genuine
    attacker = foreign_rsa()
    jwk = {k: v for k, v in public_jwk(attacker, header["kid"]).items() if k in ("kty", "n", "e")}
    assert_inactive(target, issued, sign(header | {"jwk": jwk}, claims, attacker, "RS256"))
    assert_inactive(target, issued, sign({"alg": "RS256", "typ": "at+jwt", "jwk": jwk}, claims, attacker, "RS256"))


def test_embedded_x5c_certificate_is_not_trusted(target, issued, genuine):
    header, claims = genuine
    attacker = foreign_rsa()
    assert_inactive(
        target, issued, sign(header | {"x5c": [self_signed_certificate(attacker)]}, claims, attacker, "RS256")
    )


# -- claims, signed with our real key and naming a real live jti ---------------------------------------------
def test_expired_token_is_inactive_even_though_its_record_is_live(target, issued):
    forged = resign(target.server, issued["token"], claims={"exp": int(time.time()) - 5})
    assert_inactive(target, issued, forged)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_not_yet_valid_token_is_inactive(target, issued, claim):
    forged = resign(target.server, issued["token"], claims={claim: int(time.time()) + 3600})
    assert_inactive(target, issued, forged)


@pytest.mark.parametrize("iss", ["https://evil.example", "{iss}/", "{iss}/evil", "{upper}", ""])
def test_wrong_issuer_is_inactive(target, issued, genuine, iss):
    _, claims = genuine
    iss = iss.format(iss=claims["iss"], upper=claims["iss"].upper())
    assert_inactive(target, issued, resign(target.server, issued["token"], claims={"iss": iss}))


@pytest.mark.parametrize("aud", ["https://other.example/v2", ["https://other.example/v2"], "", [], "{aud}/"])
def test_wrong_audience_is_inactive(target, issued, genuine, aud):
    _, claims = genuine
    aud = aud.format(aud=claims["aud"]) if isinstance(aud, str) else aud
    assert_inactive(target, issued, resign(target.server, issued["token"], claims={"aud": aud}))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt ", "JOSE", None])
def test_wrong_typ_is_inactive(target, issued, typ):
    assert_inactive(target, issued, resign(target.server, issued["token"], header={"typ": typ}))


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "jti", "sub", "scope", "client_id"])
def test_missing_required_claim_is_inactive(target, issued, claim):
    assert_inactive(target, issued, resign(target.server, issued["token"], drop=(claim,)))


def test_sub_naming_another_integration_is_inactive(target, issued):
    other = target.agency.integration_with_token()
    assert_inactive(target, issued, resign(target.server, issued["token"], claims={"sub": other["integration_id"]}))


# -- signature games --------------------------------------------------------------------------------------------
def test_stripped_signature_is_inactive(target, issued):
    header, payload, _ = issued["token"].split(".")
    assert_inactive(target, issued, f"{header}.{payload}.")
    assert_inactive(target, issued, f"{header}.{payload}")


def test_signature_spliced_from_another_genuine_token_is_inactive(target, issued):
    other = target.agency.integration_with_token()
    header, payload, _ = issued["token"].split(".")
    assert_inactive(target, issued, f"{header}.{payload}.{other['token'].rsplit('.', 1)[1]}")


def test_payload_widened_to_more_scopes_under_the_genuine_signature_is_inactive(target, issued, genuine):
    header_segment, _, signature = issued["token"].split(".")
    claims = genuine[1] | {"scope": "contacts.readonly contacts.write users.write"}
    assert_inactive(target, issued, f"{header_segment}.{b64json(claims)}.{signature}")


def test_payload_re_encoded_with_padding_is_inactive(target, issued):
    header, payload, signature = issued["token"].split(".")
    assert_inactive(target, issued, f"{header}.{payload}{'=' * (-len(payload) % 4) or '=='}.{signature}")


# -- size and shape ---------------------------------------------------------------------------------------------
def test_oversized_token_of_100_kb_is_inactive(target, issued, genuine):
    header, claims = genuine
    forged = sign(header, claims | {"padding": "A" * 100_000}, foreign_rsa(), "RS256")
    assert len(forged) > 100_000
    assert_inactive(target, issued, forged)


def test_request_body_of_several_megabytes_is_refused_with_413(target, issued):
    response = target.introspect("A" * 3_000_000)
    assert response.status_code == 413
    assert response.json()["error"] == "request_entity_too_large"
    assert target.is_active(issued["token"])


MALFORMED = {
    "empty": "",
    "space": " ",
    "one_segment": "abc",
    "two_segments": "abc.def",
    "four_segments": "a.b.c.d",
    "only_dots": "...",
    "jwe_shape": "a.b.c.d.e",
    "header_not_base64": "!!!.e30.e30",
    "header_not_json": f"{b64url(b'not json')}.e30.",
    "header_is_array": f"{b64url(b'[1,2]')}.e30.",
    "header_is_number": f"{b64url(b'42')}.e30.",
    "header_is_string": f"{b64url(json.dumps('at+jwt').encode())}.e30.",
    "payload_is_array": f"{b64json({'alg': 'RS256', 'typ': 'at+jwt', 'kid': 'x'})}.{b64url(b'[]')}.",
    "deeply_nested_header": f"{b64url(('[' * 5000 + ']' * 5000).encode())}.e30.",
    "opaque_random": b64url(hashlib.sha256(b"opaque").digest()),
}


@pytest.mark.parametrize("token", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_token_is_inactive(target, issued, token):
    assert_inactive(target, issued, token)


WHITESPACE = {
    "leading_space": " {t}",
    "trailing_space": "{t} ",
    "trailing_newline": "{t}\n",
    "crlf_inside": "{h}.\r\n{p}.{s}",
    "tab_between_segments": "{h}\t.{p}.{s}",
    "space_in_signature": "{h}.{p}.{s1} {s2}",
}


@pytest.mark.parametrize("shape", WHITESPACE.values(), ids=WHITESPACE.keys())
def test_whitespace_around_or_inside_a_genuine_token_is_inactive(target, issued, shape):
    token = issued["token"]
    h, p, s = token.split(".")
    assert_inactive(target, issued, shape.format(t=token, h=h, p=p, s=s, s1=s[:10], s2=s[10:]))


UNICODE = {
    "fullwidth_dots": "\uff0e",
    "one_dot_leader": "\u2024",
    "zero_width_space": "\u200b.",
    "right_to_left_override": ".\u202e",
    "nul_byte": ".\u0000",
}


@pytest.mark.parametrize("separator", UNICODE.values(), ids=UNICODE.keys())
def test_unicode_separator_tricks_are_inactive(target, issued, separator):
    assert_inactive(target, issued, issued["token"].replace(".", separator))


def test_homoglyph_in_the_signature_is_inactive(target, issued):
    token = issued["token"]
    index = token.rindex("a") if "a" in token else len(token) - 1
    assert_inactive(target, issued, token[:index] + "\u0430" + token[index + 1 :])  # Cyrillic a


def test_percent_encoded_genuine_token_is_inactive(target, issued):
    assert_inactive(target, issued, issued["token"].replace(".", "%2E"))
