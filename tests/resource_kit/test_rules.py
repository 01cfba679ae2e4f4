"""The package's pure rules: route rules (fail closed), RFC 9728 well-known paths, RFC 8707 audiences, settings."""

from __future__ import annotations

import random
import re

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from authserver_resource.bearer import InvalidRequestError, MissingTokenError, is_b64token, token_from_header
from authserver_resource.compact_jws import TokenRefusedError, read_access_token
from authserver_resource.metadata import metadata_path, metadata_url
from authserver_resource.routes import NO_RULE, RoutesError, RouteTable
from authserver_resource.settings import Settings, SettingsError

TABLE = RouteTable.parse("""
# comment line
GET  /v2/contacts   contacts.readonly   # trailing comment
POST /v2/contacts   contacts.write
*    /v2/ping       -
*    /v2            calendars.readonly
""")


@pytest.mark.parametrize(
    ("method", "uri", "scope"),
    [
        ("GET", "/v2/contacts", "contacts.readonly"),
        ("GET", "/v2/contacts/con_1?x=1", "contacts.readonly"),
        ("POST", "/v2/contacts", "contacts.write"),
        ("DELETE", "/v2/ping", None),
        ("PATCH", "/v2/contacts", "calendars.readonly"),  # first match wins: falls through to "* /v2"
        ("GET", "/v2/contactsx", "calendars.readonly"),  # whole segments: not /v2/contacts, but under /v2
        ("GET", "/v3/contacts", NO_RULE),
        ("GET", "/v2/ping/../contacts", NO_RULE),
        ("GET", "/v2/%2E%2E/admin", NO_RULE),
        ("GET", "/v2//contacts", NO_RULE),
        ("GET", "/v2/contacts%2fx", NO_RULE),
        ("GET", "relative", NO_RULE),
    ],
)
def test_route_rules_match_whole_segments_first_match_and_fail_closed(method, uri, scope):
    assert TABLE.scope_for(method, uri) == scope


@pytest.mark.parametrize("text", ["GET /v2", "get /v2 a", "GET v2 a", "GET /v2/../x a", 'GET /v2 a"b', "GET /v2 a b"])
def test_a_bad_routes_file_is_refused_with_its_line(text):
    with pytest.raises(RoutesError, match="line 1"):
        RouteTable.parse(text)


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ("https://api.example.com", "/.well-known/oauth-protected-resource"),
        ("https://api.example.com/", "/.well-known/oauth-protected-resource"),
        ("https://api.example.com/v2", "/.well-known/oauth-protected-resource/v2"),
        ("https://api.example.com/a/b/", "/.well-known/oauth-protected-resource/a/b"),
    ],
)
def test_the_well_known_uri_is_formed_as_rfc_9728_section_3_1_says(resource, path):
    assert metadata_path(resource) == path
    assert metadata_url(resource) == "https://api.example.com" + path


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, MissingTokenError),
        ("Basic abc", MissingTokenError),
        ("Bearer", InvalidRequestError),
        ("Bearer a b", InvalidRequestError),
        ("Bearer a,b", InvalidRequestError),
    ],
)
def test_bearer_header_refusals(header, error):
    with pytest.raises(error):
        token_from_header(header)


def test_a_token_in_the_url_is_refused_even_with_a_good_header():
    with pytest.raises(InvalidRequestError):
        token_from_header("Bearer abc", token_elsewhere=True)


B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 section 2.1, as the grammar says it


@pytest.mark.parametrize(
    "text",
    [
        "",
        "=",
        "==",
        "a",
        "a=",
        "a==",
        "=a",
        "a=b",
        "a=b=",
        "A-Z.0_9~+/",
        "a b",
        "a,b",
        "a\n",
        "\na",
        "é",
        "a\x00",
        "ab=\n",
        "tok\u0130",
        "a" * 9000 + "=",
    ],
)
def test_the_b64token_check_gives_the_grammars_answer(text):
    assert is_b64token(text) == bool(B64TOKEN.fullmatch(text))


def test_the_b64token_check_gives_the_grammars_answer_on_random_strings():
    alphabet = "aZ09-._~+/=" + " ,;:\"'\t\r\n\x00\x7f\x80é\u0130\U0001f600"
    rng = random.Random(19)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert is_b64token(text) == bool(B64TOKEN.fullmatch(text)), repr(text)


KEY = ec.generate_private_key(ec.SECP256R1())


def _token(aud) -> str:
    claims = {
        "iss": "https://issuer",
        "aud": aud,
        "sub": "int_1",
        "client_id": "int_1",
        "account_id": "acc_1",
        "scope": "a",
        "jti": "tok_1",
        "iat": 1_800_000_000,
        "exp": 1_800_000_600,
    }
    return jwt.encode(claims, KEY, algorithm="ES256", headers={"typ": "at+jwt", "kid": "k1"})


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [
        ("https://api.example.com/crm", True),
        ("https://api.example.com/v2", True),
        (["https://api.example.com/billing", "https://api.example.com/crm"], True),
        ("https://api.example.com/billing", False),
        (["https://api.example.com/billing"], False),
    ],
)
def test_a_service_accepts_its_own_resource_or_the_default_audience(aud, accepted):
    def key_for(kid):
        return ("ES256", KEY.public_key())

    audiences = ("https://api.example.com/crm", "https://api.example.com/v2")
    if accepted:
        assert read_access_token(_token(aud), issuer="https://issuer", audience=audiences, key_for=key_for).jti
    else:
        with pytest.raises(TokenRefusedError, match="wrong audience"):
            read_access_token(_token(aud), issuer="https://issuer", audience=audiences, key_for=key_for)


def test_settings_refuse_unsafe_values_and_never_show_the_secret():
    good = Settings(issuer="http://127.0.0.1:5000/", client_id="cli", client_secret="s3cret-value")  # noqa: S106 - a test value
    assert good.issuer == "http://127.0.0.1:5000" and good.resource == good.audience
    assert "s3cret-value" not in repr(good)
    for bad in (
        {"issuer": "http://auth.example.com"},
        {"client_secret": ""},
        {"mode": "trust"},
        {"resource": "urn:x"},
        {"resource": "https://api.example.com/v2?x=1"},
        {"cache_ttl": 301},
    ):
        with pytest.raises(SettingsError):
            Settings(**({"issuer": "http://127.0.0.1:5000", "client_id": "cli", "client_secret": "s"} | bad))
