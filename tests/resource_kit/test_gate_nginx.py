"""The gate behind a real nginx (Debian's, ``auth_request``, configured from deploy/nginx/gate.conf) in front of a
node upstream: allowed, missing scope, no token, unmatched route, and a revoked token refused within a second."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
import requests

from .conftest import READ, RESOURCE, WRITE, seconds_until, start_gate, start_nginx, start_node

ROUTES = f"""# the routes file of the test service
GET  /v2/contacts  {READ}
POST /v2/contacts  {WRITE}   # creating needs write
*    /v2/ping      -         # any valid token
"""
UPSTREAM = Path(__file__).with_name("upstream.js")


@pytest.fixture(params=["introspection", "local"])
def proxy(request, kit, tmp_path):
    gate, gate_port = start_gate(kit, tmp_path / "gate", mode=request.param, routes=ROUTES)
    node, node_port = start_node(UPSTREAM, tmp_path)
    node.wait_until(lambda: requests.get(f"http://127.0.0.1:{node_port}/", timeout=1).status_code == 200)
    nginx, port = start_nginx(tmp_path / "nginx", gate=gate_port, upstream=node_port)
    yield f"http://127.0.0.1:{port}", request.param
    for process in (nginx, node, gate):
        process.stop()


def raw_get(base: str, path: str, token: str) -> int:
    """The status for ``path`` sent exactly as written (requests would remove dot segments first)."""
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        return connection.getresponse().status
    finally:
        connection.close()


def get(url: str, token: str | None = None, method: str = "GET", **headers: str) -> requests.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, url, headers=headers, timeout=10)


def test_allowed_missing_scope_no_token_and_unmatched_route(kit, proxy):
    base, mode = proxy
    token = kit.token([READ], f"gate reader ({mode})")

    allowed = get(f"{base}/v2/contacts?page=2", token)
    assert allowed.status_code == 200, allowed.text
    seen = allowed.json()  # what the node service received from nginx
    assert seen["account"] == kit.admin.account_id and seen["integration"].startswith("int_")
    assert seen["scopes"] == READ and seen["url"] == "/v2/contacts?page=2"
    assert get(f"{base}/v2/contacts/con_1", token).status_code == 200  # a prefix covers whole segments below it
    assert get(f"{base}/v2/ping", token, method="DELETE").status_code == 200  # "*" and "-": any valid token

    missing_scope = get(f"{base}/v2/contacts", token, method="POST")
    assert missing_scope.status_code == 403
    assert missing_scope.headers["WWW-Authenticate"] == (
        'Bearer realm="v2", error="insufficient_scope", error_description="the access token does not grant the '
        f'scope this call needs", scope="{WRITE}"'
    )

    no_token = get(f"{base}/v2/contacts")
    assert no_token.status_code == 401
    assert no_token.headers["WWW-Authenticate"] == (
        'Bearer realm="v2", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v2", '
        'DPoP algs="ES256 ES384 PS256 RS256 EdDSA"'  # RFC 9449 section 7.2: both schemes are accepted
    )
    bad_token = get(f"{base}/v2/contacts", token[:-4] + "AAAA")
    assert bad_token.status_code == 401 and 'error="invalid_token"' in bad_token.headers["WWW-Authenticate"]

    for path in ("/v2/contactsx", "/admin", "/v2/ping/../contacts", "/v2/ping/%2e%2e/contacts", "/v2//contacts"):
        assert raw_get(base, path, token) == 403, path  # no rule, or a path nginx and the gate could read apart


def test_forged_identity_headers_never_reach_the_upstream(kit, proxy):
    base, mode = proxy
    token = kit.token([READ], f"gate forger ({mode})")
    seen = get(f"{base}/v2/contacts", token, **{"X-Authserver-Account": "acc_victim"}).json()
    assert seen["account"] == kit.admin.account_id


def test_a_revoked_token_is_refused_through_nginx_within_a_second(kit, proxy):
    base, mode = proxy
    token = kit.token([READ], f"gate revoked ({mode})")
    assert get(f"{base}/v2/contacts", token).status_code == 200  # warm: cached (introspection) / verified (local)
    kit.revoke(token)
    elapsed = seconds_until(lambda: get(f"{base}/v2/contacts", token).status_code == 401, timeout=5)
    assert elapsed < 1.0


def test_the_protected_resource_document_is_served_through_nginx(kit, proxy):
    base, _ = proxy
    document = requests.get(f"{base}/.well-known/oauth-protected-resource/v2", timeout=10).json()
    assert document == {
        "resource": RESOURCE,
        "authorization_servers": [kit.server.url],
        "scopes_supported": [READ, WRITE],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": ["ES256", "ES384", "PS256", "RS256", "EdDSA"],
    }
