"""End to end, over real processes on 127.0.0.1: the authorization server and resource_demo, in both modes.

One authorization server serves the whole module (its CLI is slow to start); each test starts its own
resource_demo. Clocks only move forward, and always together (``World.move_clocks``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
import requests

from tests.support.resource_demo import AdminApi, ResourceDemoProcess, cli_batch, make_resource_demo
from tests.support.servers import AuthServerProcess, make_authserver

MODES = ["introspection", "local"]
READ, WRITE = "contacts.readonly", "contacts.write"


@dataclass
class World:
    server: AuthServerProcess
    service_client: dict
    bound_service_client: dict  # a resource-service client bound to account A
    admin_a: AdminApi
    admin_b: AdminApi
    offset: float = 0.0
    demos: list = field(default_factory=list)

    def ensure_running(self) -> None:
        if self.server.proc is None:
            self.server.start()

    def move_clocks(self, seconds: float) -> None:
        self.offset += seconds
        self.server.set_clock_offset(self.offset)
        for demo in self.demos:
            demo.set_clock_offset(self.offset)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("authserver"))
    server.start()
    try:
        account_a, account_b, service, admin_a, admin_b, bound = cli_batch(
            server,
            ("account", "create", "--name", "Acme", "--json"),
            ("account", "create", "--name", "Globex", "--json"),
            ("client", "create", "--name", "contacts-api", "--kind", "resource-service", "--json"),
            ("client", "create", "--name", "acme-admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
            ("client", "create", "--name", "globex-admin", "--kind", "admin", "--account", "{1[id]}", "--json"),
            ("client", "create", "--name", "acme-api", "--kind", "resource-service", "--account", "{0[id]}", "--json"),
        )
        yield World(
            server=server,
            service_client=service,
            bound_service_client=bound,
            admin_a=AdminApi(server.url, account_a["id"], admin_a["client_id"], admin_a["client_secret"]),
            admin_b=AdminApi(server.url, account_b["id"], admin_b["client_id"], admin_b["client_secret"]),
        )
    finally:
        server.stop()


@pytest.fixture
def start_demo(world, tmp_path):
    """Start resource_demo in a mode against the module's authorization server (restarted if a test stopped it)."""
    started: list[ResourceDemoProcess] = []

    def start(mode: str, client: dict | None = None, **env: str) -> ResourceDemoProcess:
        world.ensure_running()
        client = client or world.service_client
        demo = make_resource_demo(
            tmp_path / f"demo-{mode}-{len(started)}",
            authserver_url=world.server.url,
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            mode=mode,
            clock_offset=world.offset,
            **env,
        )
        started.append(demo)
        world.demos.append(demo)
        return demo.start()

    yield start
    for demo in started:
        demo.stop()
        world.demos.remove(demo)


def call(demo: ResourceDemoProcess, method: str, path: str, token: str | None = None, **kwargs):
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, demo.url + path, headers=headers, timeout=10, **kwargs)


