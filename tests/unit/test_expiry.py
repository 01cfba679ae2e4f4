"""Expire now and expire later: every live token stops at once, or the current one at a chosen second."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authserver.errors import ConflictError, InvalidInputError, NotFoundError
from authserver.extensions import db
from authserver.models import AccessToken, Integration
from tests.factories import make_account, make_integration

HOUR, DAY = 3600, 86400


@pytest.fixture
def integration(app, clock):
    return make_integration(clock, make_account(clock).id)


def test_expire_now_stops_every_live_token_and_keeps_the_integration(integration, lifecycle):
    old = lifecycle.generate(integration.id)
    new = lifecycle.rotate_with_grace(integration.id)
    ended = lifecycle.expire_now(integration.id)
    assert {row.jti for row in ended} == {old.record.jti, new.record.jti}
    assert not lifecycle.is_live(old.record.jti) and not lifecycle.is_live(new.record.jti)
    assert db.session.get(Integration, integration.id).status == "active"
    fresh = lifecycle.generate(integration.id)  # ready to generate anew
    assert lifecycle.is_live(fresh.record.jti)


def test_expire_now_of_one_token_leaves_the_other(integration, lifecycle):
    old = lifecycle.generate(integration.id)
    new = lifecycle.rotate_with_grace(integration.id)
    lifecycle.expire_now(integration.id, jti=new.record.jti)
    assert lifecycle.is_live(old.record.jti) and not lifecycle.is_live(new.record.jti)


@pytest.mark.parametrize("jti", ["tok_doesnotexist", "", "x" * 300])
def test_expire_now_of_a_token_that_is_not_live_here_is_not_found(integration, lifecycle, jti):
    lifecycle.generate(integration.id)
    with pytest.raises(NotFoundError):
        lifecycle.expire_now(integration.id, jti=jti)


def test_expire_now_cannot_reach_another_integrations_token(app, clock, lifecycle, integration):
    other = make_integration(clock, make_account(clock, "Other").id)
    theirs = lifecycle.generate(other.id)
    lifecycle.generate(integration.id)
    with pytest.raises(NotFoundError):
        lifecycle.expire_now(integration.id, jti=theirs.record.jti)
    db.session.rollback()
    assert lifecycle.is_live(theirs.record.jti)


def test_expire_now_while_disabled_still_ends_the_tokens_for_good(integration, lifecycle):
    issued = lifecycle.generate(integration.id)
    lifecycle.set_status(integration.id, "disabled")
    lifecycle.expire_now(integration.id)
    lifecycle.set_status(integration.id, "active")
    assert not lifecycle.is_live(issued.record.jti)
    assert db.session.get(AccessToken, issued.record.jti).revoked_at is not None


def test_expire_later_ends_the_current_token_at_the_chosen_second_without_rotating(integration, lifecycle, clock):
    issued = lifecycle.generate(integration.id)
    at = clock.now() + timedelta(days=2, seconds=30)
    row = lifecycle.expire_later(integration.id, at=at)
    assert row.jti == issued.record.jti and row.ends_at == at
    assert lifecycle.live_jtis(integration.id) == [issued.record.jti]
    clock.set(at - timedelta(seconds=1))
    assert lifecycle.is_live(issued.record.jti)
    clock.set(at)
    assert not lifecycle.is_live(issued.record.jti)
    assert lifecycle.live_jtis(integration.id) == []


def test_expire_later_never_extends_past_the_tokens_expiry(integration, lifecycle, clock):
    issued = lifecycle.generate(integration.id, expires_in=HOUR)
    row = lifecycle.expire_later(integration.id, at=clock.now() + timedelta(days=30))
    assert row.ends_at == issued.record.expires_at


@pytest.mark.parametrize("offset", [0, -1, -DAY])
def test_expire_later_refuses_a_time_that_is_not_in_the_future(integration, lifecycle, clock, offset):
    issued = lifecycle.generate(integration.id)
    with pytest.raises(InvalidInputError) as caught:
        lifecycle.expire_later(integration.id, at=clock.now() + timedelta(seconds=offset))
    assert caught.value.field == "at"
    db.session.rollback()
    assert db.session.get(AccessToken, issued.record.jti).ends_at is None


def test_expire_later_without_a_live_token_is_a_conflict(integration, lifecycle, clock):
    with pytest.raises(ConflictError):
        lifecycle.expire_later(integration.id, at=clock.now() + timedelta(days=1))


def test_expire_later_then_rotate_with_grace_keeps_the_earlier_end(integration, lifecycle, clock):
    old = lifecycle.generate(integration.id)
    lifecycle.expire_later(integration.id, at=clock.now() + timedelta(hours=2))
    lifecycle.rotate_with_grace(integration.id, grace=7 * DAY)
    assert db.session.get(AccessToken, old.record.jti).ends_at == clock.now() + timedelta(hours=2)
