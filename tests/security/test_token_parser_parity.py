"""One verdict per token, whoever judges it: the authorization server's introspection (its direct WSGI path and its
Flask route), its revocation endpoint, and resource_demo validating locally against the JWKS (a real process in
local mode). Every forged token below is validly signed with the server's own key and names a live record, so only
the token parser stands between it and ``active: true``.

The table holds each finding of issue 13 section 3 (NumericDate values that are not JSON integers, ``nbf``/``iat``
in the future, duplicate members, non-canonical base64url) beside valid controls that must stay active.
"""

from __future__ import annotations

import json
import re
import time

import jwt
import pytest
import requests

from authserver_resource.compact_jws import LEEWAY
from tests.support.resource_demo import make_resource_demo

from .conftest import AUDIENCE, TIMEOUT
from .forge import b64url, parts, server_key


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def sign_raw(server, header_json: str, payload_json: str, *, kid: str, alg: str) -> str:
    """Sign exactly these JSON texts (duplicates, ``1e309`` and ``Infinity`` survive) with the server's key."""
    signing_input = f"{b64url(header_json.encode())}.{b64url(payload_json.encode())}".encode()
    signature = jwt.get_algorithm_by_name(alg).sign(signing_input, server_key(server, kid))
    return f"{signing_input.decode()}.{b64url(signature)}"


def with_member(json_text: str, raw_member: str) -> str:
    """The JSON object text with one more member written as given (which may repeat an existing name)."""
    return json_text[:-1] + "," + raw_member + "}"


def replace_claim(claims: dict, name: str, raw_value: str) -> str:
    """The claims' JSON text with ``name`` set to a raw JSON value such as ``1e309`` or ``Infinity``."""
    marker = "\u0000MARK\u0000"
    return _json(claims | {name: marker}).replace(_json(marker), raw_value)


