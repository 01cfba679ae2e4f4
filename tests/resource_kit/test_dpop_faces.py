"""DPoP-bound tokens (RFC 9449) through every face of the package over real processes on 127.0.0.1: the Python
examples (Flask, bare WSGI, Starlette, FastAPI), the gate behind a real nginx (``--public-url``, the client's DPoP
header passed through auth_request), and the Node.js example (jose). Proofs are built by hand with joserfc; each
face serves a good proof once and refuses a replay, another URL, a bound token sent as Bearer, and a proof of
another key, with RFC 9449's errors."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from pathlib import Path

import pytest
import requests
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

from tests.support.servers import ROOT, free_port

from .conftest import NGINX, READ, RESOURCE, Process, render_nginx, start_gate, start_node
from .test_faces import FACES, start_example

UPSTREAM = Path(__file__).with_name("upstream.js")
ROUTES = f"GET /v2/contacts {READ}\n"


def proof_for(key, method: str, url: str, token: str, **extra) -> str:
    ath = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time()), "ath": ath} | extra
    return jose_jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}, claims, key)


def call(url: str, token: str, proof: str | None = None, scheme: str = "DPoP") -> requests.Response:
    headers = {"Authorization": f"{scheme} {token}"} | ({"DPoP": proof} if proof else {})
    return requests.get(url, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def bound(kit):
    """A key, and a token of an integration bound to it by thumbprint."""
    key = ECKey.generate_key("P-256")
    body = {"name": "dpop faces", "scopes": [READ], "dpop_jkt": key.thumbprint()}
    integration = kit.admin.call("POST", f"/api/accounts/{kit.admin.account_id}/integrations", 201, json=body)
    return key, kit.admin.generate_token(integration["id"])


def assert_same_verdicts(url: str, called: str, key, token: str) -> None:
    """``url`` is where the request goes; ``called`` what the client believes it called (the proof's htu)."""
    proof = proof_for(key, "GET", called, token)
    served = call(url, token, proof)
    assert served.status_code == 200, served.text
    checks = {
        "replay": call(url, token, proof),
        "another URL": call(url, token, proof_for(key, "GET", called.replace("contacts", "calendars"), token)),
        "another key": call(url, token, proof_for(ECKey.generate_key("P-256"), "GET", called, token)),
        "no proof": call(url, token),
    }
    for case, response in checks.items():
        assert response.status_code == 401, (case, response.text)
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith("DPoP ") and 'error="invalid_dpop_proof"' in challenge, (case, challenge)
    as_bearer = call(url, token, proof_for(key, "GET", called, token), scheme="Bearer")
    assert (
        as_bearer.status_code == 401
        and 'DPoP realm="v2", error="invalid_token"' in as_bearer.headers["WWW-Authenticate"]
    )


@pytest.mark.parametrize("face", FACES)
def test_every_python_face_checks_proofs_against_the_url_it_was_called_at(kit, bound, tmp_path, face):
    """No public URL configured: the request's own scheme and Host make the URL (local mode for two faces)."""
    mode = "local" if face in ("wsgi_app", "fastapi_app") else "introspection"
    process, url = start_example(kit, tmp_path, face, mode)
    try:
        key, token = bound
        assert_same_verdicts(f"{url}/v2/contacts", f"{url}/v2/contacts", key, token)
        document = requests.get(f"{url}/.well-known/oauth-protected-resource/v2", timeout=10).json()
        assert document["dpop_signing_alg_values_supported"] == ["ES256", "ES384", "PS256", "RS256", "EdDSA"]
    finally:
        process.stop()


@pytest.mark.parametrize("mode", ["introspection", "local"])
def test_the_gate_behind_nginx_checks_proofs_against_its_public_url(kit, bound, tmp_path, mode):
    port = free_port()  # nginx's, chosen first: it is the public URL the gate is told about
    public = f"http://127.0.0.1:{port}"
    gate, gate_port = start_gate(kit, tmp_path / "gate", mode=mode, routes=ROUTES, extra=("--public-url", public))
    node, node_port = start_node(UPSTREAM, tmp_path)
    node.wait_until(lambda: requests.get(f"http://127.0.0.1:{node_port}/", timeout=1).status_code == 200)
    config = render_nginx(tmp_path / "nginx", listen=port, gate=gate_port, upstream=node_port)
    nginx = Process([NGINX, "-p", str(tmp_path / "nginx"), "-c", str(config)], tmp_path / "nginx.log")
    try:
        nginx.wait_until(lambda: requests.get(f"{public}/.well-known/oauth-protected-resource/v2", timeout=1).ok)
        key, token = bound
        assert_same_verdicts(f"{public}/v2/contacts?page=2", f"{public}/v2/contacts", key, token)
        seen = call(f"{public}/v2/contacts", token, proof_for(key, "GET", f"{public}/v2/contacts", token)).json()
        assert seen["integration"].startswith("int_") and seen["scopes"] == READ  # what nginx passed upstream
    finally:
        for process in (nginx, node, gate):
            process.stop()


def test_the_node_example_checks_proofs_with_jose(kit, bound, tmp_path):
    env = dict(os.environ) | {
        "ISSUER": kit.server.url,
        "CLIENT_ID": kit.service["client_id"],
        "CLIENT_SECRET": kit.service["client_secret"],
        "RESOURCE": RESOURCE,
    }
    process, port = start_node(ROOT / "clients" / "node" / "server.mjs", tmp_path, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_until(lambda: requests.get(f"{url}/healthz", timeout=1).json()["status"] == "ok")
        key, token = bound
        assert_same_verdicts(f"{url}/v2/contacts", f"{url}/v2/contacts", key, token)
        old = proof_for(key, "GET", f"{url}/v2/contacts", token, iat=int(time.time()) - 120)
        assert 'error="invalid_dpop_proof"' in call(f"{url}/v2/contacts", token, old).headers["WWW-Authenticate"]
        post = proof_for(key, "POST", f"{url}/v2/contacts", token)
        assert 'error="invalid_dpop_proof"' in call(f"{url}/v2/contacts", token, post).headers["WWW-Authenticate"]
        unbound = kit.token([READ], "node unbound")
        assert call(f"{url}/v2/contacts", unbound, scheme="Bearer").status_code == 200
        refused = call(f"{url}/v2/contacts", unbound, proof_for(key, "GET", f"{url}/v2/contacts", unbound))
        assert (
            refused.status_code == 401
            and 'DPoP realm="v2", error="invalid_token"' in refused.headers["WWW-Authenticate"]
        )
        document = requests.get(f"{url}/.well-known/oauth-protected-resource/v2", timeout=10).json()
        assert document["dpop_signing_alg_values_supported"] == ["ES256", "ES384", "PS256", "RS256", "EdDSA"]
    finally:
        process.stop()
