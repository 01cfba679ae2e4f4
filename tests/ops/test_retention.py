"""Retention on SQLite and PostgreSQL: rows on both sides of every window, exact counts, --dry-run, "off", the
feed's answer to a cursor older than retention, and the periodic job inside a real ``authserver serve``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from authserver import create_app
from authserver.database import prepare
from authserver.extensions import db
from authserver.models import AuditEvent, TokenEvent, User, UserSession, WebhookDelivery, WebhookEvent
from authserver.models import WebhookSubscription
from authserver.principals import OPERATOR
from authserver.retention import RetentionSettings, count_prunable, prune
from authserver.security import new_id, secret_digest
from authserver.unit_of_work import unit_of_work
from tests.factories import basic, make_account, make_client
from tests.support.config import make_app_config
from tests.support.servers import free_port, make_authserver, wait_for_http

DAY = timedelta(days=1)
DEFAULTS = RetentionSettings(events=7 * 86400, deliveries=30 * 86400, sessions=30 * 86400, audit=400 * 86400)


@pytest.fixture
def app(tmp_path, database_url, clock):
    config = make_app_config(tmp_path, database_url, AUTHSERVER_PRUNE_INTERVAL="off")
    app = create_app(config, clock=clock)
    prepare(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def seed(clock) -> dict[str, int]:
    """Rows just outside and just inside each default window, at ``clock.now()``; returns how many should go."""
    now = clock.now()
    account = make_account(clock, name="Retained")
    with unit_of_work():
        for age in (9, 8, 7.5, 6, 1):  # feed: three older than 7 days
            db.session.add(TokenEvent(occurred_at=now - age * DAY, type="token.revoked", account_id=account.id))
        hook = WebhookSubscription(
            id=new_id("wh"), account_id=account.id, url="https://hooks.example/x", event_types="token.revoked",
            signing="ed25519", created_by="test", created_at=now - 60 * DAY, updated_at=now - 60 * DAY,
        )  # fmt: skip
        db.session.add(hook)

        def delivery(status, *, age, delivered=None, attempted=None, dedup=None):
            event = WebhookEvent(
                id=new_id("msg"), type="token.revoked", account_id=account.id, occurred_at=now - age * DAY,
                body="{}", dedup_key=dedup,
            )  # fmt: skip
            db.session.add(event)
            db.session.flush()
            db.session.add(
                WebhookDelivery(
                    id=new_id("dlv"),
                    event_id=event.id,
                    subscription_id=hook.id,
                    status=status,
                    attempts=1,
                    retry_until=now - age * DAY + DAY,
                    created_at=now - age * DAY,
                    delivered_at=None if delivered is None else now - delivered * DAY,
                    last_attempt_at=None if attempted is None else now - attempted * DAY,
                )  # fmt: skip
            )

        delivery("succeeded", age=40, delivered=31)  # goes, with its event
        delivery("failed", age=45, attempted=31)  # goes, with its event
        delivery("cancelled", age=35)  # no attempt: its creation counts; goes
        delivery("pending", age=40)  # still pending: stays, and so does its event
        delivery("succeeded", age=40, delivered=29)  # ended inside the window: stays
        user = User(id=new_id("usr"), email="kept@retained.example", password_hash="x", created_at=now - 90 * DAY)  # noqa: S106
        db.session.add(user)
        db.session.flush()

        def session(*, expires, revoked=None):
            db.session.add(
                UserSession(
                    id_digest=secret_digest(new_id("s")),
                    user_id=user.id,
                    generation=0,
                    created_at=now - 60 * DAY,
                    last_seen_at=now - 60 * DAY,
                    expires_at=now - expires * DAY,
                    revoked_at=None if revoked is None else now - revoked * DAY,
                )  # fmt: skip
            )

        session(expires=31)  # ran out 31 days ago: goes
        session(expires=-5, revoked=31)  # signed out 31 days ago: goes
        session(expires=29)  # ran out 29 days ago: stays
        session(expires=-5, revoked=29)  # stays
        session(expires=-10)  # live: stays
        for age in (500, 401, 399, 10):
            db.session.add(
                AuditEvent(account_id=account.id, occurred_at=now - age * DAY, actor_type="operator", action="test.old")
            )
    return {"events": 3, "deliveries": 3, "webhook_events": 3, "sessions": 2, "audit": 2}


def test_prune_deletes_exactly_what_is_past_each_window(app, clock):
    expected = seed(clock)
    before = {m: _count(m) for m in (TokenEvent, WebhookDelivery, WebhookEvent, UserSession, AuditEvent)}
    assert count_prunable(clock.now(), DEFAULTS) == expected
    counts = prune(clock.now(), DEFAULTS, batch_size=2, actor=OPERATOR)  # small batches: several per kind
    assert counts == expected
    assert _count(TokenEvent) == before[TokenEvent] - 3
    assert _count(WebhookDelivery) == before[WebhookDelivery] - 3
    assert _count(WebhookEvent) == before[WebhookEvent] - 3
    assert set(db.session.scalars(select(WebhookDelivery.status))) == {"pending", "succeeded"}
    assert _count(UserSession) == before[UserSession] - 2
    # Two old audit rows went, and one row recorded the prune with its counts.
    assert _count(AuditEvent) == before[AuditEvent] - 2 + 1
    row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.pruned")).one()
    assert row.after == expected and row.actor_type == "operator"
    # Idempotent: nothing more to do, and no audit row for nothing.
    assert prune(clock.now(), DEFAULTS, actor=OPERATOR) == dict.fromkeys(expected, 0)
    assert _count(AuditEvent) == before[AuditEvent] - 1


def test_off_keeps_a_kind_and_the_newest_feed_row_always_stays(app, clock):
    seed(clock)
    clock.advance(3650 * 86400)  # ten years on: everything is old
    off = RetentionSettings(events=3600, deliveries=None, sessions=None, audit=None)
    deliveries, sessions, audit = _count(WebhookDelivery), _count(UserSession), _count(AuditEvent)
    newest = db.session.scalar(select(func.max(TokenEvent.id)))
    counts = prune(clock.now(), off)
    assert counts["deliveries"] == counts["webhook_events"] == counts["sessions"] == counts["audit"] == 0
    assert (_count(WebhookDelivery), _count(UserSession), _count(AuditEvent)) == (deliveries, sessions, audit)
    assert list(db.session.scalars(select(TokenEvent.id))) == [newest]


def test_outbox_events_with_a_dedup_key_outlive_a_short_window(app, clock):
    now = clock.now()
    account = make_account(clock, name="Dedup")
    with unit_of_work():
        for key, age in (("expiring:a", 5), (None, 5), ("expiring:b", 20)):
            db.session.add(
                WebhookEvent(
                    id=new_id("msg"),
                    type="token.expiring",
                    account_id=account.id,
                    occurred_at=now - age * DAY,
                    body="{}",
                    dedup_key=key,
                )  # fmt: skip
            )
    short = RetentionSettings(events=None, deliveries=86400, sessions=None, audit=None)
    assert prune(now, short)["webhook_events"] == 2  # the unkeyed one, and the keyed one past the horizon
    assert list(db.session.scalars(select(WebhookEvent.dedup_key).where(WebhookEvent.account_id == account.id))) == [
        "expiring:a"
    ]


def test_cli_dry_run_deletes_nothing_then_prune_does(app, clock, runner):
    expected = seed(clock)
    app.config.update(
        AUTHSERVER_RETAIN_EVENTS=DEFAULTS.events,
        AUTHSERVER_RETAIN_DELIVERIES=DEFAULTS.deliveries,
        AUTHSERVER_RETAIN_SESSIONS=DEFAULTS.sessions,
        AUTHSERVER_RETAIN_AUDIT=DEFAULTS.audit,
    )
    before = _count(TokenEvent), _count(AuditEvent), _count(UserSession)
    dry = runner.invoke(args=["prune", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output) == {"dry_run": True, "counts": expected, "retention": DEFAULTS.__dict__}
    assert (_count(TokenEvent), _count(AuditEvent), _count(UserSession)) == before
    done = runner.invoke(args=["prune", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["counts"] == expected
    again = runner.invoke(args=["prune", "--json"])
    assert json.loads(again.output)["counts"] == dict.fromkeys(expected, 0)
    assert runner.invoke(args=["prune", "--bogus"]).exit_code == 2


def test_feed_cursor_older_than_retention_is_told_to_resync(app, clock, client):
    seed(clock)
    service = basic(*make_client(clock, kind="resource-service"))
    first = db.session.scalar(select(func.min(TokenEvent.id)))
    assert client.get(f"/oauth/events?after={first}", headers=service).status_code == 200
    prune(clock.now(), DEFAULTS)
    db.session.remove()
    expired = client.get(f"/oauth/events?after={first}", headers=service)
    assert expired.status_code == 410
    assert expired.get_json()["error"] == "cursor_expired"
    assert "snapshot" in expired.get_json()["error_description"]
    # A fresh snapshot's cursor works, and so does 0 (from what is kept).
    cursor = client.get("/oauth/events/snapshot", headers=service).get_json()["cursor"]
    assert client.get(f"/oauth/events?after={cursor}", headers=service).status_code == 200
    assert client.get("/oauth/events?after=0", headers=service).status_code == 200


def test_periodic_prune_runs_inside_authserver_serve(tmp_path):
    """A real ``authserver serve`` (granian, two workers) prunes by itself every AUTHSERVER_PRUNE_INTERVAL."""
    port = free_port()  # the issuer names serve's port from init on: a start under another issuer is refused
    server = make_authserver(
        tmp_path / "serve",
        AUTHSERVER_PRUNE_INTERVAL="1s",
        AUTHSERVER_RETAIN_AUDIT="1h",
        AUTHSERVER_ISSUER=f"http://127.0.0.1:{port}",
    )
    database = tmp_path / "serve" / "authserver.db"
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO audit_events (account_id, occurred_at, actor_type, action) VALUES (NULL, ?, 'operator', ?)",
            [("2020-01-01 00:00:00.000000", "test.ancient")] * 5,
        )
    log_path = tmp_path / "serve" / "serve.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "authserver", "serve", "--port", str(port), "--workers", "2"],
            env=server.env, stdout=log, stderr=subprocess.STDOUT, cwd=server.workdir,
        )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", proc, log_path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sqlite3.connect(database) as connection:
                left = connection.execute("SELECT count(*) FROM audit_events WHERE action = 'test.ancient'").fetchone()
                pruned = connection.execute(
                    "SELECT actor_type, after FROM audit_events WHERE action = 'retention.pruned'"
                ).fetchall()
            if left[0] == 0 and pruned:
                break
            time.sleep(0.5)
        assert left[0] == 0, log_path.read_text()[-3000:]
        # However the workers shared the work, their audit rows add up to the five rows deleted.
        assert {actor for actor, _ in pruned} == {"system"}
        assert sum(json.loads(after)["audit"] for _, after in pruned) == 5
    finally:
        proc.terminate()
        proc.wait(timeout=30)
