"""RFC 7009 revocation through the Flask test client: the owning account's admins, or whoever holds the token."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AccessToken, AuditEvent
from tests.factories import basic
from tests.unit.helpers import Lifecycle

from . import forge


def revoke(client, token, headers=None, **form):
    return client.post("/oauth/revoke", data={"token": token, **form}, headers=headers or {})


def is_active(client, world, token) -> bool:
    return client.post("/oauth/introspect", data={"token": token}, headers=world.rs_headers).get_json()["active"]


def audit_rows(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def test_an_admin_client_of_the_owning_account_revokes(client, world):
    response = revoke(client, world.agency.token, world.agency.admin_headers)
    assert (response.status_code, response.get_json()) == (200, {})
    assert response.headers["Cache-Control"] == "no-store"
    assert not is_active(client, world, world.agency.token)
    [row] = audit_rows("token.revoked")
    assert (row.actor_type, row.actor_id, row.target_id) == (
        "admin_client",
        world.agency.admin_client[0],
        world.agency.jti,
    )
    assert row.source_address == "127.0.0.1" and row.before["revoked_at"] is None and row.after["revoked_at"]


def test_client_secret_post_works_for_revocation(client, world):
    client_id, secret = world.agency.admin_client
    response = revoke(client, world.agency.token, client_id=client_id, client_secret=secret)
    assert response.status_code == 200
    assert not is_active(client, world, world.agency.token)


def test_an_agency_admin_revokes_a_sub_accounts_token(client, world):
    assert revoke(client, world.sub.token, world.agency.admin_headers).status_code == 200
    assert not is_active(client, world, world.sub.token)


def test_the_token_holder_revokes_its_own_token_without_credentials(client, world):
    response = revoke(client, world.other.token)
    assert (response.status_code, response.get_json()) == (200, {})
    assert not is_active(client, world, world.other.token)
    [row] = audit_rows("token.revoked")
    # the holder is named by the token's integration (issue 17 §6), never by the token
    assert (row.actor_type, row.actor_id, row.target_id) == (
        "token_holder",
        world.other.integration_id,
        world.other.jti,
    )


@pytest.mark.parametrize("caller", ["admin", "holder"])
@pytest.mark.parametrize("token", ["unknown-jti", "garbage", "foreign-key"])
def test_unknown_or_invalid_tokens_get_200_and_nothing_changes(shared, caller, token):
    world = shared.world
    presented = {
        "unknown-jti": lambda: forge.resign(shared.services, world.agency.token, claims={"jti": "tok_nope"}),
        "garbage": lambda: "garbage",
        "foreign-key": lambda: forge.foreign_key(world.agency.token),
    }[token]()
    headers = world.agency.admin_headers if caller == "admin" else {}
    response = revoke(shared.client, presented, headers)
    assert (response.status_code, response.get_json()) == (200, {})
    assert is_active(shared.client, world, world.agency.token)


@pytest.mark.parametrize(
    ("caller", "victim"), [("other", "agency"), ("other", "sub"), ("sub", "agency"), ("agency", "other")]
)
def test_another_accounts_admin_gets_200_but_the_token_stays_active_and_the_refusal_is_audited(
    client, world, caller, victim
):
    attacker, target = getattr(world, caller), getattr(world, victim)
    response = revoke(client, target.token, attacker.admin_headers)
    assert (response.status_code, response.get_json()) == (200, {})
    assert is_active(client, world, target.token)
    [row] = audit_rows("token.revocation_refused")  # on the requester's account, never on the token's
    assert (row.account_id, row.actor_id, row.target_id) == (attacker.account_id, attacker.admin_client[0], target.jti)
    assert db.session.get(AccessToken, target.jti).revoked_at is None


def test_a_resource_service_client_may_not_revoke_and_gets_unauthorized_client(shared):
    world = shared.world
    response = revoke(shared.client, world.agency.token, world.rs_headers)
    # RFC 6749 section 5.2: authenticated, but not allowed here; no challenge to retry with.
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"
    assert "WWW-Authenticate" not in response.headers
    assert is_active(shared.client, world, world.agency.token)


@pytest.mark.parametrize("how", ["wrong-secret", "unknown-client"])
def test_bad_admin_credentials_are_401_and_do_not_fall_back_to_possession(shared, how):
    world = shared.world
    client_id, secret = world.agency.admin_client
    headers = basic(client_id, secret + "x") if how == "wrong-secret" else basic("cli_nobody", secret)
    response = revoke(shared.client, world.agency.token, headers)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert is_active(shared.client, world, world.agency.token)


def test_a_missing_token_is_invalid_request(shared):
    response = shared.client.post("/oauth/revoke", data={}, headers=shared.world.agency.admin_headers)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_revoking_twice_is_200_and_audited_once(client, world):
    assert revoke(client, world.agency.token, world.agency.admin_headers).status_code == 200
    assert revoke(client, world.agency.token).status_code == 200
    assert len(audit_rows("token.revoked")) == 1


def test_revoking_the_grace_token_leaves_the_current_one(client, world, services, clock):
    new = Lifecycle(services, clock).rotate_with_grace(world.agency.integration_id)
    assert revoke(client, world.agency.token).status_code == 200
    assert not is_active(client, world, world.agency.token)
    assert is_active(client, world, new.token)


def test_a_tampered_copy_revokes_nothing(client, world):
    tampered = forge.tampered(world.agency.token, scope="contacts.write")
    assert revoke(client, tampered).status_code == 200
    assert is_active(client, world, world.agency.token)
