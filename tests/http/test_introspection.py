"""RFC 7662 introspection through the Flask test client: who may ask, and the exact answers."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from authserver import activity
from authserver.extensions import db
from authserver.models import AccessToken
from tests.factories import basic, make_client
from tests.unit.helpers import Lifecycle

from . import forge

INACTIVE = {"active": False}


def introspect(client, token, headers=None, **form):
    return client.post("/oauth/introspect", data={"token": token, **form}, headers=headers or {})


def test_an_active_token_is_described_exactly(client, app, world, clock):
    response = introspect(client, world.agency.token, world.rs_headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    row = db.session.get(AccessToken, world.agency.jti)
    assert response.get_json() == {
        "active": True,
        "scope": "contacts.readonly",
        "client_id": world.agency.integration_id,
        "sub": world.agency.integration_id,
        "aud": app.config["AUTHSERVER_AUDIENCE"],
        "iss": app.config["AUTHSERVER_ISSUER"],
        "exp": int(row.expires_at.timestamp()),
        "iat": int(clock.now().timestamp()),
        "jti": world.agency.jti,
        "token_type": "Bearer",
        "account_id": world.agency.account_id,
        "integration_id": world.agency.integration_id,
    }


def test_client_secret_post_works_like_basic(client, world):
    client_id, secret = world.resource_service
    response = introspect(client, world.agency.token, client_id=client_id, client_secret=secret)
    assert response.status_code == 200 and response.get_json()["active"] is True


def test_the_token_type_hint_access_token_is_accepted(client, world):
    response = introspect(client, world.agency.token, world.rs_headers, token_type_hint="access_token")  # noqa: S106
    assert response.get_json()["active"] is True


def test_unauthenticated_introspection_is_401_with_www_authenticate(client, world):
    response = introspect(client, world.agency.token)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "how",
    [
        "basic-wrong-secret",
        "post-wrong-secret",
        "basic-unknown-client",
        "basic-empty-secret",
        "basic-malformed-header",
        "bearer-scheme",
    ],
)
def test_bad_client_credentials_are_401_invalid_client(shared, how):
    world = shared.world
    client_id, secret = world.resource_service
    headers, form = {}, {}
    if how == "basic-wrong-secret":
        headers = basic(client_id, secret + "x")
    elif how == "post-wrong-secret":
        form = {"client_id": client_id, "client_secret": secret[:-1]}
    elif how == "basic-unknown-client":
        headers = basic("cli_nobody", secret)
    elif how == "basic-empty-secret":
        headers = basic(client_id, "")
    elif how == "basic-malformed-header":
        headers = {"Authorization": "Basic not-base64!!"}
    elif how == "bearer-scheme":
        headers = {"Authorization": f"Bearer {world.agency.token}"}
    response = introspect(shared.client, world.agency.token, headers, **form)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers


def test_an_admin_client_may_not_introspect_and_gets_unauthorized_client(client, world):
    response = introspect(client, world.agency.token, world.agency.admin_headers)
    assert response.status_code == 400  # RFC 6749 section 5.2: authenticated, but not allowed here
    assert response.get_json()["error"] == "unauthorized_client"
    assert "active" not in response.get_json()


def test_a_missing_token_parameter_is_invalid_request(client, world):
    response = client.post("/oauth/introspect", data={}, headers=world.rs_headers)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("hint", ["refresh_token", "id_token", "ACCESS_TOKEN"])
def test_a_token_type_hint_never_changes_the_answer(client, world, hint):
    """RFC 7662 section 2.1 lets the server ignore the hint, and RFC 7009 section 2.1 says an invalid one is
    ignored: every token here is an access token, so no hint, right or wrong, can turn an answer into an error."""
    response = introspect(client, world.agency.token, world.rs_headers, token_type_hint=hint)
    assert response.status_code == 200 and response.get_json()["active"] is True


def test_only_post_is_allowed(client, world):
    assert client.get("/oauth/introspect", headers=world.rs_headers).status_code == 405


FORGERIES = {
    "garbage": lambda world, services: "garbage",
    "empty": lambda world, services: "",
    "malformed": lambda world, services: "a.b.c",
    "two-parts": lambda world, services: ".".join(world.agency.token.split(".")[:2]),
    "tampered-scope": lambda world, services: forge.tampered(
        world.agency.token, scope="contacts.readonly contacts.write"
    ),
    "tampered-sub": lambda world, services: forge.tampered(world.agency.token, sub=world.other.integration_id),
    "truncated-signature": lambda world, services: world.agency.token[:-4],
    "wrong-issuer": lambda world, services: forge.resign(
        services, world.agency.token, claims={"iss": "https://evil.example"}
    ),
    "issuer-with-slash": lambda world, services: forge.resign(
        services, world.agency.token, claims={"iss": services.config["AUTHSERVER_ISSUER"] + "/"}
    ),
    "wrong-audience": lambda world, services: forge.resign(
        services, world.agency.token, claims={"aud": "https://other.example/api"}
    ),
    "wrong-typ": lambda world, services: forge.resign(services, world.agency.token, header={"typ": "JWT"}),
    "no-kid": lambda world, services: forge.resign(services, world.agency.token, header={"kid": None}),
    "missing-jti": lambda world, services: forge.resign(services, world.agency.token, drop=("jti",)),
    "unknown-jti": lambda world, services: forge.resign(
        services, world.agency.token, claims={"jti": "tok_neverissued"}
    ),
    "sub-of-another-integration": lambda world, services: forge.resign(
        services, world.agency.token, claims={"sub": world.other.integration_id}
    ),
    "alg-none": lambda world, services: forge.alg_none(world.agency.token),
    "hs256-with-public-key": lambda world, services: forge.hs256_with_public_key(services, world.agency.token),
    "foreign-key-same-kid": lambda world, services: forge.foreign_key(world.agency.token),
    "foreign-key-own-kid": lambda world, services: forge.foreign_key(world.agency.token, keep_kid=False),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_anything_not_verifiably_ours_is_exactly_inactive(shared, name):
    token = FORGERIES[name](shared.world, shared.services)
    response = introspect(shared.client, token, shared.world.rs_headers)
    assert response.status_code == 200
    assert response.get_json() == INACTIVE


def test_an_expired_token_is_exactly_inactive(client, world, services, clock):
    issued = Lifecycle(services, clock).rotate_now(world.agency.integration_id, expires_in=60)
    clock.advance(59)
    assert introspect(client, issued.token, world.rs_headers).get_json()["active"] is True
    clock.advance(1)
    assert introspect(client, issued.token, world.rs_headers).get_json() == INACTIVE


def test_a_revoked_token_is_exactly_inactive(client, world, services, clock):
    Lifecycle(services, clock).expire_now(world.agency.integration_id)
    assert introspect(client, world.agency.token, world.rs_headers).get_json() == INACTIVE


def test_a_disabled_integrations_token_is_exactly_inactive(client, world, services, clock):
    Lifecycle(services, clock).set_status(world.agency.integration_id, "disabled")
    assert introspect(client, world.agency.token, world.rs_headers).get_json() == INACTIVE


def test_during_grace_exp_is_the_grace_deadline_so_caches_never_outlive_it(client, world, services, clock):
    Lifecycle(services, clock).rotate_with_grace(world.agency.integration_id, grace=3600)
    body = introspect(client, world.agency.token, world.rs_headers).get_json()
    assert body["active"] is True and body["exp"] == int((clock.now() + timedelta(hours=1)).timestamp())


def test_narrowed_scopes_are_reported_at_once(client, world, services, clock):
    lifecycle = Lifecycle(services, clock)
    lifecycle.set_scopes(world.agency.integration_id, ["contacts.readonly", "contacts.write"])
    issued = lifecycle.rotate_now(world.agency.integration_id)
    lifecycle.set_scopes(world.agency.integration_id, ["contacts.write"])
    assert introspect(client, issued.token, world.rs_headers).get_json()["scope"] == "contacts.write"


def test_a_resource_service_bound_to_an_account_sees_only_that_accounts_tokens(client, world, clock):
    bound = basic(*make_client(clock, kind="resource-service", account_id=world.agency.account_id, name="bound"))
    assert introspect(client, world.agency.token, bound).get_json()["active"] is True
    assert introspect(client, world.other.token, bound).get_json() == INACTIVE


def test_introspection_writes_nothing_and_buffers_the_use(client, world, services, clock):
    for _ in range(3):
        introspect(client, world.agency.token, world.rs_headers)
    db.session.expire_all()
    assert db.session.get(AccessToken, world.agency.jti).last_used_at is None
    activity.flush(services.activity)
    db.session.expire_all()
    row = db.session.get(AccessToken, world.agency.jti)
    assert row.last_used_at == clock.now() and row.last_used_by == world.resource_service[0]


def test_inactive_answers_do_not_count_as_use(client, world, services, clock):
    Lifecycle(services, clock).expire_now(world.agency.integration_id)
    introspect(client, world.agency.token, world.rs_headers)
    assert services.activity.recent_use(world.agency.jti) is None


def test_an_idle_token_is_inactive_at_once_and_a_use_keeps_it_alive(client, world, services, clock):
    lifecycle = Lifecycle(services, clock)
    from authserver.integrations import update_integration
    from authserver.principals import OPERATOR
    from authserver.unit_of_work import unit_of_work

    with unit_of_work():
        update_integration(OPERATOR, world.agency.integration_id, now=clock.now(), inactivity_window=3600)
    issued = lifecycle.rotate_now(world.agency.integration_id)
    clock.advance(1800)
    assert introspect(client, issued.token, world.rs_headers).get_json()["active"] is True  # a use, unflushed
    clock.advance(3599)
    assert introspect(client, issued.token, world.rs_headers).get_json()["active"] is True
    clock.advance(3600)
    assert introspect(client, issued.token, world.rs_headers).get_json() == INACTIVE


class TestWithRS256:
    """The classic algorithm confusion needs an RSA key: these tests run on an RS256 server."""

    @pytest.fixture
    def app_config(self, app_config, tmp_path):
        return {**app_config, "AUTHSERVER_SIGNING_ALG": "RS256", "AUTHSERVER_KEYS_DIR": str(tmp_path / "rsa-keys")}

    def test_hs256_keyed_with_the_rsa_public_key_is_exactly_inactive(self, client, world, services):
        assert services.keystore.signing_keyset()[1] == "RS256"
        assert introspect(client, world.agency.token, world.rs_headers).get_json()["active"] is True
        forged = forge.hs256_with_public_key(services, world.agency.token)
        assert introspect(client, forged, world.rs_headers).get_json() == INACTIVE
        secret_token = secrets.token_urlsafe(16)
        assert introspect(client, secret_token, world.rs_headers).get_json() == INACTIVE
