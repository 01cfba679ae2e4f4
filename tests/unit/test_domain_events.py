"""The catalogue is the one list: every channel an event declares is projected, and nothing undeclared is."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver import audit, domain_events, integrations
from authserver.errors import NotFoundError
from authserver.extensions import db
from authserver.models import Account, AuditEvent
from authserver.principals import Principal
from authserver.unit_of_work import unit_of_work
from authserver.webhooks import catalogue as webhook_catalogue
from authserver.webhooks import outbox
from tests.factories import make_account, make_integration

EVENTS = domain_events.catalogue()
FEED_TYPES = {
    domain_events.FEED_TOKEN_REVOKED,
    domain_events.FEED_TOKEN_ENDS,
    domain_events.FEED_INTEGRATION_CHANGED,
    domain_events.FEED_KEY_REVOKED,
}


def test_every_audited_event_has_an_audit_entry_and_no_other_does():
    audited = {cls for cls in EVENTS if cls.AUDIT and not issubclass(cls, domain_events.Refusal)}
    assert audited == set(audit.PROJECTED)


def test_audit_actions_are_unique_across_the_catalogue():
    actions = [cls.AUDIT for cls in EVENTS if cls.AUDIT]
    assert len(actions) == len(set(actions))


def test_every_event_declaring_webhooks_is_queued_by_the_outbox_and_no_other_is():
    assert {cls for cls in EVENTS if cls.WEBHOOKS} == set(outbox.PROJECTED)
    declared = {name for cls in EVENTS for name in cls.WEBHOOKS}
    assert declared == set(webhook_catalogue.EVENT_TYPES)


@pytest.mark.parametrize("cls", [cls for cls in EVENTS if cls.FEED], ids=lambda cls: cls.__name__)
def test_every_feed_row_an_event_declares_has_what_the_feed_projector_reads(cls):
    assert set(cls.FEED) <= FEED_TYPES
    needs = {
        domain_events.FEED_TOKEN_REVOKED: "stopped",
        domain_events.FEED_TOKEN_ENDS: "ending",
        domain_events.FEED_INTEGRATION_CHANGED: "integration",
        domain_events.FEED_KEY_REVOKED: "kid",
    }
    fields = set(cls.__dataclass_fields__) | {name for name in dir(cls) if isinstance(getattr(cls, name), property)}
    assert {needs[row] for row in cls.FEED} <= fields


def test_expiry_scheduled_is_heard_on_the_feed_and_audit_but_by_no_webhook():
    event = domain_events.TokenExpiryScheduled
    assert event.FEED == (domain_events.FEED_TOKEN_ENDS,) and event.AUDIT == "token.expiry_scheduled"
    assert event.WEBHOOKS == ()


def test_a_refusal_is_recorded_although_the_refused_unit_of_work_rolls_back(app, clock):
    integration = make_integration(clock, make_account(clock).id)
    stranger = Principal(kind="user", id="usr_x", admin_of=frozenset({"acc_elsewhere"}), account_id="acc_elsewhere")
    with pytest.raises(NotFoundError), unit_of_work():
        make_account(clock, name="Made in the refused unit")
        integrations.set_status(stranger, integration.id, "disabled", now=clock.now())
    assert db.session.scalar(select(Account).where(Account.name == "Made in the refused unit")) is None
    refused = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "integration.change_refused")).all()
    assert [(row.account_id, row.target_id, row.actor_id) for row in refused] == [
        ("acc_elsewhere", integration.id, "usr_x")
    ]
