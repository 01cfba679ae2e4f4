"""After a commit that wrote token events, publish on the app's event bus: the feed's long polls answer at once.

Listens on every SQLAlchemy session: only a commit whose flushes added ``TokenEvent`` rows publishes, and a
rollback forgets them. ``create_app`` installs the listeners (once per process, however many apps it builds).
"""

from __future__ import annotations

from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from .models import TokenEvent
from .services import services

_PENDING = "token_events_pending"


def _note_token_events(session: Session, flush_context) -> None:
    if any(isinstance(obj, TokenEvent) for obj in session.new):
        session.info[_PENDING] = True


def _publish_token_events(session: Session) -> None:
    if session.info.pop(_PENDING, False) and has_app_context():
        services().bus.publish()


def _drop_token_events(session: Session) -> None:
    session.info.pop(_PENDING, None)


_LISTENERS = (
    ("after_flush", _note_token_events),
    ("after_commit", _publish_token_events),
    ("after_rollback", _drop_token_events),
)


def install_feed_wakeups() -> None:
    for name, listener in _LISTENERS:
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
