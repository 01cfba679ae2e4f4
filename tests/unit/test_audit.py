"""The audit log: every lifecycle action with actor, time, source address and before/after; append-only."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from authserver import audit, integrations
from authserver.extensions import db
from authserver.models import AuditEvent
from authserver.principals import Principal
from tests.factories import make_account, make_integration

from .helpers import Lifecycle


@pytest.fixture
def admin(app, clock):
    account = make_account(clock)
    return account, Principal(
        kind="admin_client", id="cli_admin", admin_of=frozenset({account.id}), source_address="203.0.113.7"
    )


def test_every_lifecycle_action_is_recorded_with_actor_time_address_and_state(app, services, clock, admin):
    account, principal = admin
    lifecycle = Lifecycle(services, clock, principal)
    integration = integrations.create_integration(
        principal,
        account_id=account.id,
        name="Zapier",
        description="",
        scopes=["contacts.readonly", "contacts.write"],
        now=clock.now(),
        inactivity_window=86400,
    )
    steps = [
        ("token.generated", lambda: lifecycle.generate(integration.id)),
        ("token.rotated", lambda: lifecycle.rotate_now(integration.id)),
        ("token.rotated_with_grace", lambda: lifecycle.rotate_with_grace(integration.id)),
        ("token.expired", lambda: lifecycle.expire_now(integration.id)),
        ("token.generated", lambda: lifecycle.generate(integration.id)),
        ("token.expiry_scheduled", lambda: lifecycle.expire_later(integration.id, clock.now() + timedelta(hours=5))),
        ("integration.scopes_changed", lambda: lifecycle.set_scopes(integration.id, ["contacts.readonly"])),
        ("integration.disabled", lambda: lifecycle.set_status(integration.id, "disabled")),
        ("integration.enabled", lambda: lifecycle.set_status(integration.id, "active")),
        (
            "token.revoked",
            lambda: integrations.revoke_by_endpoint(principal, lifecycle.live_jtis(integration.id)[0], now=clock.now()),
        ),
        ("integration.deleted", lambda: lifecycle.set_status(integration.id, "deleted")),
    ]
    for offset, (action, step) in enumerate(steps):
        clock.advance(60)
        step()
        row = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
        assert row.action == action, f"step {offset}"
        assert (row.actor_type, row.actor_id, row.source_address) == ("admin_client", "cli_admin", "203.0.113.7")
        assert row.occurred_at == clock.now() and row.account_id == account.id
        assert row.before is not None or row.after is not None
        if action not in ("token.generated",):
            assert row.before is not None, action


def test_automatic_expiry_is_recorded_as_the_system(app, services, clock, lifecycle):
    integration = make_integration(clock, make_account(clock).id, inactivity_window=3600)
    issued = lifecycle.generate(integration.id)
    clock.advance(3600)
    lifecycle.expire_inactive()
    row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.expired_inactive")).one()
    assert (row.actor_type, row.target_id, row.occurred_at) == ("system", issued.record.jti, clock.now())


def _one_event(clock):
    account = make_account(clock)
    return db.session.scalars(select(AuditEvent).where(AuditEvent.account_id == account.id)).one()


def test_an_audit_row_cannot_be_changed_through_the_orm(app, clock):
    event = _one_event(clock)
    event.action = "nothing.happened"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).action == "account.created"


def test_an_audit_row_cannot_be_deleted_through_the_orm(app, clock):
    event = _one_event(clock)
    db.session.delete(event)
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id) is not None


@pytest.mark.parametrize(
    "statement",
    [
        lambda: update(AuditEvent).values(action="nothing.happened"),
        lambda: delete(AuditEvent),
    ],
    ids=["bulk-update", "bulk-delete"],
)
def test_bulk_statements_cannot_rewrite_the_audit_log(app, clock, statement):
    event = _one_event(clock)
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.execute(statement())
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).action == "account.created"


@pytest.fixture
def history(app, services, clock, lifecycle):
    account = make_account(clock)
    integration = make_integration(clock, account.id)
    clock.advance(3600)
    lifecycle.generate(integration.id)
    clock.advance(3600)
    lifecycle.rotate_now(integration.id)
    make_account(clock, "Someone else")
    return account, integration


def test_list_events_is_per_account_newest_first(history):
    account, integration = history
    rows = audit.list_events([account.id])
    assert [row.action for row in rows] == [
        "token.rotated",
        "token.generated",
        "integration.created",
        "account.created",
    ]
    assert {row.account_id for row in rows} == {account.id}


def test_list_events_filters_by_action_target_and_time(history, clock):
    account, integration = history
    assert [r.action for r in audit.list_events([account.id], action="token.generated")] == ["token.generated"]
    assert {r.target_id for r in audit.list_events([account.id], target_id=integration.id)} == {integration.id}
    since = clock.now() - timedelta(hours=1)
    assert [r.action for r in audit.list_events([account.id], since=since)] == ["token.rotated", "token.generated"]
    assert [r.action for r in audit.list_events([account.id], until=since)] == [
        "integration.created",
        "account.created",
    ]


def test_list_events_pages_backwards_with_before_id_and_limit(history):
    account, _ = history
    first = audit.list_events([account.id], limit=2)
    second = audit.list_events([account.id], limit=2, before_id=first[-1].id)
    assert [r.action for r in first + second] == [r.action for r in audit.list_events([account.id])]


def test_csv_has_one_row_per_event_with_json_state(history):
    account, _ = history
    rows = list(csv.DictReader(io.StringIO(audit.to_csv(audit.list_events([account.id])))))
    assert [row["action"] for row in rows] == [
        "token.rotated",
        "token.generated",
        "integration.created",
        "account.created",
    ]
    assert list(rows[0]) == audit.CSV_COLUMNS
    assert json.loads(rows[0]["before"])["tokens"]
    assert rows[-1]["actor_type"] == "operator" and rows[-1]["before"] == ""