def non_canonical_last_char(segment: str) -> str:
    """The same bytes under another spelling: set unused low bits of the last base64url character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused_bits = {2: 4, 3: 2}[len(segment) % 4]
    value = alphabet.index(segment[-1])
    spelled = alphabet[value | ((1 << unused_bits) - 1)]
    assert spelled != segment[-1]
    return segment[:-1] + spelled


def standard_alphabet(segment: str) -> str:
    return segment.replace("-", "+").replace("_", "/")


# name -> (build(server, token) -> forged token, active?)
def _resigned(**claims):
    def build(server, token):
        header, genuine = parts(token)
        return sign_raw(server, _json(header), _json(genuine | claims), kid=header["kid"], alg=header["alg"])

    return build


def _raw_claim(name: str, raw_value):
    def build(server, token):
        header, genuine = parts(token)
        value = raw_value(genuine) if callable(raw_value) else raw_value
        return sign_raw(
            server, _json(header), replace_claim(genuine, name, value), kid=header["kid"], alg=header["alg"]
        )

    return build


def _dropped(name: str):
    def build(server, token):
        header, genuine = parts(token)
        claims = {k: v for k, v in genuine.items() if k != name}
        return sign_raw(server, _json(header), _json(claims), kid=header["kid"], alg=header["alg"])

    return build


def _header_first(raw_member: str):
    """A member written before the genuine ones, so a last-wins parser sees the genuine value."""

    def build(server, token):
        header, genuine = parts(token)
        text = "{" + raw_member.format(**header) + "," + _json(header)[1:]
        return sign_raw(server, text, _json(genuine), kid=header["kid"], alg=header["alg"])

    return build


def _payload_first(raw_member: str):
    def build(server, token):
        header, genuine = parts(token)
        text = "{" + raw_member.format(**genuine) + "," + _json(genuine)[1:]
        return sign_raw(server, _json(header), text, kid=header["kid"], alg=header["alg"])

    return build


def _header_changed(**members):
    def build(server, token):
        header, genuine = parts(token)
        return sign_raw(server, _json(header | members), _json(genuine), kid=header["kid"], alg=header["alg"])

    return build


def _utf16_header(server, token):
    header, genuine = parts(token)
    segment = b64url(_json(header).encode("utf-16"))
    signing_input = f"{segment}.{b64url(_json(genuine).encode())}".encode()
    signature = jwt.get_algorithm_by_name(header["alg"]).sign(signing_input, server_key(server, header["kid"]))
    return f"{signing_input.decode()}.{b64url(signature)}"


def _respelled(part: int, how):
    def build(server, token):
        segments = _resigned()(server, token).split(".")
        segments[part] = how(segments[part])
        return ".".join(segments)

    return build


def _padded(segment: str) -> str:
    return segment + ("=" * (-len(segment) % 4) or "==")


def _later(seconds: int):
    return lambda claims: str(int(time.time()) + seconds)


TABLE = {
    # -- valid controls ---------------------------------------------------------------------------------------
    "genuine": (lambda server, token: token, True),
    "resigned_unchanged": (_resigned(), True),
    "aud_as_list_holding_ours": (_resigned(aud=["https://other.example", AUDIENCE]), True),
    "iat_in_the_future_within_leeway": (_raw_claim("iat", _later(LEEWAY // 2)), True),
    "nbf_in_the_past": (_raw_claim("nbf", _later(-60)), True),
    "nbf_in_the_future_within_leeway": (_raw_claim("nbf", _later(LEEWAY // 2)), True),
    "typ_media_type_form": (_header_changed(typ="application/at+jwt"), True),
    # -- NumericDate values that are not JSON integers in range -----------------------------------------------
    "exp_1e309": (_raw_claim("exp", "1e309"), False),
    "exp_minus_1e309": (_raw_claim("exp", "-1e309"), False),
    "exp_Infinity": (_raw_claim("exp", "Infinity"), False),
    "exp_NaN": (_raw_claim("exp", "NaN"), False),
    "exp_string": (_raw_claim("exp", lambda claims: _json(str(claims["exp"]))), False),
    "exp_float": (_raw_claim("exp", lambda claims: f"{claims['exp']}.0"), False),
    "exp_float_exponent": (_raw_claim("exp", lambda claims: f"{claims['exp'] / 1e9!r}e9"), False),
    "exp_true": (_raw_claim("exp", "true"), False),
    "exp_null": (_raw_claim("exp", "null"), False),
    "exp_beyond_year_9999": (_raw_claim("exp", str(10**30)), False),
    "exp_in_the_past": (_raw_claim("exp", _later(-5)), False),
    "iat_1e309": (_raw_claim("iat", "1e309"), False),
    "iat_string": (_raw_claim("iat", lambda claims: _json(str(claims["iat"]))), False),
    "iat_float": (_raw_claim("iat", lambda claims: f"{claims['iat']}.5"), False),
    "iat_negative": (_raw_claim("iat", "-1"), False),
    "nbf_string": (_raw_claim("nbf", lambda claims: _json(str(claims["iat"]))), False),
    "nbf_float": (_raw_claim("nbf", lambda claims: f"{claims['iat']}.0"), False),
    "nbf_Infinity": (_raw_claim("nbf", "-Infinity"), False),
    # -- not yet valid, beyond the one leeway ------------------------------------------------------------------
    "iat_an_hour_ahead": (_raw_claim("iat", _later(3600)), False),
    "nbf_an_hour_ahead": (_raw_claim("nbf", _later(3600)), False),
    "iat_just_beyond_leeway": (_raw_claim("iat", _later(LEEWAY + 30)), False),
    "nbf_just_beyond_leeway": (_raw_claim("nbf", _later(LEEWAY + 30)), False),
    # -- duplicate members --------------------------------------------------------------------------------------
    "header_alg_none_then_ours": (_header_first('"alg":"none"'), False),
    "header_typ_twice": (_header_first('"typ":"JWT"'), False),
    "header_kid_twice": (_header_first('"kid":"attacker"'), False),
    "payload_scope_twice": (_payload_first('"scope":"users.write"'), False),
    "payload_exp_twice": (_payload_first('"exp":1'), False),
    "payload_sub_twice": (_payload_first('"sub":"int_someone_else"'), False),
    "payload_nested_object": (_resigned(extra={"a": 1}), True),  # control for the next row's shape
    "payload_nested_object_with_duplicates": (_payload_first('"extra":{{"a":1,"a":2}}'), False),
    # -- one token, one spelling ------------------------------------------------------------------------------
    "signature_padded": (_respelled(2, _padded), False),
    "header_padded": (_respelled(0, _padded), False),
    "payload_padded": (_respelled(1, _padded), False),
    "signature_unused_bits_set": (_respelled(2, non_canonical_last_char), False),
    "signature_standard_alphabet": (_respelled(2, standard_alphabet), False),
    "header_utf16": (_utf16_header, False),
    # -- header rules -------------------------------------------------------------------------------------------
    "crit_header": (_header_changed(crit=["exp"]), False),
    "b64_false_header": (_header_changed(b64=False, crit=["b64"]), False),
    # -- claims tenancy needs ----------------------------------------------------------------------------------
    "account_id_missing": (_dropped("account_id"), False),
    "account_id_empty": (_resigned(account_id=""), False),
    "aud_list_with_a_non_string": (_resigned(aud=[AUDIENCE, 7]), False),
}


@pytest.fixture(scope="module")
def issued(target) -> dict:
    return target.agency.integration_with_token(scopes=("contacts.readonly",))


@pytest.fixture(scope="module")
def local_demo(target, tmp_path_factory):
    """A real resource_demo in local mode (JWKS plus the event feed) against the catalogue's server."""
    client_id, secret = target.resource_service
    demo = make_resource_demo(
        tmp_path_factory.mktemp("parity-demo"),
        authserver_url=target.url,
        client_id=client_id,
        client_secret=secret,
        mode="local",
        RESOURCE_DEMO_AUDIENCE=AUDIENCE,
    )
    demo.start(timeout=60)
    try:
        yield demo
    finally:
        demo.stop()


