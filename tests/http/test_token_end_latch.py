"""The end latch through the app on both backends: introspection records ``ended_at`` once, at the first answer past
an end, as the moment that end fell (not when it was noticed), and only for ends no later event can undo (a disabled integration comes back; an expired token does not).
The same behaviour against real server processes whose clocks step back: tests/security/test_token_end_latch.py."""

from __future__ import annotations

from datetime import timedelta

from authserver.extensions import db
from authserver.integrations import token_status
from authserver.models import AccessToken, Integration
from tests.unit.helpers import Lifecycle


def introspect(client, world, token) -> bool:
    response = client.post("/oauth/introspect", data={"token": token}, headers=world.rs_headers)
    assert response.status_code == 200
    return response.get_json()["active"]


def ended_at(jti: str):
    db.session.expire_all()
    return db.session.get(AccessToken, jti).ended_at


def test_first_answer_past_exp_records_the_end_once_and_a_clock_stepping_back_revives_nothing(
    client, world, services, clock
):
    issued = Lifecycle(services, clock).rotate_now(world.agency.integration_id, expires_in=60)
    assert introspect(client, world, issued.token)
    assert ended_at(issued.record.jti) is None

    clock.advance(61)
    assert not introspect(client, world, issued.token)
    assert ended_at(issued.record.jti) == issued.record.expires_at  # when exp fell, not when it was seen

    clock.advance(600)
    assert not introspect(client, world, issued.token)
    assert ended_at(issued.record.jti) == issued.record.expires_at  # one write, at the transition only

    clock.set(issued.record.issued_at)  # the clock steps back to the moment of issue
    assert not introspect(client, world, issued.token)
    assert token_status(db.session.get(AccessToken, issued.record.jti), clock.now()) == "expired"


def test_answers_before_the_end_write_nothing(client, world, services, clock):
    issued = Lifecycle(services, clock).rotate_now(world.agency.integration_id, expires_in=60)
    clock.advance(59)
    assert introspect(client, world, issued.token)
    assert ended_at(issued.record.jti) is None


def test_a_disabled_integration_is_not_an_end_and_its_tokens_come_back_when_enabled(client, world, services, clock):
    lifecycle = Lifecycle(services, clock)
    lifecycle.set_status(world.agency.integration_id, "disabled")
    assert not introspect(client, world, world.agency.token)
    assert ended_at(world.agency.jti) is None
    lifecycle.set_status(world.agency.integration_id, "active")
    assert introspect(client, world, world.agency.token)


def test_a_grace_deadline_seen_passed_is_latched(client, world, services, clock):
    lifecycle = Lifecycle(services, clock)
    lifecycle.rotate_with_grace(world.agency.integration_id, grace=3600)
    deadline = clock.advance(3600)
    clock.advance(45)  # noticed 45 s after the grace period ended
    assert not introspect(client, world, world.agency.token)
    assert ended_at(world.agency.jti) == deadline
    clock.advance(-3600)
    assert not introspect(client, world, world.agency.token)


def test_an_idle_token_seen_late_records_when_its_window_ended(client, world, services, clock):
    issued = Lifecycle(services, clock).rotate_now(world.agency.integration_id, expires_in=300 * 86400)
    window = db.session.get(Integration, world.agency.integration_id).inactivity_window
    assert window is not None and window < (issued.record.expires_at - issued.record.issued_at).total_seconds()
    window_end = issued.record.issued_at + timedelta(seconds=window)
    clock.set(window_end + timedelta(days=2))  # nobody asked for two days after the window ended
    assert not introspect(client, world, issued.token)
    assert ended_at(issued.record.jti) == window_end
    assert token_status(db.session.get(AccessToken, issued.record.jti), clock.now()) == "expired_inactive"
