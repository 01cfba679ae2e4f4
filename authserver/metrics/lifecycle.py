"""Lifecycle counters, a projector of the domain events (domain_events): each audited event counts once under its
audit action when its transaction commits, whichever surface (API, UI, CLI, revocation endpoint, jobs) caused it."""

from __future__ import annotations

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from ..domain_events import DomainEvent
from ..extensions import db
from .recording import count_lifecycle_action

_PENDING = "authserver.metrics.actions"


def project(event: DomainEvent) -> None:
    """Note ``event``'s action on its session; it is counted only if the transaction commits."""
    if event.AUDIT is not None:
        db.session().info.setdefault(_PENDING, []).append(event.AUDIT)


@sa_event.listens_for(Session, "after_commit")
def _count_actions(session: Session) -> None:
    for action in session.info.pop(_PENDING, []):
        count_lifecycle_action(action)


@sa_event.listens_for(Session, "after_rollback")
def _forget_actions(session: Session) -> None:
    session.info.pop(_PENDING, None)