def introspect_direct(target, token: str) -> bool:
    response = target.introspect(token)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()["active"]


def introspect_via_flask_route(target, token: str) -> bool:
    """A chunked body is left to the Flask route by the direct path: the reference implementation."""
    body = f"token={requests.utils.quote(token, safe='')}".encode()
    response = requests.post(
        f"{target.url}/oauth/introspect",
        data=iter([body]),
        auth=target.resource_service,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()["active"]


def accepted_locally(demo, token: str) -> bool:
    """200, or a refusal: 401 invalid_token, or 400 for a padded segment RFC 6750's b64token syntax refuses."""
    response = requests.get(f"{demo.url}/v2/contacts", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    assert response.status_code in (200, 400, 401), response.text
    return response.status_code == 200


@pytest.mark.parametrize("name", TABLE)
def test_server_and_local_validator_give_the_same_verdict(target, issued, local_demo, name):
    build, active = TABLE[name]
    token = build(target.server, issued["token"])
    assert active or token != issued["token"]
    verdicts = {
        "introspection (direct path)": introspect_direct(target, token),
        "introspection (Flask route)": introspect_via_flask_route(target, token),
        "resource_demo (local mode)": accepted_locally(local_demo, token),
    }
    assert verdicts == dict.fromkeys(verdicts, active)
    # No row, however refused, harms the genuine token (a validly signed copy with an earlier exp must not end it).
    assert introspect_direct(target, issued["token"]) and accepted_locally(local_demo, issued["token"])


@pytest.mark.parametrize("raw", ["1e309", "-1e309", "Infinity", "NaN", "1e400", str(10**400)])
def test_revocation_of_a_token_with_an_absurd_exp_is_200_and_changes_nothing(target, issued, raw):
    """RFC 7009 section 2.2: an invalid token is a 200 with nothing revoked (was a 500 for ``1e309``)."""
    token = _raw_claim("exp", raw)(target.server, issued["token"])
    for auth in (None, target.agency.credentials):
        response = target.revoke(token, auth=auth)
        assert response.status_code == 200, response.text
    assert introspect_direct(target, issued["token"])


def test_minted_jti_carries_at_least_128_random_bits(target):
    """32 base32 characters after ``tok_`` are 160 bits (a jti of ``new_id``'s 24 characters was 120)."""
    jtis = {parts(target.agency.integration_with_token()["token"])[1]["jti"] for _ in range(3)}
    assert len(jtis) == 3
    for jti in jtis:
        assert re.fullmatch(r"tok_[a-z2-7]{32}", jti), jti
