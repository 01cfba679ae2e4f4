"""The token event feed that resource services follow for fast revocation."""

from __future__ import annotations

import threading
import time

import pytest

from authserver import create_app
from authserver.extensions import db
from authserver.integrations import expire_now
from authserver.principals import OPERATOR
from authserver.services import services
from authserver.unit_of_work import unit_of_work
from tests.factories import basic


def _events(client, headers, after=0, wait=0):
    response = client.get(f"/oauth/events?after={after}&wait={wait}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_feed_requires_a_resource_service_client(client, world):
    assert client.get("/oauth/events").status_code == 401
    response = client.get("/oauth/events", headers=world.agency.admin_headers)  # authenticated, not allowed here
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"


def test_revocation_appears_in_feed_with_the_token_id(client, world):
    cursor = _events(client, world.rs_headers)["cursor"]
    client.post("/oauth/revoke", data={"token": world.agency.token})
    body = _events(client, world.rs_headers, after=cursor)
    assert [(e["type"], e["jti"]) for e in body["events"]] == [("token.revoked", world.agency.jti)]
    assert body["cursor"] > cursor


def test_bad_cursor_is_a_clear_400(client, world):
    response = client.get("/oauth/events?after=abc", headers=world.rs_headers)
    assert response.status_code == 400


def test_long_poll_returns_as_soon_as_a_revocation_commits(app, client, world, clock):
    cursor = _events(client, world.rs_headers)["cursor"]

    def revoke_soon():
        time.sleep(0.3)
        with app.app_context(), unit_of_work():
            expire_now(OPERATOR, world.other.integration_id, now=clock.now())

    threading.Thread(target=revoke_soon).start()
    started = time.monotonic()
    body = _events(client, world.rs_headers, after=cursor, wait=10)
    elapsed = time.monotonic() - started
    assert [e["jti"] for e in body["events"]] == [world.other.jti]
    assert elapsed < 1.0


def _redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis(socket_connect_timeout=1).ping())
    except Exception:
        return False


def test_redis_wakes_a_long_poll_on_another_instance(app_config, app, world, clock, tmp_path):
    """Two app instances share the database; a commit on A wakes B's waiter through Redis, well inside
    B's one-second safety poll."""
    if not _redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    config = dict(app_config, REDIS_URL="redis://127.0.0.1:6379/0")
    instance_a = create_app(dict(config, INSTANCE_PATH=tmp_path / "a"), clock=clock)
    instance_b = create_app(dict(config, INSTANCE_PATH=tmp_path / "b"), clock=clock)
    headers = basic(*world.resource_service)
    cursor = _events(instance_b.test_client(), headers)["cursor"]
    services(instance_b).bus.wait(0.2)  # subscribe before the change is published

    def revoke_on_a():
        time.sleep(0.3)
        with instance_a.app_context(), unit_of_work():
            expire_now(OPERATOR, world.sub.integration_id, now=clock.now())

    worker = threading.Thread(target=revoke_on_a)
    worker.start()
    started = time.monotonic()
    try:
        body = _events(instance_b.test_client(), headers, after=cursor, wait=10)
        waited = time.monotonic() - started - 0.3
    finally:
        worker.join()
        for instance in (instance_a, instance_b):
            with instance.app_context():
                db.engine.dispose()
    assert [e["jti"] for e in body["events"]] == [world.sub.jti]
    assert waited < 0.9  # the Redis wake-up, not the one-second safety poll
