"""Usage reports from the authserver-resource package: calls per service and per scope needed, and each call
counted once (the report says how many of its calls were this server's own introspections)."""

from __future__ import annotations

import pytest

from authserver import activity
from authserver.activity.by_service import calls_by_service, scopes_exercised
from authserver.extensions import db
from authserver.models import TokenUsageByService, TokenUsageDaily
from tests.factories import basic, make_client


def report(client, headers, uses):
    return client.post("/oauth/usage", json={"uses": uses}, headers=headers)


def test_calls_are_stored_per_service_and_scope_and_counted_once(client, world, services, clock):
    client.post("/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers)  # 1 use
    response = report(
        client,
        world.rs_headers,
        [
            {
                "jti": world.agency.jti,
                "count": 5,
                "introspected": 1,
                "scopes": {"contacts.readonly": 3, "contacts.write": 1, "": 1},
            }
        ],
    )
    assert (response.status_code, response.get_json()) == (202, {"accepted": 1})
    activity.flush(services.activity)
    # 1 introspection + (5 calls - the 1 that was that introspection) = 5 calls, not 6
    assert db.session.get(TokenUsageDaily, (world.agency.jti, clock.now().date())).count == 5
    service_id = world.resource_service[0]
    rows = {
        row.scope: row.count
        for row in db.session.scalars(db.select(TokenUsageByService).where(TokenUsageByService.jti == world.agency.jti))
    }
    assert rows == {"contacts.readonly": 3, "contacts.write": 1, "": 1}
    assert scopes_exercised([world.agency.jti]) == {"contacts.readonly", "contacts.write"}
    assert calls_by_service([world.agency.jti]) == {service_id: 5}


def test_reports_add_up_per_day(client, world, services, clock):
    for _ in range(2):
        report(client, world.rs_headers, [{"jti": world.agency.jti, "count": 2, "scopes": {"contacts.readonly": 2}}])
    assert calls_by_service([world.agency.jti]) == {world.resource_service[0]: 4}


def test_all_calls_introspected_touch_last_use_without_counting_twice(client, world, services, clock):
    report(client, world.rs_headers, [{"jti": world.agency.jti, "count": 2, "introspected": 2}])
    activity.flush(services.activity)
    assert db.session.get(TokenUsageDaily, (world.agency.jti, clock.now().date())) is None


def test_another_accounts_token_is_not_recorded_for_a_bound_service(client, world, clock):
    bound = basic(*make_client(clock, kind="resource-service", account_id=world.other.account_id, name="bound"))
    report(client, bound, [{"jti": world.agency.jti, "count": 1, "scopes": {"contacts.readonly": 1}}])
    assert scopes_exercised([world.agency.jti]) == set()


@pytest.mark.parametrize(
    "use",
    [
        {"count": 2, "scopes": {"contacts.readonly": 1}},  # does not add up to count
        {"count": 1, "scopes": {"contacts.readonly": 0}},
        {"count": 1, "scopes": {"a b": 1}},
        {"count": 1, "scopes": ["contacts.readonly"]},
        {"count": 1, "scopes": {"x" * 101: 1}},
        {"count": 1, "introspected": 2},
        {"count": 1, "introspected": -1},
        {"count": 1, "introspected": True},
    ],
)
def test_a_malformed_scope_split_is_400_and_counts_nothing(shared, use):
    world = shared.world
    response = shared.client.post(
        "/oauth/usage", json={"uses": [{"jti": world.agency.jti} | use]}, headers=world.rs_headers
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
