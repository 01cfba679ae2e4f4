"""RFC 9701: introspection answers as signed JWTs, negotiated by Accept, on the direct path and the Flask route alike.

The JWT is verified here with PyJWT and the server's published JWKS, independently of the resource package's code.
"""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from werkzeug.test import Client

from authserver.clients import set_client_limit
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from tests.factories import basic, make_client
from tests.support.config import ISSUER

from . import forge

JWT_TYPE = "application/token-introspection+jwt"
_VARYING = {"x-request-id", "content-length", "date", "server"}

# (Accept header, whether the answer is signed). JSON is the default; q=0 refuses; the most specific range counts.
NEGOTIATION = [
    (None, False),
    (JWT_TYPE, True),
    ("APPLICATION/Token-Introspection+JWT", True),  # media types compare case-insensitively
    (f"{JWT_TYPE};q=0", False),
    (f"{JWT_TYPE}; q=0.000", False),
    (f"{JWT_TYPE};q=0.001", True),
    ("*/*", False),  # a wildcard ties: JSON stays
    ("application/*", False),
    ("application/json", False),
    ("text/html", False),  # nothing acceptable: JSON, the default, rather than a 406
    (f"application/json, {JWT_TYPE}", True),  # both named, equal q: the one asked for by name
    (f"application/json;q=0.5, {JWT_TYPE}", True),
    (f"application/json, {JWT_TYPE};q=0.9", False),
    (f"{JWT_TYPE}, */*;q=0.1", True),
    (f"{JWT_TYPE};q=0, */*", False),  # the specific range's q=0 wins over the wildcard
    ("application/json;q=0, */*", True),  # JSON refused, anything else welcome: the JWT
    ("application/json;q=0, application/*;q=0.3", True),
    (f"{JWT_TYPE};q=1.5", False),  # an unreadable q: the range is left out
    (f"{JWT_TYPE};q=abc", False),
    ("", False),
    (",,;", False),
    (f"{JWT_TYPE};level=1;q=0.8, application/json;q=0.7", True),
]


def _paths(shared):
    return Client(shared.app.wsgi_app), Client(shared.app.wsgi_app.wsgi_app)


def _jwks_key(shared, kid):
    document = shared.client.get("/.well-known/jwks.json").get_json()
    return next(jwt.PyJWK(key) for key in document["keys"] if key["kid"] == kid)


def _verified(shared, response, audience):
    """The JWT's header and claims, verified with PyJWT against the published JWKS (not the package's code)."""
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JWT_TYPE
    token = response.get_data(as_text=True)
    header = jwt.get_unverified_header(token)
    key = _jwks_key(shared, header["kid"])
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[key.algorithm_name],
        audience=audience,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "iat"], "verify_iat": False},
    )
    return header, claims


def _both(shared, **request):
    """The same request on the direct path and the Flask route: same status and headers; the answers."""
    direct, flask_route = _paths(shared)
    ours = direct.post("/oauth/introspect", **request)
    reference = flask_route.post("/oauth/introspect", **request)
    assert ours.status_code == reference.status_code, (ours.get_data(), reference.get_data())
    mine = {(k.lower(), v) for k, v in ours.headers.items() if k.lower() not in _VARYING}
    theirs = {(k.lower(), v) for k, v in reference.headers.items() if k.lower() not in _VARYING}
    assert mine == theirs
    return ours, reference


