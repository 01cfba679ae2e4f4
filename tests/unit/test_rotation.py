"""Generate, rotate now and rotate with grace, to the second on the frozen clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authserver import integrations
from authserver.errors import ConflictError, InvalidInputError
from authserver.extensions import db
from authserver.integrations import DEFAULT_GRACE
from authserver.models import AccessToken, Integration
from authserver.principals import OPERATOR
from tests.factories import make_account, make_integration

HOUR, DAY = 3600, 86400


@pytest.fixture
def integration(app, clock):
    return make_integration(clock, make_account(clock).id)


def test_generate_gives_the_first_token(integration, lifecycle):
    issued = lifecycle.generate(integration.id)
    assert lifecycle.live_jtis(integration.id) == [issued.record.jti]
    assert lifecycle.is_live(issued.record.jti)


def test_generate_is_refused_while_a_live_token_exists(integration, lifecycle):
    first = lifecycle.generate(integration.id)
    with pytest.raises(ConflictError, match="rotate"):
        lifecycle.generate(integration.id)
    db.session.rollback()
    assert lifecycle.live_jtis(integration.id) == [first.record.jti]


def test_generate_is_refused_while_only_a_grace_token_is_live(integration, lifecycle):
    lifecycle.generate(integration.id)
    new = lifecycle.rotate_with_grace(integration.id)
    lifecycle.expire_now(integration.id, jti=new.record.jti)
    with pytest.raises(ConflictError):
        lifecycle.generate(integration.id)


def test_generate_is_allowed_again_once_every_token_has_ended(integration, lifecycle, clock):
    first = lifecycle.generate(integration.id, expires_in=HOUR)
    clock.advance(HOUR)
    second = lifecycle.generate(integration.id)
    assert lifecycle.live_jtis(integration.id) == [second.record.jti]
    assert not lifecycle.is_live(first.record.jti)


def test_rotate_now_stops_the_old_token_at_once(integration, lifecycle):
    old = lifecycle.generate(integration.id)
    new = lifecycle.rotate_now(integration.id)
    assert not lifecycle.is_live(old.record.jti)
    assert lifecycle.is_live(new.record.jti)
    row = db.session.get(AccessToken, old.record.jti)
    assert row.replaced_by == new.record.jti and row.revocation_reason == "rotated"


def test_rotate_now_also_ends_a_grace_token(integration, lifecycle):
    first = lifecycle.generate(integration.id)
    second = lifecycle.rotate_with_grace(integration.id)
    third = lifecycle.rotate_now(integration.id)
    assert [lifecycle.is_live(t.record.jti) for t in (first, second, third)] == [False, False, True]


@pytest.mark.parametrize("verb", ["rotate_now", "rotate_with_grace"])
def test_rotating_an_integration_without_a_live_token_is_a_conflict(integration, lifecycle, verb):
    with pytest.raises(ConflictError, match="generate"):
        getattr(lifecycle, verb)(integration.id)


def test_rotate_with_grace_keeps_the_old_token_up_to_the_deadline_and_not_at_or_after_it(integration, lifecycle, clock):
    old = lifecycle.generate(integration.id)
    start = clock.now()
    new = lifecycle.rotate_with_grace(integration.id, grace=2 * HOUR)
    deadline = start + timedelta(hours=2)
    assert db.session.get(AccessToken, old.record.jti).ends_at == deadline
    clock.set(deadline - timedelta(seconds=1))
    assert lifecycle.is_live(old.record.jti) and lifecycle.is_live(new.record.jti)
    clock.set(deadline)
    assert not lifecycle.is_live(old.record.jti) and lifecycle.is_live(new.record.jti)
    clock.set(deadline + timedelta(seconds=1))
    assert not lifecycle.is_live(old.record.jti)


def test_rotate_with_grace_defaults_to_seven_days(integration, lifecycle, clock):
    old = lifecycle.generate(integration.id)
    lifecycle.rotate_with_grace(integration.id)
    assert DEFAULT_GRACE == 7 * DAY
    assert db.session.get(AccessToken, old.record.jti).ends_at == clock.now() + timedelta(days=7)


@pytest.mark.parametrize("grace", [HOUR, 7 * DAY, 30 * DAY])
def test_rotate_with_grace_accepts_one_hour_to_thirty_days(integration, lifecycle, clock, grace):
    old = lifecycle.generate(integration.id, expires_in=365 * DAY)
    lifecycle.rotate_with_grace(integration.id, grace=grace)
    assert db.session.get(AccessToken, old.record.jti).ends_at == clock.now() + timedelta(seconds=grace)


@pytest.mark.parametrize("grace", [HOUR - 1, 30 * DAY + 1, 0, -HOUR])
def test_rotate_with_grace_refuses_a_grace_outside_one_hour_to_thirty_days(integration, lifecycle, grace):
    old = lifecycle.generate(integration.id)
    with pytest.raises(InvalidInputError) as caught:
        lifecycle.rotate_with_grace(integration.id, grace=grace)
    assert caught.value.field == "grace"
    db.session.rollback()
    assert lifecycle.live_jtis(integration.id) == [old.record.jti]


def test_rotate_with_grace_takes_an_exact_deadline(integration, lifecycle, clock):
    old = lifecycle.generate(integration.id)
    until = clock.now() + timedelta(days=3, hours=4, minutes=5, seconds=6)
    lifecycle.rotate_with_grace(integration.id, until=until)
    assert db.session.get(AccessToken, old.record.jti).ends_at == until
    clock.set(until - timedelta(seconds=1))
    assert lifecycle.is_live(old.record.jti)
    clock.set(until)
    assert not lifecycle.is_live(old.record.jti)


def test_a_grace_period_never_extends_the_old_token_past_its_own_expiry(integration, lifecycle, clock):
    old = lifecycle.generate(integration.id, expires_in=2 * HOUR)
    lifecycle.rotate_with_grace(integration.id, grace=7 * DAY)
    assert db.session.get(AccessToken, old.record.jti).ends_at == old.record.expires_at
    clock.set(old.record.expires_at)
    assert not lifecycle.is_live(old.record.jti)


def test_rotating_again_during_grace_ends_the_older_grace_token_at_once(integration, lifecycle, clock):
    first = lifecycle.generate(integration.id)
    second = lifecycle.rotate_with_grace(integration.id)
    clock.advance(HOUR)
    third = lifecycle.rotate_with_grace(integration.id)
    assert not lifecycle.is_live(first.record.jti)
    assert lifecycle.is_live(second.record.jti) and lifecycle.is_live(third.record.jti)
    assert lifecycle.live_jtis(integration.id) == [third.record.jti, second.record.jti]  # current first
    assert db.session.get(AccessToken, first.record.jti).revocation_reason == "superseded"


def test_the_grace_token_can_be_expired_early(integration, lifecycle):
    old = lifecycle.generate(integration.id)
    new = lifecycle.rotate_with_grace(integration.id)
    ended = lifecycle.expire_now(integration.id, jti=old.record.jti)
    assert [row.jti for row in ended] == [old.record.jti]
    assert not lifecycle.is_live(old.record.jti) and lifecycle.is_live(new.record.jti)


def test_new_tokens_carry_the_integrations_scopes_at_rotation(integration, lifecycle):
    lifecycle.generate(integration.id)
    lifecycle.set_scopes(integration.id, ["contacts.readonly", "contacts.write"])
    new = lifecycle.rotate_now(integration.id)
    assert lifecycle.scopes(new.record.jti) == {"contacts.readonly", "contacts.write"}


def test_every_lifecycle_action_bumps_the_integration_version(integration, lifecycle, clock):
    versions = [db.session.get(Integration, integration.id).version]
    for action in (
        lambda: lifecycle.generate(integration.id),
        lambda: lifecycle.rotate_now(integration.id),
        lambda: lifecycle.rotate_with_grace(integration.id),
        lambda: lifecycle.expire_now(integration.id),
    ):
        action()  # all within the same second: the version must move even though updated_at does not
        db.session.expire_all()
        versions.append(db.session.get(Integration, integration.id).version)
    assert versions == sorted(set(versions)) and len(versions) == 5


def test_an_action_on_a_stale_version_is_a_conflict_and_changes_nothing(integration, lifecycle, services, clock):
    old = lifecycle.generate(integration.id)
    stale = db.session.get(Integration, integration.id).version
    lifecycle.rotate_with_grace(integration.id)
    with pytest.raises(ConflictError):
        integrations.rotate_now(
            OPERATOR, integration.id, policy=services.policy, now=clock.now(), expires_in=None, expected_version=stale
        )
    db.session.rollback()
    assert len(lifecycle.live_jtis(integration.id)) == 2
    assert lifecycle.is_live(old.record.jti)


@pytest.mark.parametrize("expires_in", [59, 0, -1, 366 * DAY])
def test_a_lifetime_outside_one_minute_to_the_maximum_is_refused(integration, lifecycle, expires_in):
    with pytest.raises(InvalidInputError) as caught:
        lifecycle.generate(integration.id, expires_in=expires_in)
    assert caught.value.field == "expires_in"


def test_the_token_stops_exactly_at_its_expiry(integration, lifecycle, clock):
    issued = lifecycle.generate(integration.id, expires_in=60)
    clock.advance(59)
    assert lifecycle.is_live(issued.record.jti)
    clock.advance(1)
    assert not lifecycle.is_live(issued.record.jti)
