"""Changes to an integration and what they do to its live tokens: scopes, disable, enable, delete."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver import integrations
from authserver.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from authserver.extensions import db
from authserver.models import AccessToken, AuditEvent
from authserver.principals import OPERATOR, Principal
from tests.factories import make_account, make_integration

BOTH = ["contacts.readonly", "contacts.write"]


@pytest.fixture
def integration(app, clock):
    return make_integration(clock, make_account(clock).id, scopes=BOTH)


def test_narrowing_scopes_applies_to_live_tokens_at_once(integration, lifecycle):
    old = lifecycle.generate(integration.id)
    new = lifecycle.rotate_with_grace(integration.id)
    lifecycle.set_scopes(integration.id, ["contacts.readonly"])
    assert lifecycle.scopes(old.record.jti) == lifecycle.scopes(new.record.jti) == {"contacts.readonly"}
    assert lifecycle.is_live(old.record.jti) and lifecycle.is_live(new.record.jti)


def test_widening_scopes_needs_a_new_token(integration, lifecycle):
    narrow = make_integration(lifecycle.clock, integration.account_id, scopes=["contacts.readonly"], name="n")
    old = lifecycle.generate(narrow.id)
    lifecycle.set_scopes(narrow.id, BOTH)
    assert lifecycle.scopes(old.record.jti) == {"contacts.readonly"}
    new = lifecycle.rotate_now(narrow.id)
    assert lifecycle.scopes(new.record.jti) == set(BOTH)


def test_narrow_then_widen_does_not_give_a_live_token_its_scopes_back(integration, lifecycle):
    issued = lifecycle.generate(integration.id)
    lifecycle.set_scopes(integration.id, ["contacts.readonly"])
    lifecycle.set_scopes(integration.id, BOTH)
    assert lifecycle.scopes(issued.record.jti) == {"contacts.readonly"}


def test_a_scope_change_is_audited_with_before_and_after(integration, lifecycle):
    lifecycle.set_scopes(integration.id, ["contacts.readonly"])
    row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "integration.scopes_changed")).one()
    assert row.before["scopes"] == BOTH and row.after["scopes"] == ["contacts.readonly"]
    assert row.target_id == integration.id


def test_disable_stops_every_token_at_once_and_enable_restores_them(integration, lifecycle):
    old = lifecycle.generate(integration.id)
    new = lifecycle.rotate_with_grace(integration.id)
    lifecycle.set_status(integration.id, "disabled")
    assert not lifecycle.is_live(old.record.jti) and not lifecycle.is_live(new.record.jti)
    with pytest.raises(ConflictError, match="disabled"):
        lifecycle.rotate_now(integration.id)
    db.session.rollback()
    lifecycle.set_status(integration.id, "active")
    assert lifecycle.is_live(old.record.jti) and lifecycle.is_live(new.record.jti)


def test_delete_revokes_every_token_and_keeps_the_audit_trail(integration, lifecycle):
    issued = lifecycle.generate(integration.id)
    lifecycle.set_status(integration.id, "deleted")
    row = db.session.get(AccessToken, issued.record.jti)
    assert row.revoked_at is not None and row.revocation_reason == "integration_deleted"
    assert not lifecycle.is_live(issued.record.jti)
    with pytest.raises(NotFoundError):
        integrations.get_integration_for(OPERATOR, integration.id)
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.target_id == integration.id).order_by(AuditEvent.id)
    ).all()
    assert actions == ["integration.created", "token.generated", "integration.deleted"]


def test_a_deleted_integration_cannot_be_brought_back(integration, lifecycle):
    lifecycle.set_status(integration.id, "deleted")
    with pytest.raises(NotFoundError):
        lifecycle.set_status(integration.id, "active")


@pytest.mark.parametrize("status", ["archived", "", None, "ACTIVE"])
def test_an_unknown_status_is_refused(integration, lifecycle, status):
    with pytest.raises(InvalidInputError) as caught:
        lifecycle.set_status(integration.id, status)
    assert caught.value.field == "status"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", "x" * 201),
        ("name", "tab\there"),
        ("name", 5),
        ("description", "x" * 2001),
        ("description", 7),
        ("scopes", []),
        ("scopes", "contacts.admin"),
        ("scopes", 3),
    ],
)
def test_invalid_integration_fields_are_refused_naming_the_field(app, clock, field, value):
    account = make_account(clock)
    values = {"name": "Zapier", "description": "", "scopes": ["contacts.readonly"], field: value}
    with pytest.raises(InvalidInputError) as caught:
        integrations.create_integration(OPERATOR, account_id=account.id, now=clock.now(), **values)
    assert caught.value.field == field


def test_another_tenants_integration_is_not_found_and_a_member_may_not_change_it(integration, lifecycle, clock):
    stranger = Principal(kind="user", id="usr_x", admin_of=frozenset({"acc_elsewhere"}))
    member = Principal(kind="user", id="usr_m", member_of=frozenset({integration.account_id}))
    for verb in (
        lambda p: integrations.get_integration_for(p, integration.id),
        lambda p: integrations.set_status(p, integration.id, "disabled", now=clock.now()),
    ):
        with pytest.raises(NotFoundError):
            verb(stranger)
    assert integrations.get_integration_for(member, integration.id).id == integration.id
    with pytest.raises(ForbiddenError):
        integrations.set_status(member, integration.id, "disabled", now=clock.now())
