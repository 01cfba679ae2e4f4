"""The Flask face reads the request straight from Flask (no authlib request wrapper) and reads the URL and DPoP
headers only when a proof is checked: what it still publishes and refuses, in process, with a warm guard."""

from __future__ import annotations

import hashlib
import time

import pytest
from authlib.integrations.flask_oauth2 import current_token, token_authenticated
from flask import Flask, jsonify

from authserver_resource import Guard, Settings
from authserver_resource.flask import FlaskResource, current_grant
from authserver_resource.grants import Grant

TOKEN = "warm-token"  # noqa: S105 (a cache key in this test)
GRANT = Grant(
    jti="tok_face",
    account_id="acc_face",
    integration_id="int_face",
    client_id="int_face",
    scopes=frozenset({"contacts.readonly"}),
    exp=time.time() + 3600,
)


@pytest.fixture
def client():
    """A guard whose cache holds TOKEN (as just after an introspection) and whose feed is live; no threads."""
    guard = Guard(Settings(issuer="http://127.0.0.1:9", client_id="rs", client_secret="s" * 32))
    assert guard.cache is not None
    guard.cache.put(hashlib.sha256(TOKEN.encode()).hexdigest(), GRANT, now=time.time(), generation=0)
    guard.feed._live, guard.feed._last_ok = True, time.monotonic() + 3600
    app = Flask(__name__)
    resource = FlaskResource(app, guard, autostart=False)

    @app.route("/v2/contacts", methods=["GET", "POST"])
    @resource.require("contacts.readonly")
    def contacts():
        return jsonify(grant=current_grant().jti, token=current_token.jti)

    return app.test_client()


def test_the_grant_is_published_to_current_token_and_the_signal(client):
    seen = []

    def receiver(sender, token, **extra):
        seen.append(token)

    token_authenticated.connect(receiver)
    try:
        response = client.get("/v2/contacts", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        token_authenticated.disconnect(receiver)
    assert response.status_code == 200
    assert response.json == {"grant": "tok_face", "token": "tok_face"}
    assert seen == [GRANT]


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"query_string": "access_token=" + TOKEN},
        {"query_string": "access%5Ftoken=" + TOKEN},  # the same name, percent-encoded
        {"data": {"access_token": TOKEN}},  # a form-encoded body (RFC 6750 section 2.2)
    ],
    ids=["query", "encoded-query-name", "form-body"],
)
def test_a_token_outside_the_header_is_refused(client, request_kwargs):
    response = client.post("/v2/contacts", headers={"Authorization": f"Bearer {TOKEN}"}, **request_kwargs)
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_a_json_body_is_not_read_for_a_token(client):
    response = client.post(
        "/v2/contacts", headers={"Authorization": f"Bearer {TOKEN}"}, json={"access_token": "something else"}
    )
    assert response.status_code == 200


def test_a_bound_token_sent_as_bearer_is_refused_without_reading_a_proof(client):
    """The lazy URL and DPoP headers change nothing for a bearer call of a bound token: refused as before."""
    guard: Guard = client.application.extensions["authserver_resource"].guard
    bound = Grant(**{**GRANT.__dict__, "jti": "tok_bound", "jkt": "A" * 43})
    assert guard.cache is not None
    guard.cache.put(hashlib.sha256(b"bound-token").hexdigest(), bound, now=time.time(), generation=0)
    response = client.get("/v2/contacts", headers={"Authorization": "Bearer bound-token"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    no_proof = client.get("/v2/contacts", headers={"Authorization": "DPoP bound-token"})
    assert no_proof.status_code == 401
    assert 'error="invalid_dpop_proof"' in no_proof.headers["WWW-Authenticate"]
