"""The strict token parser on its own: any input gives claims or ``TokenRefusedError`` (never another exception),
the time window's edges sit exactly at one ``LEEWAY``, and the module stands alone (no import of the server), as a
resource-side package will need it to. Verdicts over HTTP are in tests/security/test_token_parser_parity.py."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from authserver_resource import compact_jws
from authserver_resource.compact_jws import LEEWAY, TokenRefusedError, is_current, read_access_token

ISSUER, AUDIENCE, KID = "https://issuer.example", "https://api.example/v2", "key-1"
KEY = ec.generate_private_key(ec.SECP256R1())
NOW = 1_800_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes) -> dict:
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "int_a",
        "client_id": "int_a",
        "account_id": "acc_a",
        "scope": "contacts.readonly",
        "jti": "tok_a",
        "iat": NOW,
        "exp": NOW + 3600,
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def signed(payload: dict | str, header: dict | str | None = None) -> str:
    header = header if header is not None else {"alg": "ES256", "typ": "at+jwt", "kid": KID}
    head = header if isinstance(header, str) else json.dumps(header)
    body = payload if isinstance(payload, str) else json.dumps(payload)
    signing_input = f"{b64(head.encode())}.{b64(body.encode())}".encode()
    return f"{signing_input.decode()}.{b64(jwt.get_algorithm_by_name('ES256').sign(signing_input, KEY))}"


def read(token: object):
    return read_access_token(
        token, issuer=ISSUER, audience=AUDIENCE, key_for=lambda kid: ("ES256", KEY.public_key()) if kid == KID else None
    )


def test_a_well_formed_token_reads_to_typed_claims():
    result = read(signed(claims(nbf=NOW)))
    assert (result.jti, result.sub, result.account_id, result.exp, result.iat, result.nbf, result.kid) == (
        "tok_a",
        "int_a",
        "acc_a",
        NOW + 3600,
        NOW,
        NOW,
        KID,
    )


@pytest.mark.parametrize(
    ("iat", "nbf", "now", "current"),
    [
        (NOW, None, NOW - LEEWAY, True),  # iat exactly one leeway ahead of the verifier's clock
        (NOW, None, NOW - LEEWAY - 1, False),
        (NOW - 100, NOW, NOW - LEEWAY, True),  # nbf later than iat: nbf decides
        (NOW - 100, NOW, NOW - LEEWAY - 1, False),
        (NOW, NOW - 100, NOW - LEEWAY - 1, False),  # nbf earlier than iat: iat still decides
        (NOW, None, NOW + 3599, True),
        (NOW, None, NOW + 3600, False),  # exp is exclusive, with no leeway
    ],
)
def test_time_window_is_one_leeway_before_iat_or_nbf_up_to_exp(iat, nbf, now, current):
    assert is_current(iat=iat, nbf=nbf, exp=NOW + 3600, now=now) is current


@pytest.mark.parametrize(
    "value",
    [
        '"1800000000"',
        "1800000000.0",
        "1.8e9",
        "1e309",
        "Infinity",
        "NaN",
        "true",
        "null",
        "-1",
        str(compact_jws.NUMERIC_DATE_MAX + 1),
        "[1800000000]",
        "9" * 5000,
    ],
)
@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_numeric_date_that_is_not_an_integer_in_range_is_refused(claim, value):
    text = json.dumps(claims() | {claim: "MARK"}).replace('"MARK"', value)
    with pytest.raises(TokenRefusedError):
        read(signed(text))


@pytest.mark.parametrize(
    "header",
    [
        '{"alg":"none","alg":"ES256","typ":"at+jwt","kid":"key-1"}',
        '{"alg":"ES256","typ":"JWT","typ":"at+jwt","kid":"key-1"}',
        '{"alg":"ES256","typ":"at+jwt","kid":"x","kid":"key-1"}',
    ],
)
def test_duplicate_header_members_are_refused(header):
    with pytest.raises(TokenRefusedError):
        read(signed(claims(), header))


def test_duplicate_payload_members_are_refused_at_any_depth():
    for text in (
        json.dumps(claims())[:-1] + ', "scope": "users.write"}',
        json.dumps(claims(extra="MARK")).replace('"MARK"', '{"a": 1, "a": 2}'),
    ):
        with pytest.raises(TokenRefusedError):
            read(signed(text))


@pytest.mark.parametrize(
    "respell",
    [
        lambda s: s + "==",
        lambda s: s.replace("-", "+").replace("_", "/") if ("-" in s or "_" in s) else s + "+",
        lambda s: (
            s[:-1]
            + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(s[-1]) | 0b1111
            ]
        ),
    ],
)
@pytest.mark.parametrize("segment", [0, 1, 2])
def test_a_second_spelling_of_any_segment_is_refused(segment, respell):
    token = signed(claims())
    parts = token.split(".")
    respelled = respell(parts[segment])
    if respelled == parts[segment]:
        pytest.skip("this segment has no unused bits to set")
    parts[segment] = respelled
    with pytest.raises(TokenRefusedError):
        read(".".join(parts))


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "ES256", "typ": "at+jwt", "kid": KID, "crit": ["exp"]},
        {"alg": "ES256", "typ": "at+jwt", "kid": KID, "b64": False},
        {"alg": "RS256", "typ": "at+jwt", "kid": KID},  # not the key's algorithm
        {"alg": "HS256", "typ": "at+jwt", "kid": KID},
        {"alg": "ES256", "typ": "jwt", "kid": KID},
        {"alg": "ES256", "typ": "at+jwt", "kid": "k" * 65},
        {"alg": "ES256", "typ": "at+jwt", "kid": "other"},
    ],
)
def test_header_rules(header):
    with pytest.raises(TokenRefusedError):
        read(signed(claims(), header))


def test_typ_compares_case_insensitively_as_a_media_type():
    assert read(signed(claims(), {"alg": "ES256", "typ": "Application/AT+JWT", "kid": KID})).jti == "tok_a"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200).map(lambda raw: ".".join(b64(part) for part in (raw[:40], raw[40:120], raw[120:]))),
        st.none(),
        st.integers(),
    )
)
def test_any_input_reads_or_is_refused_never_raises_anything_else(token):
    try:
        read(token)
    except TokenRefusedError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
        max_leaves=8,
    ),
    st.sampled_from(["exp", "iat", "nbf", "aud", "iss", "jti", "scope", "account_id"]),
)
def test_any_json_value_in_any_claim_reads_or_is_refused(value, claim):
    try:
        read(signed(claims(**{claim: value}) if value is not None else claims() | {claim: None}))
    except TokenRefusedError:
        pass


def test_the_parser_module_stands_alone_without_the_server_package():
    """Loaded from its file with ``authserver`` unimportable, it still reads a token: it can move into a
    resource-side package as it is."""
    path = Path(compact_jws.__file__)
    script = f"""
import importlib.util, sys
sys.modules["authserver"] = None  # any import of the server package now fails
spec = importlib.util.spec_from_file_location("compact_jws", {str(path)!r})
module = importlib.util.module_from_spec(spec)
sys.modules["compact_jws"] = module
spec.loader.exec_module(module)
try:
    module.read_access_token("a.b.c", issuer="i", audience="a", key_for=lambda kid: None)
except module.TokenRefusedError:
    print("refused")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)  # noqa: S603
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "refused"
