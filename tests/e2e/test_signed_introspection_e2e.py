"""End to end, over real processes on 127.0.0.1: RFC 9701 signed introspection between the real authorization
server and resource_demo (``RESOURCE_DEMO_SIGNED_INTROSPECTION=on``).

The demo reaches the server through a small HTTP proxy that plays the party on the path: it forwards everything
(the server's issuer is the proxy's URL, as behind any front end), and on introspection it can flip a byte of the
answer, re-sign it with another key, strip the ``Accept`` header (a downgrade to unsigned JSON), or ask with
another service's credentials (an answer signed for someone else). Each of those is a 503 from the demo, never a
grant and never a 401; an honest answer is verified and honoured, active or not. The answers the proxy saw are
checked with PyJWT against the published JWKS, independently of the package.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.resource_demo import AdminApi, cli_batch, make_resource_demo
from tests.support.servers import free_port, make_authserver

READ = "contacts.readonly"
JWT_TYPE = "application/token-introspection+jwt"
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


class TamperingProxy(ThreadingHTTPServer):
    """Forwards to ``upstream``; ``mode`` says what it does to introspection calls. ``seen`` keeps each
    introspection's (Accept sent upstream, Content-Type and body of the answer passed on)."""

    daemon_threads = True

    def __init__(self, port: int, upstream: str) -> None:
        super().__init__(("127.0.0.1", port), _Forward)
        self.upstream = upstream
        self.mode = "pass"
        self.other_credentials: tuple[str, str] | None = None
        self.stranger = ec.generate_private_key(ec.SECP256R1())
        self.seen: list[tuple[str | None, str, bytes]] = []
        self.session_local = threading.local()

    def handle_error(self, request, client_address) -> None:
        pass  # a long poll cut by the server stopping at teardown: nothing to report


class _Forward(BaseHTTPRequestHandler):
    server: TamperingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._forward("GET", b"")

    def do_POST(self) -> None:
        self._forward("POST", self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _forward(self, method: str, body: bytes) -> None:
        proxy = self.server
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"host"}}
        introspection = self.path.startswith("/oauth/introspect")
        if introspection and proxy.mode == "unsigned":
            headers.pop("Accept", None)
        if introspection and proxy.mode == "other service":
            raw = base64.b64encode(":".join(proxy.other_credentials).encode()).decode()
            headers["Authorization"] = f"Basic {raw}"
        session = getattr(proxy.session_local, "session", None) or requests.Session()
        proxy.session_local.session = session
        try:
            answer = session.request(
                method,
                proxy.upstream + self.path,
                data=body or None,
                headers=headers,
                timeout=60,
                allow_redirects=False,
            )
        except requests.RequestException:
            self.send_error(502)
            return
        content = answer.content
        if introspection and answer.status_code == 200:
            content = _tamper(proxy, content)
            proxy.seen.append((headers.get("Accept"), answer.headers.get("Content-Type", ""), content))
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in _HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


def _tamper(proxy: TamperingProxy, content: bytes) -> bytes:
    if proxy.mode == "flip":
        header, payload, signature = content.decode().split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["token_introspection"]["scope"] = "contacts.readonly contacts.write"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"{header}.{forged}.{signature}".encode()
    if proxy.mode == "flip byte":
        data = bytearray(content)
        data[-5] = ord("A") if data[-5] != ord("A") else ord("B")  # inside the signature
        return bytes(data)
    if proxy.mode == "re-sign":
        header = jwt.get_unverified_header(content.decode())
        claims = jwt.decode(content.decode(), options={"verify_signature": False})
        return jwt.encode(claims, proxy.stranger, algorithm="ES256", headers={**header, "alg": "ES256"}).encode()
    return content


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    server = make_authserver(tmp_path_factory.mktemp("authserver"), AUTHSERVER_ISSUER=issuer)
    server.start()
    proxy = TamperingProxy(port, f"http://127.0.0.1:{server.port}")
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        account, admin, service, other = cli_batch(
            server,
            ("account", "create", "--name", "Signed Co", "--json"),
            ("client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
            ("client", "create", "--name", "signed demo", "--kind", "resource-service", "--json"),
            ("client", "create", "--name", "another service", "--kind", "resource-service", "--json"),
        )
        proxy.other_credentials = (other["client_id"], other["client_secret"])
        api = AdminApi(issuer, account["id"], admin["client_id"], admin["client_secret"])
        demo = make_resource_demo(
            tmp_path_factory.mktemp("demo"),
            authserver_url=issuer,
            client_id=service["client_id"],
            client_secret=service["client_secret"],
            mode="introspection",
            RESOURCE_DEMO_SIGNED_INTROSPECTION="on",
            RESOURCE_DEMO_CACHE_TTL="0",  # every call asks the server: each answer is judged afresh
            RESOURCE_DEMO_NEGATIVE_CACHE_TTL="0",
        ).start()
        try:
            yield server, proxy, api, demo, service
        finally:
            demo.stop()
    finally:
        proxy.shutdown()
        proxy.server_close()
        server.stop()


@pytest.fixture
def proxy(world):
    _server, proxy, *_ = world
    proxy.mode = "pass"
    proxy.seen.clear()
    yield proxy
    proxy.mode = "pass"


def _token(api: AdminApi, name: str) -> str:
    return api.generate_token(api.create_integration(name, [READ]))


def _call(demo, token: str) -> requests.Response:
    return requests.get(f"{demo.url}/v2/contacts", headers={"Authorization": f"Bearer {token}"}, timeout=15)


def _verify_with_pyjwt(issuer: str, content: bytes, audience: str) -> dict:
    token = content.decode()
    kid = jwt.get_unverified_header(token)["kid"]
    document = requests.get(f"{issuer}/.well-known/jwks.json", timeout=10).json()
    key = jwt.PyJWK(next(k for k in document["keys"] if k["kid"] == kid))
    return jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=audience, issuer=issuer)


def test_an_honest_signed_answer_is_verified_and_honoured_active_or_not(world, proxy):
    server, _proxy, api, demo, service = world
    token = _token(api, "honest")
    assert _call(demo, token).status_code == 200
    accept, content_type, content = proxy.seen[-1]
    assert accept == JWT_TYPE and content_type == JWT_TYPE
    claims = _verify_with_pyjwt(api.base_url, content, service["client_id"])
    assert claims["token_introspection"]["active"] is True and claims["aud"] == service["client_id"]
    assert jwt.get_unverified_header(content.decode())["typ"] == "token-introspection+jwt"
    assert requests.post(f"{api.base_url}/oauth/revoke", data={"token": token}, timeout=10).status_code == 200
    refused = _call(demo, token)
    assert refused.status_code == 401  # a signed "inactive" is a verdict like any other
    if proxy.seen:  # the feed may have dropped it first; if it was asked, the answer was signed and inactive
        assert _verify_with_pyjwt(api.base_url, proxy.seen[-1][2], service["client_id"])["token_introspection"] == {
            "active": False
        }


@pytest.mark.parametrize("mode", ["flip", "flip byte", "re-sign", "unsigned", "other service"])
def test_a_tampered_downgraded_or_misaddressed_answer_is_a_503_never_a_grant(world, proxy, mode):
    _server, _proxy, api, demo, _service = world
    token = _token(api, f"tampered {mode}")
    proxy.mode = mode
    answer = _call(demo, token)
    assert answer.status_code == 503, answer.text
    assert "WWW-Authenticate" not in answer.headers or "invalid_token" not in answer.headers["WWW-Authenticate"]
    proxy.mode = "pass"
    assert _call(demo, token).status_code == 200  # the token was fine all along
