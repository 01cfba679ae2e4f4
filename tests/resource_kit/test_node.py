"""The Node.js example (clients/node, jose + the event feed) against the real authorization server, with Debian's
node: allowed, missing scope, no token, a token for another audience, and a revoked token refused within a second.
``npm ci`` in clients/node (done by .ci/run) installs jose."""

from __future__ import annotations

import os

import pytest
import requests

from tests.support.servers import ROOT

from .conftest import READ, RESOURCE, WRITE, seconds_until, start_node

NODE_DIR = ROOT / "clients" / "node"


@pytest.fixture
def node_service(kit, tmp_path):
    env = dict(os.environ) | {
        "ISSUER": kit.server.url,
        "CLIENT_ID": kit.service["client_id"],
        "CLIENT_SECRET": kit.service["client_secret"],
        "RESOURCE": RESOURCE,
    }
    process, port = start_node(NODE_DIR / "server.mjs", tmp_path, env=env)
    url = f"http://127.0.0.1:{port}"
    process.wait_until(lambda: requests.get(f"{url}/healthz", timeout=1).json()["status"] == "ok")
    yield url
    process.stop()


def call(url: str, token: str | None = None, method: str = "GET") -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, url, headers=headers, timeout=10)


def test_node_service_verdicts_and_revocation_within_a_second(kit, node_service):
    token = kit.token([READ], "node reader")
    allowed = call(f"{node_service}/v2/contacts", token)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["account_id"] == kit.admin.account_id and allowed.json()["scopes"] == [READ]

    refused = call(f"{node_service}/v2/contacts", token, method="POST")
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert f'scope="{WRITE}"' in refused.headers["WWW-Authenticate"]

    missing = call(f"{node_service}/v2/contacts")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == (
        'Bearer realm="v2", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v2", '
        'DPoP algs="ES256 ES384 PS256 RS256 EdDSA"'  # RFC 9449 section 7.2: both schemes are accepted
    )
    assert call(f"{node_service}/v2/contacts", token[:-4] + "AAAA").status_code == 401

    document = requests.get(f"{node_service}/.well-known/oauth-protected-resource/v2", timeout=10).json()
    assert document["resource"] == RESOURCE and document["authorization_servers"] == [kit.server.url]

    kit.revoke(token)
    assert seconds_until(lambda: call(f"{node_service}/v2/contacts", token).status_code == 401, timeout=5) < 1.0
