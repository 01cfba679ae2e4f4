"""Activity staged through Redis: a dead instance loses only what it had not handed off yet."""

from __future__ import annotations

import secrets

import pytest

from authserver.activity import ActivityBuffer, Flusher, RedisActivityStage
from authserver.extensions import db
from authserver.models import AccessToken, TokenUsageDaily
from authserver.redis_client import connect_redis

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def stage_prefix():
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
    except Exception:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    prefix = f"authserver-test-{secrets.token_hex(4)}"
    yield prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def _instance(app, prefix):
    buffer = ActivityBuffer()
    stage = RedisActivityStage(connect_redis(REDIS_URL), prefix)
    return buffer, Flusher(app, buffer, interval=3600, stage=stage)


def _count(jti):
    db.session.expire_all()
    return sum(row.count for row in db.session.scalars(db.select(TokenUsageDaily).where(TokenUsageDaily.jti == jti)))


def test_counts_handed_off_by_an_instance_that_died_are_written_by_another(app, world, clock, stage_prefix):
    buffer_a, flusher_a = _instance(app, stage_prefix)
    buffer_b, flusher_b = _instance(app, stage_prefix)
    for _ in range(7):
        buffer_a.record(world.agency.jti, "svc-a", clock.now())
    flusher_a.hand_off()
    for _ in range(3):  # recorded after A's last hand-off: lost when A dies (the documented bound)
        buffer_a.record(world.agency.jti, "svc-a", clock.now())
    del flusher_a, buffer_a  # instance A dies without flushing
    clock.advance(5)
    for _ in range(5):
        buffer_b.record(world.agency.jti, "svc-b", clock.now())
    flusher_b.hand_off()
    assert flusher_b.flush_once() == 1
    assert _count(world.agency.jti) == 12
    row = db.session.get(AccessToken, world.agency.jti)
    assert (row.last_used_at, row.last_used_by) == (clock.now(), "svc-b")


def test_a_batch_taken_by_a_flusher_that_crashed_is_written_by_the_next(app, world, clock, stage_prefix):
    buffer, flusher = _instance(app, stage_prefix)
    for _ in range(4):
        buffer.record(world.sub.jti, "svc", clock.now())
    flusher.hand_off()
    taken = flusher.stage.take_batch()  # this flusher "crashes" before writing the database
    assert taken is not None
    flusher.stage.release()  # its lock expires (10 s in production; released here to keep the test fast)
    _, survivor = _instance(app, stage_prefix)
    assert survivor.flush_once() == 1
    assert _count(world.sub.jti) == 4
    assert survivor.flush_once() == 0  # nothing left, nothing counted twice
