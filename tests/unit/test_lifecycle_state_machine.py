"""Random sequences of lifecycle actions, clock moves and uses, checked against a small model at every step.

The model is the specification in miniature: a token is live while it is not revoked, before its ``exp`` and any
scheduled end, used within its integration's inactivity window, and left with at least one scope. Uses go through
the real introspection endpoint (Flask test client); the lifecycle verbs are the domain functions themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from authserver import activity, integrations
from authserver.errors import ConflictError, NotFoundError
from authserver.extensions import db
from authserver.models import AccessToken
from tests.factories import basic, make_account, make_client, make_integration

from .helpers import Lifecycle

HOUR, DAY = 3600, 86400
WINDOW = 2 * DAY  # the integration's inactivity window
LIFETIME = 5 * DAY  # every token's exp, so expiry happens within a run
SCOPES = ["calendars.readonly", "contacts.readonly", "contacts.write"]


@dataclass
class ModelToken:
    token: str
    jti: str
    scopes: set[str]
    exp: datetime
    flushed_use: datetime  # what the database knows (issue time, or the last flushed use)
    buffered_use: datetime | None = None  # a use seen by introspection and not flushed yet
    ends: datetime | None = None
    revoked: bool = False
    replaced: bool = False

    def ended(self, now: datetime) -> bool:
        return self.revoked or now >= self.exp or (self.ends is not None and now >= self.ends)

    def live(self, now: datetime, *, with_buffer: bool = True, enabled: bool = True) -> bool:
        last = self.flushed_use
        if with_buffer and self.buffered_use is not None:
            last = max(last, self.buffered_use)
        return enabled and not self.ended(now) and now < last + timedelta(seconds=WINDOW) and bool(self.scopes)


def make_machine(app, services, clock, rs_headers):
    lifecycle = Lifecycle(services, clock)
    client = app.test_client()

    class LifecycleMachine(RuleBasedStateMachine):
        issued = Bundle("issued")

        @initialize()
        def new_integration(self):
            self.integration = make_integration(
                clock, make_account(clock).id, scopes=SCOPES[:2], inactivity_window=WINDOW
            )
            self.scopes = set(SCOPES[:2])
            self.enabled = True
            self.tokens: dict[str, ModelToken] = {}

        # -- helpers -----------------------------------------------------------------------------------
        @property
        def now(self) -> datetime:
            return clock.now()

        def live(self, *, with_buffer: bool) -> list[ModelToken]:
            return [t for t in self.tokens.values() if t.live(self.now, with_buffer=with_buffer, enabled=self.enabled)]

        def _record(self, issued) -> ModelToken:
            model = ModelToken(
                token=issued.token,
                jti=issued.record.jti,
                scopes=set(self.scopes),
                exp=self.now + timedelta(seconds=LIFETIME),
                flushed_use=self.now,
            )
            self.tokens[model.jti] = model
            return model

        def _end_all_but(self, keep: list[ModelToken]) -> None:
            """Issuing a token ends, for good, every older token that is not kept as the grace token."""
            for token in self.tokens.values():
                if token not in keep and not token.ended(self.now):
                    token.revoked = True

        # -- actions -----------------------------------------------------------------------------------
        @rule(target=issued)
        def generate(self):
            if self.live(with_buffer=False) or not self.enabled:
                with pytest.raises(ConflictError):
                    lifecycle.generate(self.integration.id, expires_in=LIFETIME)
                db.session.rollback()
                return self.tokens and next(iter(self.tokens.values())).jti or "tok_none"
            issued = lifecycle.generate(self.integration.id, expires_in=LIFETIME)
            self._end_all_but([])
            return self._record(issued).jti

        @rule(target=issued)
        def rotate_now(self):
            if not self.live(with_buffer=False) or not self.enabled:
                with pytest.raises(ConflictError):
                    lifecycle.rotate_now(self.integration.id, expires_in=LIFETIME)
                db.session.rollback()
                return "tok_none"
            issued = lifecycle.rotate_now(self.integration.id, expires_in=LIFETIME)
            self._end_all_but([])
            for token in self.tokens.values():
                token.replaced = True
            return self._record(issued).jti

        @rule(target=issued, grace=st.sampled_from([HOUR, DAY, 7 * DAY]))
        def rotate_with_grace(self, grace):
            live = self.live(with_buffer=False)
            if not live or not self.enabled:
                with pytest.raises(ConflictError):
                    lifecycle.rotate_with_grace(self.integration.id, grace, expires_in=LIFETIME)
                db.session.rollback()
                return "tok_none"
            issued = lifecycle.rotate_with_grace(self.integration.id, grace, expires_in=LIFETIME)
            kept = [t for t in live if not t.replaced] or live[:1]
            self._end_all_but(kept)
            deadline = self.now + timedelta(seconds=grace)
            for token in kept:
                token.replaced = True
                token.ends = min(deadline, token.ends or deadline, token.exp)
            return self._record(issued).jti

        @rule()
        def expire_now(self):
            lifecycle.expire_now(self.integration.id)
            self._end_all_but([])

        @rule(jti=issued)
        def expire_one_token(self, jti):
            """Mostly the grace token (expiring it early), but any token the integration ever had."""
            token = self.tokens.get(jti)
            if token is None or token.ended(self.now):
                with pytest.raises(NotFoundError):
                    lifecycle.expire_now(self.integration.id, jti=jti)
                db.session.rollback()
                return
            lifecycle.expire_now(self.integration.id, jti=jti)
            token.revoked = True

        @rule(scopes=st.sets(st.sampled_from(SCOPES), min_size=1))
        def change_scopes(self, scopes):
            """Narrowing applies to live tokens at once; widening only to tokens issued afterwards."""
            lifecycle.set_scopes(self.integration.id, sorted(scopes))
            self.scopes = set(scopes)
            for token in self.tokens.values():
                if not token.revoked:
                    token.scopes &= scopes

        @rule(enabled=st.booleans())
        def disable_or_enable(self, enabled):
            """Disabling stops every token at once; enabling brings back those that did not end meanwhile."""
            lifecycle.set_status(self.integration.id, "active" if enabled else "disabled")
            self.enabled = enabled

        @rule(seconds=st.sampled_from([1, 59, HOUR - 1, HOUR, DAY - 1, DAY, WINDOW]))
        def advance_clock(self, seconds):
            clock.advance(seconds)

        @rule(jti=issued)
        def use(self, jti):
            token = self.tokens.get(jti)
            presented = token.token if token is not None else "not-a-token"
            response = client.post("/oauth/introspect", data={"token": presented}, headers=rs_headers)
            assert response.status_code == 200
            body = response.get_json()
            expected = token is not None and token.live(self.now, enabled=self.enabled)
            assert body["active"] is expected, (jti, body)
            if expected:
                assert set(body["scope"].split()) == token.scopes
                token.buffered_use = self.now
            else:
                assert body == {"active": False}

        @rule()
        def flush_activity(self):
            activity.flush(services.activity)
            for token in self.tokens.values():
                if token.buffered_use is not None:
                    token.flushed_use = max(token.flushed_use, token.buffered_use)
                    token.buffered_use = None

        @rule()
        def expire_inactive(self):
            lifecycle.expire_inactive()
            for token in self.tokens.values():
                if not token.ended(self.now) and self.now >= token.flushed_use + timedelta(seconds=WINDOW):
                    token.revoked = True

        # -- invariants --------------------------------------------------------------------------------
        @invariant()
        def the_domain_agrees_with_the_model(self):
            if not hasattr(self, "integration"):
                return
            rows = {
                row.jti: row
                for row in db.session.scalars(
                    select(AccessToken)
                    .where(AccessToken.integration_id == self.integration.id)
                    .execution_options(populate_existing=True)
                )
            }
            assert set(rows) == set(self.tokens)
            live, current = 0, 0
            for jti, token in self.tokens.items():
                row = rows[jti]
                state = integrations.token_state(row)
                is_live = state.is_live(self.now, services.activity.recent_use(jti))
                assert is_live is token.live(self.now, enabled=self.enabled), jti
                assert (row.revoked_at is not None) is token.revoked, jti  # a revoked token never comes back
                if is_live:
                    assert state.effective_scopes() == token.scopes
                    live += 1
                    current += row.replaced_by is None
            assert live <= 2 and current <= 1

    return LifecycleMachine


def test_lifecycle_state_machine(app, services, clock):
    rs_headers = basic(*make_client(clock, kind="resource-service", name="machine-rs"))
    machine = make_machine(app, services, clock, rs_headers)
    # The model is about the domain, not storage: the full run on SQLite, a shorter one on PostgreSQL.
    examples = 50 if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") else 15
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
