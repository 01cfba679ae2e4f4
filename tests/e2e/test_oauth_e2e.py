"""Issue 2 end to end: a real authserver process on 127.0.0.1, spoken to over HTTP the way a standards-following
resource service does: discovery (RFC 8414), JWKS verification with PyJWT's PyJWKClient (RFC 9068),
introspection (RFC 7662) and revocation (RFC 7009), including every failure case the issue names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.factories import basic

from .conftest import AUDIENCE, instant

ACTIVE_FIELDS = {
    "active",
    "scope",
    "client_id",
    "sub",
    "aud",
    "iss",
    "exp",
    "iat",
    "jti",
    "token_type",
    "account_id",
    "integration_id",
}


# -- helpers --------------------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    pad = lambda text: text + "=" * (-len(text) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(payload))))


def metadata(world) -> dict:
    response = requests.get(f"{world.server.url}/.well-known/oauth-authorization-server", timeout=10)
    assert response.status_code == 200
    return response.json()


def published_jwks(world) -> list[dict]:
    return requests.get(metadata(world)["jwks_uri"], timeout=10).json()["keys"]


def server_private_key(world, kid: str):
    """The server's own signing key, read from its keys directory: lets a test forge tokens that carry a valid
    signature but wrong claims, to prove the claims are checked and not only the signature."""
    pem = (world.server.workdir / "keys" / f"{kid}.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


@pytest.fixture(scope="module")
def issued(world) -> dict:
    """One live token of an agency integration, shared by the read-only tests of this module."""
    integration = world.agency.create_integration(scopes=["contacts.readonly", "calendars.readonly"])
    return world.agency.generate(integration["id"]) | {"integration": integration}


def fresh_token(world, admin=None, account_id=None, **body) -> dict:
    admin = admin or world.agency
    integration = admin.create_integration(account_id=account_id)
    return admin.generate(integration["id"], **body) | {"integration": integration}


# -- discovery and JWKS ---------------------------------------------------------------------------------
def test_metadata_issuer_equals_configured_issuer_and_advertises_endpoints(world):
    document = metadata(world)
    assert document["issuer"] == world.server.env["AUTHSERVER_ISSUER"]
    base = document["issuer"]
    assert document["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert document["introspection_endpoint"] == f"{base}/oauth/introspect"
    assert document["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert set(document["introspection_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }


def test_jwks_is_cacheable_and_holds_no_private_material(world):
    response = requests.get(metadata(world)["jwks_uri"], timeout=10)
    assert "max-age" in response.headers["Cache-Control"]
    keys = response.json()["keys"]
    assert keys and all(key["use"] == "sig" and key["kid"] for key in keys)
    assert all(not {"d", "p", "q", "dp", "dq", "qi"} & set(key) for key in keys)


def test_resource_service_verifies_token_with_pyjwkclient_from_discovered_jwks(world, issued):
    document = metadata(world)
    token = issued["token"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["kid"] == issued["kid"]

    signing_key = jwt.PyJWKClient(document["jwks_uri"], cache_keys=False).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=document["access_token_signing_alg_values_supported"],
        audience=AUDIENCE,
        issuer=document["issuer"],
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"]},
    )

    assert signing_key.key_id == header["kid"]
    assert claims["sub"] == issued["integration"]["id"]
    assert claims["jti"] == issued["token_id"]
    assert claims["account_id"] == world.agency.account_id
    assert claims["scope"].split() == ["calendars.readonly", "contacts.readonly"]
    assert claims["exp"] == int(instant(issued["expires_at"]).timestamp())


def test_pyjwt_refuses_the_token_for_another_audience(world, issued):
    signing_key = jwt.PyJWKClient(metadata(world)["jwks_uri"]).get_signing_key_from_jwt(issued["token"])
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(issued["token"], signing_key.key, algorithms=["RS256"], audience="https://elsewhere.example")


# -- introspection: the active answer -----------------------------------------------------------------------
def test_introspection_reports_every_field_of_an_active_token(world, issued):
    body = world.introspect(issued["token"])
    assert set(body) == ACTIVE_FIELDS
    _, claims = parts(issued["token"])
    assert body["active"] is True
    assert body["scope"] == "calendars.readonly contacts.readonly"
    assert body["client_id"] == claims["client_id"] == issued["integration"]["id"]
    assert body["sub"] == issued["integration"]["id"]
    assert body["aud"] == AUDIENCE
    assert body["iss"] == world.server.env["AUTHSERVER_ISSUER"]
    assert (body["exp"], body["iat"], body["jti"]) == (claims["exp"], claims["iat"], issued["token_id"])
    assert body["token_type"] == "Bearer"  # noqa: S105 - a token type, not a secret
    assert body["account_id"] == world.agency.account_id
    assert body["integration_id"] == issued["integration"]["id"]


def test_introspection_accepts_client_secret_post(world, issued):
    client_id, secret = world.resource_service
    response = requests.post(
        f"{world.server.url}/oauth/introspect",
        timeout=10,
        data={"token": issued["token"], "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200
    assert response.json()["active"] is True
    assert response.headers["Cache-Control"] == "no-store"


# -- introspection: who may ask ----------------------------------------------------------------------------
def test_unauthenticated_introspection_is_401_with_www_authenticate(world, issued):
    response = requests.post(f"{world.server.url}/oauth/introspect", data={"token": issued["token"]}, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert "active" not in response.json()


@pytest.mark.parametrize("how", ["basic", "post"])
def test_introspection_with_a_wrong_secret_is_401_invalid_client(world, issued, how):
    client_id, secret = world.resource_service
    wrong = secret[:-2] + ("xy" if not secret.endswith("xy") else "zz")
    kwargs = (
        {"headers": basic(client_id, wrong), "data": {"token": issued["token"]}}
        if how == "basic"
        else {"data": {"token": issued["token"], "client_id": client_id, "client_secret": wrong}}
    )
    response = requests.post(f"{world.server.url}/oauth/introspect", timeout=10, **kwargs)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers


def test_introspection_refuses_admin_clients_which_are_not_resource_services(world, issued):
    response = requests.post(
        f"{world.server.url}/oauth/introspect",
        data={"token": issued["token"]},
        auth=world.agency.credentials,
        timeout=10,
    )
    assert response.status_code == 400  # RFC 6749 section 5.2: authenticated, but not allowed here
    assert response.json()["error"] == "unauthorized_client"


def test_a_resource_service_bound_to_an_account_sees_only_that_account_tokens(world, issued):
    theirs = fresh_token(world, admin=world.other)
    assert world.introspect(issued["token"], auth=world.agency_resource_service)["active"] is True
    assert world.introspect(theirs["token"], auth=world.agency_resource_service) == {"active": False}
    assert world.is_active(theirs["token"])


# -- introspection: everything not ours and live is exactly {"active": false} ---------------------------------
def _tampered(world, token):
    header, payload, signature = token.split(".")
    claims = parts(token)[1] | {"scope": "contacts.readonly contacts.write calendars.write"}
    return f"{header}.{b64json(claims)}.{signature}"


def _foreign_key_with_known_kid(world, token):
    header, claims = parts(token)
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, foreign, algorithm="RS256", headers={"kid": header["kid"], "typ": "at+jwt"})


def _alg_none(world, token):
    header, claims = parts(token)
    return f"{b64json(header | {'alg': 'none'})}.{b64json(claims)}."


def _hs256_with_public_key(world, token):
    """The classic key-confusion attack: HMAC the token with the server's public key (PEM) as the secret."""
    header, claims = parts(token)
    jwk = next(key for key in published_jwks(world) if key["kid"] == header["kid"])
    public_pem = jwt.PyJWK(jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64json(header | {'alg': 'HS256'})}.{b64json(claims)}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _hs256_with_jwk_json(world, token):
    header, claims = parts(token)
    jwk = next(key for key in published_jwks(world) if key["kid"] == header["kid"])
    signing_input = f"{b64json(header | {'alg': 'HS256'})}.{b64json(claims)}"
    signature = hmac.new(json.dumps(jwk).encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _signed_by_us(**changes):
    """A token signed with the server's real key, but with a claim or header the server must refuse."""

    def forge(world, token):
        header, claims = parts(token)
        header_changes = changes.get("header", {})
        claims = {k: v for k, v in (claims | changes.get("claims", {})).items() if v is not None}
        headers = {
            k: v for k, v in ({"typ": header["typ"], "kid": header["kid"]} | header_changes).items() if v is not None
        }
        return jwt.encode(claims, server_private_key(world, header["kid"]), algorithm="RS256", headers=headers)

    return forge


BAD_TOKENS = {
    "tampered_payload": _tampered,
    "foreign_key_with_known_kid": _foreign_key_with_known_kid,
    "alg_none": _alg_none,
    "hs256_with_public_key_pem": _hs256_with_public_key,
    "hs256_with_public_jwk": _hs256_with_jwk_json,
    "wrong_issuer": _signed_by_us(claims={"iss": "http://127.0.0.1:1"}),
    "wrong_audience": _signed_by_us(claims={"aud": "https://elsewhere.example"}),
    "not_typ_at_jwt": _signed_by_us(header={"typ": "JWT"}),
    "no_kid": _signed_by_us(header={"kid": None}),
    "unknown_jti": _signed_by_us(claims={"jti": "tok_never_issued"}),
    "sub_of_another_integration": _signed_by_us(claims={"sub": "int_someone_else"}),
    "missing_scope": _signed_by_us(claims={"scope": None}),
    "garbage": lambda world, token: "garbage",
    "empty": lambda world, token: "",
    "three_dots": lambda world, token: "a.b.c",
    "truncated": lambda world, token: token[:-10],
    "non_ascii": lambda world, token: token[:20] + "é" + token[21:],
    "huge": lambda world, token: token + "A" * 20000,
}


@pytest.mark.parametrize("make_bad_token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_bad_tokens_introspect_as_exactly_active_false(world, issued, make_bad_token):
    bad = make_bad_token(world, issued["token"])
    assert bad != issued["token"]
    response = requests.post(
        f"{world.server.url}/oauth/introspect", data={"token": bad}, auth=world.resource_service, timeout=10
    )
    assert response.status_code == 200
    assert response.json() == {"active": False}
    assert world.is_active(issued["token"])  # the genuine token is unaffected


def test_token_is_inactive_from_the_second_its_exp_passes(world, server_clock):
    token = fresh_token(world, expires_in="1m")
    exp = instant(token["expires_at"])
    assert server_clock.call_at(exp - timedelta(seconds=1), lambda: world.introspect(token["token"]))["active"]
    assert server_clock.call_at(exp, lambda: world.introspect(token["token"])) == {"active": False}
    server_clock.move(3600)
    assert world.introspect(token["token"]) == {"active": False}


# -- revocation ------------------------------------------------------------------------------------------
def test_token_holder_revokes_its_own_token_without_credentials(world):
    token = fresh_token(world)
    assert world.is_active(token["token"])

    response = world.revoke(token["token"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert world.introspect(token["token"]) == {"active": False}
    [event] = world.agency.audit(action="token.revoked", target_id=token["token_id"])
    assert event["actor"]["type"] == "token_holder"


def test_admin_of_another_account_cannot_revoke_and_the_attempt_is_audited(world):
    token = fresh_token(world)

    response = world.revoke(token["token"], auth=world.other.credentials)

    assert response.status_code == 200  # never confirms that another tenant's token exists
    assert world.is_active(token["token"])
    [event] = world.other.audit(action="token.revocation_refused", target_id=token["token_id"])
    assert event["actor"] == event["actor"] | {"type": "admin_client", "id": world.other.client_id}
    assert world.agency.audit(action="token.revocation_refused", target_id=token["token_id"]) == []


def test_sub_account_admin_cannot_revoke_its_agency_token(world):
    token = fresh_token(world)
    assert world.revoke(token["token"], auth=world.sub.credentials).status_code == 200
    assert world.is_active(token["token"])


def test_agency_admin_revokes_a_sub_account_token(world):
    token = fresh_token(world, account_id=world.sub.account_id)
    assert world.introspect(token["token"])["account_id"] == world.sub.account_id

    response = world.revoke(token["token"], auth=world.agency.credentials)

    assert response.status_code == 200
    assert world.introspect(token["token"]) == {"active": False}
    [event] = world.sub.audit(action="token.revoked", target_id=token["token_id"])
    assert event["actor"]["id"] == world.agency.client_id


def test_admin_client_revokes_its_own_account_token_with_client_secret_post(world):
    token = fresh_token(world)
    client_id, secret = world.agency.credentials
    response = requests.post(
        f"{world.server.url}/oauth/revoke",
        timeout=10,
        data={"token": token["token"], "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200
    assert world.introspect(token["token"]) == {"active": False}


@pytest.mark.parametrize("unknown", ["garbage", "unknown_jti"])
def test_revoking_an_unknown_token_answers_200(world, issued, unknown):
    token = "garbage" if unknown == "garbage" else _signed_by_us(claims={"jti": "tok_unknown"})(world, issued["token"])
    assert world.revoke(token).status_code == 200
    assert world.revoke(token, auth=world.agency.credentials).status_code == 200
    assert world.is_active(issued["token"])


def test_revocation_with_a_wrong_secret_is_401_and_revokes_nothing(world):
    token = fresh_token(world)
    client_id, _ = world.agency.credentials
    response = world.revoke(token["token"], auth=(client_id, "not-the-secret"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert world.is_active(token["token"])


def test_revoking_twice_is_harmless_and_audited_once(world):
    token = fresh_token(world)
    assert world.revoke(token["token"]).status_code == 200
    assert world.revoke(token["token"], auth=world.agency.credentials).status_code == 200
    assert len(world.agency.audit(action="token.revoked", target_id=token["token_id"])) == 1


# -- signing key rotation --------------------------------------------------------------------------------
def test_after_key_rotation_old_and_new_tokens_both_verify_through_the_jwks(world, issued):
    old_kid = jwt.get_unverified_header(issued["token"])["kid"]

    new_kid = world.server.cli("keys", "rotate", "--now", "--json")["kid"]  # signs at once (no pre-publication)
    token = fresh_token(world)

    assert new_kid != old_kid
    assert jwt.get_unverified_header(token["token"])["kid"] == new_kid
    assert {old_kid, new_kid} <= {key["kid"] for key in published_jwks(world)}
    jwks = jwt.PyJWKClient(metadata(world)["jwks_uri"], cache_keys=False)
    for verified in (issued, token):
        key = jwks.get_signing_key_from_jwt(verified["token"])
        assert (
            jwt.decode(verified["token"], key.key, algorithms=["RS256"], audience=AUDIENCE)["jti"]
            == verified["token_id"]
        )
        assert world.introspect(verified["token"])["jti"] == verified["token_id"]
