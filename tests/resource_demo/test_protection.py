"""RFC 6750 behaviour and the local-mode verdicts, against the stub issuer's keys and revocation snapshot."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import bearer, rsa_key


def test_missing_token_is_a_401_challenge_without_an_error_code(client):
    response = client.get("/v2/contacts")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="v2", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v2", '
        'DPoP algs="ES256 ES384 PS256 RS256 EdDSA"'  # RFC 9449 section 7.2: both schemes are accepted
    )


@pytest.mark.parametrize("header", ["Bearer", "Bearer  two-spaces", "Bearer a,b", "Bearer a b"])
def test_malformed_authorization_header_is_a_400_invalid_request(client, header):
    response = client.get("/v2/contacts", headers={"Authorization": header})
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_a_token_in_the_query_string_is_refused(client, issuer):
    response = client.get(f"/v2/contacts?access_token={issuer.mint()}")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_insufficient_scope_names_the_scope_needed(client, issuer):
    response = client.post("/v2/contacts", json={"name": "x"}, headers=bearer(issuer.mint()))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="contacts.write"' in response.headers["WWW-Authenticate"]


def _refused(client, token) -> bool:
    response = client.get("/v2/contacts", headers=bearer(token))
    return response.status_code == 401 and response.get_json()["error"] == "invalid_token"


def test_rfc_9068_checks_refuse_tokens_that_are_not_ours_or_not_access_tokens(client, issuer):
    stranger = rsa_key("stranger")
    assert _refused(client, issuer.mint(key=stranger))  # signed by someone else under our kid
    assert _refused(client, issuer.mint(headers={"typ": "JWT"}))  # an ID token or other JWT, not at+jwt
    assert _refused(client, issuer.mint(aud="https://other.example.com"))
    assert _refused(client, issuer.mint(iss="https://evil.example.com"))
    assert _refused(client, issuer.mint(lifetime=-1))  # expired
    assert _refused(client, issuer.mint(account_id=None))  # no tenant: reaches no one's data
    assert _refused(client, issuer.mint(headers={"kid": "unknown-kid"}))


def test_the_algorithm_is_pinned_to_the_one_the_jwk_declares(client, issuer):
    assert _refused(client, issuer.mint(key=ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"))
    assert _refused(client, issuer.mint(key="a-shared-secret-of-32-characters", algorithm="HS256"))
    header, payload, _ = issuer.mint().split(".")
    unsigned = jwt.encode(
        jwt.decode(issuer.mint(), options={"verify_signature": False}),
        None,
        algorithm="none",
        headers={"typ": "at+jwt", "kid": issuer.kid},
    )
    assert _refused(client, unsigned)
    assert _refused(client, f"{header}.{payload}.")


def test_revoked_ending_and_disabled_tokens_are_refused_from_the_snapshot(local_app, issuer):
    revoked, ended, disabled, narrowed = (issuer.mint(integration_id=f"int_{n}") for n in range(4))
    claims = {
        name: jwt.decode(tok, options={"verify_signature": False})
        for name, tok in (("revoked", revoked), ("ended", ended))
    }
    now = int(time.time())
    issuer.snapshot = {
        "cursor": 7,
        "revoked": [{"jti": claims["revoked"]["jti"], "exp": now + 3600}],
        "ending": [{"jti": claims["ended"]["jti"], "ends_at": now - 1, "exp": now + 3600}],
        "integrations": [
            {"integration_id": "int_2", "account_id": "acc_a", "scopes": ["contacts.readonly"], "status": "disabled"},
            {"integration_id": "int_3", "account_id": "acc_a", "scopes": ["calendars.readonly"], "status": "active"},
        ],
    }
    runtime = local_app.extensions["resource_demo"]
    runtime.feed.cursor = None
    runtime.feed.follow_once()
    client = local_app.test_client()
    for token in (revoked, ended, disabled, narrowed):  # narrowed: token scope and integration scopes are disjoint
        assert _refused(client, token)
    assert client.get("/v2/contacts", headers=bearer(issuer.mint(integration_id="int_9"))).status_code == 200


def test_local_mode_fails_closed_when_the_revocation_state_is_stale(local_app, issuer):
    runtime = local_app.extensions["resource_demo"]
    runtime.feed._last_ok -= 3600  # as if the feed had been down for an hour
    runtime.feed._live = False
    response = local_app.test_client().get("/v2/contacts", headers=bearer(issuer.mint()))
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert _refused(local_app.test_client(), issuer.mint(lifetime=-1))  # expiry needs no feed


def test_local_use_is_reported_in_batches(local_app, issuer):
    token = issuer.mint()
    client = local_app.test_client()
    for _ in range(3):
        client.get("/v2/contacts", headers=bearer(token))
    local_app.extensions["resource_demo"].usage.flush()
    assert [use["count"] for use in issuer.usage] == [3]
    assert issuer.usage[0]["last_used_at"].endswith("Z")
