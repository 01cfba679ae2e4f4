"""Thin wrappers over the lifecycle verbs, so a test reads as the admin action it performs: each in its own unit of
work, as a surface calls it."""

from __future__ import annotations

from datetime import datetime, timedelta

from authserver import integrations
from authserver.integrations import DEFAULT_GRACE
from authserver.principals import OPERATOR, SYSTEM, Principal
from authserver.tokens import load_state
from authserver.unit_of_work import unit_of_work


class Lifecycle:
    """The domain verbs, as the operator, at the frozen clock's ``now``."""

    def __init__(self, services, clock, principal: Principal = OPERATOR) -> None:
        self.services, self.clock, self.principal = services, clock, principal

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def _minting(self, expires_in):
        return dict(policy=self.services.policy, now=self.now, expires_in=expires_in)

    def generate(self, integration_id: str, expires_in: int | None = None):
        with unit_of_work():
            return integrations.generate_token(self.principal, integration_id, **self._minting(expires_in))

    def rotate_now(self, integration_id: str, expires_in: int | None = None):
        with unit_of_work():
            return integrations.rotate_now(self.principal, integration_id, **self._minting(expires_in))

    def rotate_with_grace(
        self,
        integration_id: str,
        grace: int = DEFAULT_GRACE,
        *,
        until: datetime | None = None,
        expires_in: int | None = None,
    ):
        deadline = until if until is not None else self.now + timedelta(seconds=grace)
        with unit_of_work():
            return integrations.rotate_with_grace(
                self.principal, integration_id, grace_until=deadline, **self._minting(expires_in)
            )

    def expire_now(self, integration_id: str, jti: str | None = None):
        with unit_of_work():
            return integrations.expire_now(self.principal, integration_id, now=self.now, jti=jti)

    def expire_later(self, integration_id: str, at: datetime):
        with unit_of_work():
            return integrations.expire_later(self.principal, integration_id, now=self.now, at=at)

    def set_scopes(self, integration_id: str, scopes):
        with unit_of_work():
            return integrations.update_integration(self.principal, integration_id, now=self.now, scopes=list(scopes))

    def set_status(self, integration_id: str, status: str):
        with unit_of_work():
            return integrations.set_status(self.principal, integration_id, status, now=self.now)

    def expire_inactive(self):
        activity = self.services.activity
        with unit_of_work():
            return integrations.expire_inactive(
                SYSTEM, now=self.now, recent_use=activity.recent_use if activity is not None else None
            )

    # -- what introspection would say (the same single source of truth the endpoint uses) ------------
    def is_live(self, jti: str) -> bool:
        state = load_state(jti)
        activity = self.services.activity
        recent = activity.recent_use(jti) if activity is not None else None
        return state is not None and state.is_live(self.now, recent)

    def scopes(self, jti: str) -> set[str]:
        return set(load_state(jti).effective_scopes())

    def live_jtis(self, integration_id: str) -> list[str]:
        return [row.jti for row in integrations.live_tokens(integration_id, self.now)]
