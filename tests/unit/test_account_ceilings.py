"""Account ceilings: what an account lets its integrations ask for, inherited down the agency tree."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from authserver import accounts
from authserver.errors import InvalidInputError
from authserver.extensions import db
from authserver.models import AuditEvent, Integration
from authserver.principals import OPERATOR
from authserver.scopes import ALL_SCOPES
from authserver.unit_of_work import unit_of_work
from tests.factories import make_account, make_integration

READ = {"contacts.readonly", "calendars.readonly", "locations.readonly"}


def restrict(clock, account_id, scopes):
    with unit_of_work():
        return accounts.update_account(OPERATOR, account_id, now=clock.now(), allowed=sorted(scopes))


def integration_scopes(integration_id):
    return set(db.session.get(Integration, integration_id).scopes.split())


def test_an_unrestricted_account_allows_the_whole_catalogue(app, clock):
    assert accounts.allowed_scopes(make_account(clock)) == ALL_SCOPES


def test_sub_account_ceiling_is_the_intersection_with_every_ancestor(app, clock):
    agency = make_account(clock, "Agency")
    middle = make_account(clock, "Region", parent_id=agency.id)
    leaf = make_account(clock, "Shop", parent_id=middle.id)
    restrict(clock, agency.id, READ | {"contacts.write"})
    restrict(clock, middle.id, {"contacts.readonly", "contacts.write", "calendars.write"})
    restrict(clock, leaf.id, {"contacts.write", "calendars.write", "locations.readonly"})
    assert accounts.allowed_scopes(middle) == {"contacts.readonly", "contacts.write"}
    assert accounts.allowed_scopes(leaf) == {"contacts.write"}


def test_sub_account_cannot_widen_its_ceiling_past_its_agency(app, clock):
    agency = make_account(clock, "Agency")
    sub = make_account(clock, "Sub", parent_id=agency.id)
    restrict(clock, agency.id, {"contacts.readonly"})
    restrict(clock, sub.id, ALL_SCOPES)
    assert accounts.allowed_scopes(sub) == {"contacts.readonly"}
    with pytest.raises(InvalidInputError) as caught:
        make_integration(clock, sub.id, scopes=["contacts.write"])
    assert caught.value.field == "scopes"


@pytest.mark.parametrize("requested", [["contacts.write"], ["contacts.readonly", "users.write"]])
def test_an_integration_never_gets_more_than_its_account_allows(app, clock, lifecycle, requested):
    account = make_account(clock)
    restrict(clock, account.id, READ)
    with pytest.raises(InvalidInputError) as caught:
        make_integration(clock, account.id, scopes=requested)
    assert caught.value.field == "scopes" and "not allowed" in caught.value.detail
    integration = make_integration(clock, account.id, scopes=["contacts.readonly"])
    with pytest.raises(InvalidInputError):
        lifecycle.set_scopes(integration.id, requested)
    db.session.rollback()
    assert integration_scopes(integration.id) == {"contacts.readonly"}


def test_narrowing_an_account_narrows_its_integrations_and_live_tokens_at_once(app, clock, lifecycle):
    agency = make_account(clock, "Agency")
    sub = make_account(clock, "Sub", parent_id=agency.id)
    mine = make_integration(clock, agency.id, scopes=["contacts.readonly", "contacts.write"])
    theirs = make_integration(clock, sub.id, scopes=["contacts.write", "calendars.readonly"])
    my_token, their_token = lifecycle.generate(mine.id), lifecycle.generate(theirs.id)

    restrict(clock, agency.id, READ)

    assert integration_scopes(mine.id) == {"contacts.readonly"}
    assert integration_scopes(theirs.id) == {"calendars.readonly"}
    assert lifecycle.scopes(my_token.record.jti) == {"contacts.readonly"}
    assert lifecycle.scopes(their_token.record.jti) == {"calendars.readonly"}
    assert lifecycle.is_live(my_token.record.jti) and lifecycle.is_live(their_token.record.jti)


def test_widening_an_account_again_gives_nothing_back_to_integrations_or_live_tokens(app, clock, lifecycle):
    account = make_account(clock)
    integration = make_integration(clock, account.id, scopes=["contacts.readonly", "contacts.write"])
    issued = lifecycle.generate(integration.id)
    restrict(clock, account.id, READ)
    with unit_of_work():
        accounts.update_account(OPERATOR, account.id, now=clock.now(), clear_allowed=True)
    assert integration_scopes(integration.id) == {"contacts.readonly"}
    assert lifecycle.scopes(issued.record.jti) == {"contacts.readonly"}
    lifecycle.set_scopes(integration.id, ["contacts.readonly", "contacts.write"])  # widening: a new token's job
    assert lifecycle.scopes(issued.record.jti) == {"contacts.readonly"}


def test_narrowing_away_every_scope_of_an_integration_stops_its_token(app, clock, lifecycle):
    account = make_account(clock)
    integration = make_integration(clock, account.id, scopes=["contacts.write"])
    issued = lifecycle.generate(integration.id)
    restrict(clock, account.id, READ)
    assert not lifecycle.is_live(issued.record.jti)
    assert lifecycle.live_jtis(integration.id) == []


def test_account_narrowing_is_audited_on_each_integration_it_changed(app, clock):
    account = make_account(clock)
    changed = make_integration(clock, account.id, scopes=["contacts.readonly", "contacts.write"], name="A")
    untouched = make_integration(clock, account.id, scopes=["contacts.readonly"], name="B")
    restrict(clock, account.id, READ)
    rows = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "integration.scopes_narrowed_by_account")
    ).all()
    assert [(row.target_id, row.before, row.after) for row in rows] == [
        (changed.id, {"scopes": ["contacts.readonly", "contacts.write"]}, {"scopes": ["contacts.readonly"]})
    ]
    assert untouched.id not in {row.target_id for row in rows}


def test_a_sub_account_token_never_outlives_its_agency_maximum(app, clock, lifecycle):
    agency = make_account(clock, "Agency")
    sub = make_account(clock, "Sub", parent_id=agency.id)
    with unit_of_work():
        # Set the other way round, the sub-account's 365 days would be refused: above its agency's maximum.
        accounts.update_account(OPERATOR, sub.id, now=clock.now(), max_token_lifetime=365 * 86400)
        accounts.update_account(OPERATOR, agency.id, now=clock.now(), max_token_lifetime=30 * 86400)
    integration = make_integration(clock, sub.id)
    with pytest.raises(InvalidInputError) as caught:
        lifecycle.generate(integration.id, expires_in=31 * 86400)
    assert caught.value.field == "expires_in"
    db.session.rollback()
    issued = lifecycle.generate(integration.id)  # the default lifetime (90 days) is capped, not refused
    assert issued.record.expires_at == clock.now() + timedelta(days=30)