def seconds_until(predicate, *, timeout: float, interval: float = 0.01) -> float:
    """How long until ``predicate()`` holds (polling), or fail after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - started


def assert_bearer_error(response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and f'error="{error}"' in challenge
    assert response.json()["error"] == error


@pytest.mark.parametrize("mode", MODES)
def test_integration_story_scopes_rotation_grace_expiry_and_tenancy(world, start_demo, mode):
    demo = start_demo(mode)
    admin = world.admin_a

    # An admin creates an integration with contacts.readonly and generates its token.
    integration = admin.create_integration(f"Zapier ({mode})", [READ])
    old_token = admin.generate_token(integration)

    # The integration lists contacts, and cannot create one.
    listed = call(demo, "GET", "/v2/contacts", old_token)
    assert listed.status_code == 200 and listed.json() == {"contacts": [], "next_cursor": None}
    refused = call(demo, "POST", "/v2/contacts", old_token, json={"name": "Ada"})
    assert_bearer_error(refused, 403, "insufficient_scope")
    assert 'scope="contacts.write"' in refused.headers["WWW-Authenticate"]
    assert refused.json()["scope"] == WRITE

    # The admin widens the scope and rotates with a grace period: both tokens work.
    admin.set_scopes(integration, [READ, WRITE])
    new_token = admin.rotate(integration, mode="later", grace="1h")
    assert call(demo, "GET", "/v2/contacts", old_token).status_code == 200
    assert call(demo, "GET", "/v2/contacts", new_token).status_code == 200
    created = call(demo, "POST", "/v2/contacts", new_token, json={"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201, created.text
    contact_a = created.json()["id"]
    # the old token was minted for contacts.readonly: widening the integration does not widen it
    assert call(demo, "POST", "/v2/contacts", old_token, json={"name": "Bob"}).status_code == 403

    # Token activity reaches the authorization server in both modes (local mode reports use in batches).
    def new_token_used() -> bool:
        tokens = admin.integration(integration)["tokens"]
        return any(t["last_used_at"] and t["replaced_by"] is None for t in tokens)

    seconds_until(new_token_used, timeout=10, interval=0.2)

    # A token of account A never reads account B's contacts: B's ids are 404, not 403.
    integration_b = world.admin_b.create_integration(f"Globex sync ({mode})", [READ, WRITE])
    token_b = world.admin_b.generate_token(integration_b)
    contact_b = call(demo, "POST", "/v2/contacts", token_b, json={"name": "Globex contact"}).json()["id"]
    for method, body in (("GET", None), ("PATCH", {"name": "stolen"}), ("DELETE", None)):
        response = call(demo, method, f"/v2/contacts/{contact_b}", new_token, json=body)
        assert response.status_code == 404, (method, response.text)
    assert [c["id"] for c in call(demo, "GET", "/v2/contacts", new_token).json()["contacts"]] == [contact_a]
    assert [c["id"] for c in call(demo, "GET", "/v2/contacts", token_b).json()["contacts"]] == [contact_b]
    assert call(demo, "GET", f"/v2/contacts/{contact_a}", token_b).status_code == 404
    assert call(demo, "GET", f"/v2/contacts/{contact_b}", token_b).json()["name"] == "Globex contact"

    # The grace period ends (both clocks move past the deadline): the old token is refused, the new one works.
    world.move_clocks(3600 + 5)
    assert_bearer_error(call(demo, "GET", "/v2/contacts", old_token), 401, "invalid_token")
    assert call(demo, "GET", "/v2/contacts", new_token).status_code == 200

    # Narrowing the scopes stops being honoured within a second, cache or not.
    assert call(demo, "POST", "/v2/contacts", new_token, json={"name": "Cy"}).status_code == 201
    started = time.monotonic()
    admin.set_scopes(integration, [READ])
    seconds_until(
        lambda: call(demo, "POST", "/v2/contacts", new_token, json={"name": "Di"}).status_code == 403,
        timeout=1.0 - (time.monotonic() - started),
    )

    # Expire now: the new token gets 401 within one second, measured from sending the admin request.
    assert call(demo, "GET", "/v2/contacts", new_token).status_code == 200  # warm: cached / known live
    started = time.monotonic()
    admin.expire_now(integration)
    seconds_until(lambda: call(demo, "GET", "/v2/contacts", new_token).status_code == 401, timeout=5)
    propagation = time.monotonic() - started
    print(f"\n[{mode}] expire-now propagation: {propagation * 1000:.0f} ms")
    assert propagation < 1.0
    assert_bearer_error(call(demo, "GET", "/v2/contacts", new_token), 401, "invalid_token")
    assert call(demo, "GET", "/v2/contacts", token_b).status_code == 200  # other tenants are unaffected


@pytest.mark.parametrize("mode", MODES)
def test_bearer_errors_follow_rfc_6750(world, start_demo, mode):
    demo = start_demo(mode)
    integration = world.admin_a.create_integration(f"Errors ({mode})", [READ])
    token = world.admin_a.generate_token(integration)

    missing = call(demo, "GET", "/v2/contacts")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer ")
    assert "error=" not in missing.headers["WWW-Authenticate"]  # RFC 6750 section 3.1: no error code

    other_scheme = call(demo, "GET", "/v2/contacts", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert other_scheme.status_code == 401 and other_scheme.headers["WWW-Authenticate"].startswith("Bearer ")

    for header in ("Bearer", "Bearer ", f"Bearer {token} extra", "Bearer tok\u00e9n"):
        response = call(demo, "GET", "/v2/contacts", headers={"Authorization": header.encode("utf-8")})
        assert_bearer_error(response, 400, "invalid_request")
    in_url = call(demo, "GET", f"/v2/contacts?access_token={token}")
    assert_bearer_error(in_url, 400, "invalid_request")

    header, payload, signature = token.split(".")
    for bad in ("not-a-jwt", f"{header}.{payload}.{signature[::-1]}", f"{header}.{payload}.", "a" * 9000):
        assert_bearer_error(call(demo, "GET", "/v2/contacts", bad), 401, "invalid_token")

    assert call(demo, "GET", "/v2/contacts", token).status_code == 200
    assert token not in demo.log_text()


@pytest.mark.parametrize("mode", MODES)
def test_a_service_bound_to_one_account_refuses_other_accounts_tokens(world, start_demo, mode):
    """Its client only sees account A's tokens and events, so in local mode it could not hear of B's revocations."""
    demo = start_demo(mode, client=world.bound_service_client)
    token_a = world.admin_a.generate_token(world.admin_a.create_integration(f"Bound A ({mode})", [READ]))
    token_b = world.admin_b.generate_token(world.admin_b.create_integration(f"Bound B ({mode})", [READ]))
    assert call(demo, "GET", "/v2/contacts", token_a).status_code == 200
    assert_bearer_error(call(demo, "GET", "/v2/contacts", token_b), 401, "invalid_token")


@pytest.mark.parametrize(("mode", "bound"), [("introspection", False), ("local", False), ("local", True)])
def test_a_revoked_signing_key_is_refused_by_the_resource_service_within_a_second(world, start_demo, mode, bound):
    """``keys revoke`` reaches every service on the feed (a service bound to one account too): in local mode the
    JWKS it holds still has the key, and the key.revoked event alone must refuse its tokens."""
    demo = start_demo(mode, world.bound_service_client if bound else None)
    world.ensure_running()
    kid = world.server.cli("keys", "rotate", "--now", "--json")["kid"]  # a key only this test's token needs
    token = world.admin_a.generate_token(world.admin_a.create_integration(f"Key revoked ({mode})", [READ]))
    assert call(demo, "GET", "/v2/ping", token).status_code == 200

    world.server.cli("keys", "revoke", kid, "--json")

    seconds_until(lambda: call(demo, "GET", "/v2/ping", token).status_code == 401, timeout=1.0)
    assert_bearer_error(call(demo, "GET", "/v2/ping", token), 401, "invalid_token")
    fresh = world.admin_a.generate_token(world.admin_a.create_integration(f"After revoke ({mode})", [READ]))
    assert call(demo, "GET", "/v2/ping", fresh).status_code == 200


@pytest.mark.parametrize("mode", MODES)
def test_fails_closed_without_the_authorization_server_and_cache_never_outlives_exp(world, start_demo, mode):
    # a short TTL so the test need not wait long, yet longer than stopping a loaded authorization server takes
    demo = start_demo(mode, RESOURCE_DEMO_CACHE_TTL="8", RESOURCE_DEMO_FEED_WAIT="1")
    short = world.admin_a.create_integration(f"Short-lived ({mode})", [READ])
    short_token = world.admin_a.generate_token(short, expires_in=60)
    other = world.admin_a.create_integration(f"Never seen ({mode})", [READ])
    unseen_token = world.admin_a.generate_token(other)
    assert call(demo, "GET", "/v2/ping", short_token).status_code == 200  # cached / revocation state live

    world.server.stop()

    # A verdict reached while the authorization server answered is still served, for a short while...
    assert call(demo, "GET", "/v2/ping", short_token).status_code == 200
    # ...but never past the token's exp, even though the cached answer is otherwise fresh.
    world.move_clocks(120)
    assert_bearer_error(call(demo, "GET", "/v2/ping", short_token), 401, "invalid_token")

    # A token with no valid cached verdict is not served: 503, not 200 and not 500.
    def refused_unavailable() -> bool:
        response = call(demo, "GET", "/v2/ping", unseen_token)
        assert response.status_code in (200, 503), response.text  # 200 only in local mode, while state is fresh
        return response.status_code == 503

    seconds_until(refused_unavailable, timeout=12, interval=0.2)
    response = call(demo, "GET", "/v2/ping", unseen_token)
    assert response.json()["error"] == "temporarily_unavailable" and response.headers["Retry-After"] == "1"
    assert demo.health()["status"] == "degraded"
