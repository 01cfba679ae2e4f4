"""Auto-expiry of inactive tokens: inactive at once when idle past the window, and a job that records it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from authserver import activity, integrations
from authserver.errors import InvalidInputError
from authserver.extensions import db
from authserver.integrations import serialize_token
from authserver.models import AccessToken, Account, AuditEvent
from authserver.principals import OPERATOR
from tests.factories import make_account, make_integration

HOUR, DAY = 3600, 86400


@pytest.fixture
def account(app, clock):
    return make_account(clock)


@pytest.fixture
def integration(account, clock):
    return make_integration(clock, account.id, inactivity_window=DAY)


def use(services, clock, jti, by="cli_resource"):
    services.activity.record(jti, by, clock.now())


def test_new_integrations_get_the_accounts_default_window(account, clock):
    integration = make_integration(clock, account.id)
    assert integration.inactivity_window == account.default_inactivity_window == 90 * DAY


def test_a_token_unused_for_its_window_is_inactive_at_once(integration, lifecycle, clock):
    issued = lifecycle.generate(integration.id)
    clock.advance(DAY - 1)
    assert lifecycle.is_live(issued.record.jti)
    clock.advance(1)
    assert not lifecycle.is_live(issued.record.jti)
    assert integrations.token_status(db.session.get(AccessToken, issued.record.jti), clock.now()) == "expired_inactive"


def test_a_use_restarts_the_window_from_the_use(integration, lifecycle, services, clock):
    issued = lifecycle.generate(integration.id)
    clock.advance(HOUR)
    use(services, clock, issued.record.jti)
    activity.flush(services.activity)
    clock.advance(DAY - 1)
    assert lifecycle.is_live(issued.record.jti)
    clock.advance(1)
    assert not lifecycle.is_live(issued.record.jti)


def test_an_unflushed_recent_use_counts_for_the_inactivity_check(integration, lifecycle, services, clock):
    issued = lifecycle.generate(integration.id)
    clock.advance(HOUR)
    use(services, clock, issued.record.jti)  # buffered only: nothing written yet
    assert db.session.get(AccessToken, issued.record.jti).last_used_at is None
    clock.advance(DAY - 1)
    assert lifecycle.is_live(issued.record.jti)
    clock.advance(1)
    assert not lifecycle.is_live(issued.record.jti)


def test_the_token_shows_when_it_expires_if_unused(integration, lifecycle, services, clock):
    issued = lifecycle.generate(integration.id)
    body = serialize_token(db.session.get(AccessToken, issued.record.jti), clock.now())
    assert body["expires_if_unused_after"] == (clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    clock.advance(HOUR)
    use(services, clock, issued.record.jti)
    activity.flush(services.activity)
    db.session.expire_all()
    body = serialize_token(db.session.get(AccessToken, issued.record.jti), clock.now())
    assert body["expires_if_unused_after"] == (clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_expire_inactive_marks_idle_tokens_expired_and_audits_each(integration, lifecycle, clock):
    idle = lifecycle.generate(integration.id)
    busy_integration = make_integration(clock, integration.account_id, inactivity_window=2 * DAY, name="busy")
    busy = lifecycle.generate(busy_integration.id)
    clock.advance(DAY)
    assert lifecycle.expire_inactive() == [idle.record.jti]
    row = db.session.get(AccessToken, idle.record.jti)
    assert row.revoked_at == clock.now() and row.revocation_reason == "inactive"
    assert db.session.get(AccessToken, busy.record.jti).revoked_at is None
    audits = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.expired_inactive")).all()
    assert [(a.target_id, a.actor_type, a.account_id) for a in audits] == [
        (idle.record.jti, "system", integration.account_id)
    ]
    assert audits[0].after["window"] == DAY


def test_expire_inactive_is_idempotent(integration, lifecycle, clock):
    lifecycle.generate(integration.id)
    clock.advance(DAY)
    assert len(lifecycle.expire_inactive()) == 1
    assert lifecycle.expire_inactive() == []
    clock.advance(DAY)
    assert lifecycle.expire_inactive() == []
    count = db.session.scalar(
        select(db.func.count()).select_from(AuditEvent).where(AuditEvent.action == "token.expired_inactive")
    )
    assert count == 1


def test_expire_inactive_leaves_tokens_inside_their_window_and_never_windows_alone(account, lifecycle, clock):
    within = lifecycle.generate(make_integration(clock, account.id, inactivity_window=DAY, name="a").id)
    forever = lifecycle.generate(make_integration(clock, account.id, inactivity_window=None, name="b").id)
    clock.advance(DAY - 1)
    assert lifecycle.expire_inactive() == []
    clock.advance(1)
    assert lifecycle.expire_inactive() == [within.record.jti]
    clock.advance(80 * DAY)
    assert lifecycle.expire_inactive() == []
    assert db.session.get(AccessToken, forever.record.jti).revoked_at is None


def test_expire_inactive_does_not_relabel_a_token_that_already_ended(integration, lifecycle, clock):
    old = lifecycle.generate(integration.id)
    lifecycle.rotate_with_grace(integration.id, grace=HOUR)
    clock.advance(DAY)  # the grace token ended after an hour; it was never idle while it worked
    expired = lifecycle.expire_inactive()
    assert old.record.jti not in expired
    assert db.session.get(AccessToken, old.record.jti).revocation_reason is None


def test_never_is_allowed_only_where_the_account_allows_it(account, clock):
    assert make_integration(clock, account.id, inactivity_window=None, name="ok").inactivity_window is None
    strict = make_account(clock, "Strict")
    db.session.get(Account, strict.id).allow_no_inactivity_expiry = False
    db.session.commit()
    with pytest.raises(InvalidInputError) as caught:
        make_integration(clock, strict.id, inactivity_window=None)
    assert caught.value.field == "inactivity_window"
    db.session.rollback()
    integration = make_integration(clock, strict.id, name="windowed")
    with pytest.raises(InvalidInputError):
        integrations.update_integration(OPERATOR, integration.id, now=clock.now(), inactivity_window=None)


@pytest.mark.parametrize("window", [HOUR - 1, 0, -DAY, 31 * DAY])
def test_a_window_outside_one_hour_to_the_accounts_maximum_is_refused(account, clock, window):
    db.session.get(Account, account.id).max_inactivity_window = 30 * DAY
    db.session.commit()
    with pytest.raises(InvalidInputError) as caught:
        make_integration(clock, account.id, inactivity_window=window)
    assert caught.value.field == "inactivity_window"


def test_narrowing_an_integrations_window_applies_to_live_tokens_at_once(integration, lifecycle, clock):
    issued = lifecycle.generate(integration.id)
    clock.advance(2 * HOUR)
    integrations.update_integration(OPERATOR, integration.id, now=clock.now(), inactivity_window=HOUR)
    assert not lifecycle.is_live(issued.record.jti)
