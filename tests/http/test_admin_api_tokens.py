"""Admin API: token generation, rotation (now, or with grace), expiry (now, one token, or later), and activity."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authserver import activity
from authserver.durations import isoformat

from .problems import assert_problem


def post(client, world, action, body=None, tenant="agency"):
    who = getattr(world, tenant)
    return client.post(f"/api/integrations/{who.integration_id}/{action}", json=body or {}, headers=who.admin_headers)


def active(client, world, token) -> bool:
    return client.post("/oauth/introspect", data={"token": token}, headers=world.rs_headers).get_json()["active"]


def test_generate_shows_the_token_once_and_never_caches_it(client, world, clock):
    post(client, world, "expire")
    response = post(client, world, "tokens", {"expires_in": "30d"})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["token"].count(".") == 2  # noqa: S105
    assert body["expires_at"] == isoformat(clock.now() + timedelta(days=30))
    assert active(client, world, body["token"])
    listed = client.get(
        f"/api/integrations/{world.agency.integration_id}/tokens", headers=world.agency.admin_headers
    ).get_data(as_text=True)
    assert body["token"] not in listed


def test_generate_while_a_token_is_live_is_409(shared):
    response = post(shared.client, shared.world, "tokens")
    assert_problem(response, 409, code="conflict")
    assert "rotate" in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expires_in": "0s"}, "expires_in"),
        ({"expires_in": "30"}, "expires_in"),
        ({"expires_in": 30}, "expires_in"),
        ({"expires_in": "400d"}, "expires_in"),
        ({"expires_in": -60}, "expires_in"),
        ({"expires_in": [1]}, "expires_in"),
    ],
)
def test_invalid_lifetimes_are_a_400_problem_naming_the_field(shared, body, field):
    assert_problem(post(shared.client, shared.world, "rotate", {"mode": "now", **body}), 400, field=field)
    assert active(shared.client, shared.world, shared.world.agency.token)


def test_rotate_now_stops_the_old_token_at_once(client, world):
    response = post(client, world, "rotate", {"mode": "now"})
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    assert not active(client, world, world.agency.token)
    assert active(client, world, response.get_json()["token"])


def test_rotate_with_grace_keeps_the_old_token_until_the_deadline(client, world, clock):
    response = post(client, world, "rotate", {"mode": "later", "grace": "2h"})
    new = response.get_json()["token"]
    clock.advance(2 * 3600 - 1)
    assert active(client, world, world.agency.token) and active(client, world, new)
    clock.advance(1)
    assert not active(client, world, world.agency.token) and active(client, world, new)


def test_rotate_defaults_to_now_and_to_seven_days_when_later(client, world, clock):
    post(client, world, "rotate", {"grace": "7d"})
    tokens = client.get(f"/api/integrations/{world.agency.integration_id}", headers=world.agency.admin_headers)
    grace = [t for t in tokens.get_json()["tokens"] if t["status"] == "grace"]
    assert [t["ends_at"] for t in grace] == [isoformat(clock.now() + timedelta(days=7))]
    post(client, world, "rotate", {"mode": "later"})
    grace = [
        t
        for t in client.get(
            f"/api/integrations/{world.agency.integration_id}", headers=world.agency.admin_headers
        ).get_json()["tokens"]
        if t["status"] == "grace"
    ]
    assert len(grace) == 1 and grace[0]["ends_at"] == isoformat(clock.now() + timedelta(days=7))


def test_rotate_with_an_exact_grace_deadline(client, world, clock):
    until = clock.now() + timedelta(days=2, hours=3)
    post(client, world, "rotate", {"grace_until": isoformat(until)})
    clock.set(until - timedelta(seconds=1))
    assert active(client, world, world.agency.token)
    clock.set(until)
    assert not active(client, world, world.agency.token)


def test_at_most_two_live_tokens_rotating_again_ends_the_older_grace_token(client, world):
    second = post(client, world, "rotate", {"mode": "later"}).get_json()["token"]
    third = post(client, world, "rotate", {"mode": "later"}).get_json()["token"]
    assert [active(client, world, t) for t in (world.agency.token, second, third)] == [False, True, True]
    live = client.get(
        f"/api/integrations/{world.agency.integration_id}", headers=world.agency.admin_headers
    ).get_json()["tokens"]
    assert [t["status"] for t in live] == ["active", "grace"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "later", "grace": "59m"}, "grace"),
        ({"mode": "later", "grace": "31d"}, "grace"),
        ({"mode": "later", "grace": "3600"}, "grace"),
        ({"grace": "1h", "grace_until": "2026-02-01T00:00:00Z"}, "grace"),
        ({"grace_until": "yesterday"}, "grace_until"),
        ({"grace_until": "2020-01-01T00:00:00Z"}, "grace"),
        ({"mode": "sometime"}, "mode"),
        ({"mode": "now", "expires_in": "1x"}, "expires_in"),
    ],
)
def test_invalid_rotations_are_a_400_problem_and_the_token_keeps_working(shared, body, field):
    assert_problem(post(shared.client, shared.world, "rotate", body), 400, field=field)
    assert active(shared.client, shared.world, shared.world.agency.token)


def test_rotating_without_a_live_token_is_409(client, world):
    post(client, world, "expire")
    assert_problem(post(client, world, "rotate", {"mode": "now"}), 409)


def test_expire_now_stops_every_live_token(client, world):
    new = post(client, world, "rotate", {"mode": "later"}).get_json()["token"]
    response = post(client, world, "expire")
    assert response.status_code == 200 and response.get_json()["tokens"] == []
    assert not active(client, world, world.agency.token) and not active(client, world, new)
    assert post(client, world, "tokens").status_code == 201  # ready to generate anew


def test_expire_the_grace_token_early(client, world):
    new = post(client, world, "rotate", {"mode": "later"}).get_json()
    response = post(client, world, "expire", {"token_id": world.agency.jti})
    assert [t["token_id"] for t in response.get_json()["tokens"]] == [new["token_id"]]
    assert not active(client, world, world.agency.token) and active(client, world, new["token"])


def test_expire_later_schedules_the_end(client, world, clock):
    response = post(client, world, "expire", {"in": "1h"})
    [token] = response.get_json()["tokens"]
    assert token["ends_at"] == isoformat(clock.now() + timedelta(hours=1))
    clock.advance(3599)
    assert active(client, world, world.agency.token)
    clock.advance(1)
    assert not active(client, world, world.agency.token)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"at": "2020-01-01T00:00:00Z"}, 400, "at"),
        ({"at": "soon"}, 400, "at"),
        ({"in": "0m"}, 400, "in"),
        ({"in": "1h", "at": "2030-01-01T00:00:00Z"}, 400, "in"),
        ({"token_id": "tok_unknown"}, 404, None),
        ({"token_id": 5}, 400, "token_id"),
    ],
)
def test_invalid_expiry_requests_are_problems(shared, body, status, field):
    assert_problem(post(shared.client, shared.world, "expire", body), status, field=field)
    assert active(shared.client, shared.world, shared.world.agency.token)


def test_token_list_shows_every_token_with_its_status(client, world):
    post(client, world, "rotate", {"mode": "later"})
    post(client, world, "rotate", {"mode": "now"})
    tokens = client.get(
        f"/api/integrations/{world.agency.integration_id}/tokens", headers=world.agency.admin_headers
    ).get_json()["tokens"]
    assert sorted(t["status"] for t in tokens) == ["active", "rotated", "rotated"]
    assert all("expires_if_unused_after" in t and "last_used_at" in t for t in tokens)


def test_activity_is_zero_filled_per_day_with_last_use(client, world, services, clock):
    for _ in range(3):
        active(client, world, world.agency.token)
    clock.advance(86400)
    active(client, world, world.agency.token)
    activity.flush(services.activity)
    body = client.get(
        f"/api/integrations/{world.agency.integration_id}/activity?days=4", headers=world.agency.admin_headers
    ).get_json()
    today = clock.now().date()
    assert body["usage"] == [
        {"day": (today - timedelta(days=n)).isoformat(), "count": c} for n, c in ((3, 0), (2, 0), (1, 3), (0, 1))
    ]
    assert body["last_used_at"] == isoformat(clock.now()) and body["last_used_by"] == world.resource_service[0]


def test_activity_defaults_to_thirty_days_of_zeros(shared):
    world = shared.world
    body = shared.client.get(
        f"/api/integrations/{world.other.integration_id}/activity", headers=world.other.admin_headers
    ).get_json()
    assert len(body["usage"]) == 30 and {d["count"] for d in body["usage"]} == {0}
    assert body["last_used_at"] is None and body["last_used_by"] is None


@pytest.mark.parametrize("days", ["0", "401", "-1", "abc", "1.5", "٣"])
def test_activity_with_a_bad_number_of_days_is_a_400_problem(shared, days):
    world = shared.world
    response = shared.client.get(
        f"/api/integrations/{world.agency.integration_id}/activity?days={days}", headers=world.agency.admin_headers
    )
    assert_problem(response, 400, field="days")
