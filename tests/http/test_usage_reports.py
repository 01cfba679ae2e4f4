"""Usage reported in batches by resource services that validate tokens locally (``POST /oauth/usage``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authserver import activity
from authserver.durations import isoformat
from authserver.extensions import db
from authserver.integrations import update_integration
from authserver.models import AccessToken, TokenUsageDaily
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from tests.factories import basic, make_client
from tests.unit.helpers import Lifecycle


def report(client, headers, uses):
    return client.post("/oauth/usage", json={"uses": uses}, headers=headers)


def active(client, world, token) -> bool:
    return client.post("/oauth/introspect", data={"token": token}, headers=world.rs_headers).get_json()["active"]


def test_reported_uses_count_like_introspections(client, world, services, clock):
    response = report(
        client,
        world.rs_headers,
        [{"jti": world.agency.jti, "count": 7}, {"jti": world.sub.jti, "last_used_at": isoformat(clock.now())}],
    )
    assert (response.status_code, response.get_json()) == (202, {"accepted": 2})
    activity.flush(services.activity)
    row = db.session.get(AccessToken, world.agency.jti)
    assert row.last_used_at == clock.now() and row.last_used_by == world.resource_service[0]
    assert db.session.get(TokenUsageDaily, (world.agency.jti, clock.now().date())).count == 7


def test_a_use_in_the_future_counts_as_now(client, world, services, clock):
    report(
        client,
        world.rs_headers,
        [{"jti": world.agency.jti, "last_used_at": isoformat(clock.now() + timedelta(days=30))}],
    )
    activity.flush(services.activity)
    assert db.session.get(AccessToken, world.agency.jti).last_used_at == clock.now()


def test_a_service_bound_to_an_account_cannot_report_for_another(client, world, clock):
    bound = basic(*make_client(clock, kind="resource-service", account_id=world.other.account_id, name="bound"))
    response = report(client, bound, [{"jti": world.agency.jti}, {"jti": world.other.jti}, {"jti": "tok_nope"}])
    assert response.get_json() == {"accepted": 1}


def test_a_reported_use_cannot_bring_back_an_idle_token(client, world, services, clock):
    with unit_of_work():
        update_integration(OPERATOR, world.agency.integration_id, now=clock.now(), inactivity_window=3600)
    clock.advance(3600)
    assert not active(client, world, world.agency.token)
    response = report(client, world.rs_headers, [{"jti": world.agency.jti}])
    assert response.get_json() == {"accepted": 0}
    activity.flush(services.activity)
    assert not active(client, world, world.agency.token)


def test_a_reported_use_of_an_ended_token_is_not_counted(client, world, services, clock):
    Lifecycle(services, clock).expire_now(world.agency.integration_id)
    assert report(client, world.rs_headers, [{"jti": world.agency.jti}]).get_json() == {"accepted": 0}


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"uses": "x"},
        {"uses": [{"count": 1}]},
        {"uses": [{"jti": 5}]},
        {"uses": [{"jti": "tok_x", "count": 0}]},
        {"uses": [{"jti": "tok_x", "count": True}]},
        {"uses": [{"jti": "tok_x", "last_used_at": "yesterday"}]},
    ],
)
def test_a_malformed_report_is_400_and_counts_nothing(shared, body):
    world = shared.world
    response = shared.client.post("/oauth/usage", json=body, headers=world.rs_headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_only_resource_services_may_report(shared):
    world = shared.world
    response = report(shared.client, world.agency.admin_headers, [{"jti": world.agency.jti}])
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"
    assert report(shared.client, {}, [{"jti": world.agency.jti}]).status_code == 401
