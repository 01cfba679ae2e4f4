"""A stand-in *issuer* for resource_demo's unit tests: a real HTTP server on 127.0.0.1 that publishes metadata, a
JWKS, an event snapshot and an (empty) event feed, and mints RFC 9068 tokens with its own key.

It stands in for the authorization server, which is not under test here; resource_demo is, unchanged. The full
authorization server is exercised against resource_demo in tests/e2e/test_resource_demo.py.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from resource_demo import create_app
from resource_demo.database import prepare
from resource_demo.extensions import db

AUDIENCE = "https://api.example.com/v2"


@functools.cache
def rsa_key(name: str = "issuer") -> rsa.RSAPrivateKey:
    """RSA key generation is slow; one key per name per test session is plenty."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class StubIssuer:
    def __init__(self) -> None:
        self.private_key = rsa_key()
        self.kid = "test-key-1"
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        self.jwks = {"keys": [public | {"kid": self.kid, "alg": "RS256", "use": "sig"}]}
        self.snapshot = {"cursor": 0, "revoked": [], "ending": [], "integrations": []}
        self.usage: list[dict] = []
        self.jwks_hits = 0
        self.server = make_server("127.0.0.1", 0, self._app(), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def _app(self) -> Flask:
        app = Flask("stub_issuer")

        @app.get("/.well-known/oauth-authorization-server")
        def metadata():
            return jsonify(
                issuer=self.url,
                jwks_uri=f"{self.url}/jwks",
                introspection_endpoint=f"{self.url}/i",
                token_usage_endpoint=f"{self.url}/oauth/usage",
            )

        @app.get("/jwks")
        def jwks():
            self.jwks_hits += 1
            return jsonify(self.jwks)

        @app.get("/oauth/events/snapshot")
        def snapshot():
            return jsonify(self.snapshot)

        @app.get("/oauth/events")
        def events():
            return jsonify(events=[], cursor=int(request.args.get("after", 0)))

        @app.post("/oauth/usage")
        def usage():
            self.usage.extend(request.get_json()["uses"])
            return jsonify(accepted=len(request.get_json()["uses"])), 202

        return app

    def mint(
        self,
        *,
        account_id: str = "acc_a",
        integration_id: str = "int_a",
        scope: str = "contacts.readonly",
        lifetime: int = 3600,
        headers: dict | None = None,
        key=None,
        algorithm: str = "RS256",
        **claims,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "sub": integration_id,
            "aud": AUDIENCE,
            "client_id": integration_id,
            "account_id": account_id,
            "scope": scope,
            "jti": f"tok_{uuid.uuid4().hex}",
            "iat": now,
            "exp": now + lifetime,
        } | claims
        header = {"typ": "at+jwt", "kid": self.kid} | (headers or {})
        return jwt.encode(payload, key or self.private_key, algorithm=algorithm, headers=header)

    def __enter__(self) -> StubIssuer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer():
    with StubIssuer() as stub:
        yield stub


@pytest.fixture
def local_app(issuer, tmp_path):
    """resource_demo in local mode against the stub issuer, its revocation state loaded (no background threads:
    tests step the feed by hand)."""
    app = create_app(
        {
            "INSTANCE_PATH": tmp_path / "instance",
            "AUTHSERVER_URL": issuer.url,
            "RESOURCE_DEMO_CLIENT_ID": "cli_test",
            "RESOURCE_DEMO_CLIENT_SECRET": "secret",
            "RESOURCE_DEMO_MODE": "local",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.db'}",
            "TESTING": True,
        }
    )
    prepare(app)
    app.extensions["resource_demo"].feed.follow_once()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(local_app):
    return local_app.test_client()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