@pytest.mark.parametrize(("accept", "signed"), NEGOTIATION)
def test_accept_negotiates_the_signed_answer_alike_on_both_paths(shared, accept, signed):
    world = shared.world
    headers = dict(world.rs_headers, **({"Accept": accept} if accept is not None else {}))
    ours, reference = _both(shared, data={"token": world.agency.token}, headers=headers)
    plain = shared.client.post("/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers)
    if not signed:
        assert ours.headers["Content-Type"] == "application/json"
        assert ours.get_json() == reference.get_json() == plain.get_json()
        return
    client_id = world.resource_service[0]
    for answer in (ours, reference):
        header, claims = _verified(shared, answer, client_id)
        assert claims["token_introspection"] == plain.get_json()  # the exact JSON answer, inside
        assert claims["iat"] == int(shared.clock.now().timestamp())
        assert set(claims) == {"iss", "aud", "iat", "token_introspection"}
        assert header["typ"] == "token-introspection+jwt"
        assert header["alg"] == "ES256"  # the key that signs access tokens (the shared app signs with ES256)
    assert ours.headers["Cache-Control"] == "no-store"


def test_the_answer_is_signed_by_the_key_and_algorithm_that_sign_access_tokens(shared):
    world = shared.world
    headers = dict(world.rs_headers, Accept=JWT_TYPE)
    answer = shared.client.post("/oauth/introspect", data={"token": world.agency.token}, headers=headers)
    header = jwt.get_unverified_header(answer.get_data(as_text=True))
    assert header["kid"] == jwt.get_unverified_header(world.agency.token)["kid"]
    assert header["alg"] == jwt.get_unverified_header(world.agency.token)["alg"]


@pytest.mark.parametrize("kind", ["garbage", "empty", "tampered"])
def test_inactive_answers_are_signed_too(shared, kind):
    world = shared.world
    token = {
        "garbage": "garbage",
        "empty": "",
        "tampered": forge.tampered(world.agency.token, sub=world.other.integration_id),
    }[kind]
    ours, reference = _both(shared, data={"token": token}, headers=dict(world.rs_headers, Accept=JWT_TYPE))
    for answer in (ours, reference):
        _header, claims = _verified(shared, answer, world.resource_service[0])
        assert claims["token_introspection"] == {"active": False}


def test_aud_is_the_asking_clients_id(shared):
    with shared.app.app_context():
        first = make_client(shared.clock, name="signed A")
        second = make_client(shared.clock, name="signed B")
    token = shared.world.agency.token
    for client_id, secret in (first, second):
        answer = shared.client.post(
            "/oauth/introspect", data={"token": token}, headers=dict(basic(client_id, secret), Accept=JWT_TYPE)
        )
        _header, claims = _verified(shared, answer, client_id)
        assert claims["aud"] == client_id
        other = second[0] if client_id == first[0] else first[0]
        with pytest.raises(jwt.InvalidAudienceError):
            _verified(shared, answer, other)


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("no credentials", 401, "invalid_client"),
        ("wrong secret", 401, "invalid_client"),
        ("admin client", 400, "unauthorized_client"),
        ("missing token", 400, "invalid_request"),
        ("repeated token", 400, "invalid_request"),
    ],
)
def test_errors_stay_json_whatever_is_accepted(shared, case, status, error):
    world = shared.world
    client_id, secret = world.resource_service
    request = {
        "no credentials": dict(data={"token": world.agency.token}, headers={}),
        "wrong secret": dict(data={"token": world.agency.token}, headers=basic(client_id, secret + "x")),
        "admin client": dict(data={"token": world.agency.token}, headers=world.agency.admin_headers),
        "missing token": dict(data={"token_type_hint": "access_token"}, headers=world.rs_headers),
        "repeated token": dict(
            data=f"token={world.agency.token}&token=x",
            headers=world.rs_headers,
            content_type="application/x-www-form-urlencoded",
        ),
    }[case]
    request["headers"] = dict(request["headers"], Accept=JWT_TYPE)
    ours, reference = _both(shared, **request)
    for answer in (ours, reference):
        assert answer.status_code == status
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.get_json()["error"] == error


def test_a_rate_limited_answer_stays_json(shared):
    with shared.app.app_context():
        client_id, secret = make_client(shared.clock, name="signed limited")
        with unit_of_work():
            set_client_limit(OPERATOR, client_id, introspection="1/1h", default=None, now=shared.clock.now())
    request = dict(data={"token": shared.world.agency.token}, headers=dict(basic(client_id, secret), Accept=JWT_TYPE))
    direct, _ = _paths(shared)
    assert direct.post("/oauth/introspect", **request).headers["Content-Type"] == JWT_TYPE
    refused, _ = _both(shared, **request)
    assert refused.status_code == 429 and refused.get_json()["error"] == "temporarily_unavailable"
    assert refused.headers["Content-Type"] == "application/json"


def test_the_metadata_advertises_the_signing_algorithms(shared):
    document = shared.client.get("/.well-known/oauth-authorization-server").get_json()
    assert "ES256" in document["introspection_signing_alg_values_supported"]


def test_without_a_key_that_can_sign_a_signed_answer_is_a_json_503_and_json_answers_go_on(app, world):
    """The key file gone (a broken deployment): nothing trustworthy can be said to a service that wants proof."""
    for pem in Path(app.config["AUTHSERVER_KEYS_DIR"]).glob("*.pem"):
        pem.unlink()
    direct, flask_route = Client(app.wsgi_app), Client(app.wsgi_app.wsgi_app)
    for path in (direct, flask_route):
        signed = path.post(
            "/oauth/introspect", data={"token": world.agency.token}, headers=dict(world.rs_headers, Accept=JWT_TYPE)
        )
        assert signed.status_code == 503 and signed.get_json()["error"] == "temporarily_unavailable"
        assert signed.headers["Content-Type"] == "application/json" and signed.headers["Retry-After"] == "1"
        plain = path.post("/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers)
        assert plain.status_code == 200 and plain.get_json()["active"] is True
