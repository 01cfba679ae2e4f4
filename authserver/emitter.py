"""``emit``: the one way the domain says something happened. The projectors run at once, in the caller's
transaction, so a change, its feed rows, its webhooks, its audit row and its metrics commit together or not at all.

    verb -- emit(TokenRotated(...)) --> events.project     (feed)
                                        outbox.project     (webhooks)
                                        audit.project      (audit trail)
                                        metrics.project    (counted at commit)
"""

from __future__ import annotations

from . import audit, events, metrics
from .domain_events import DomainEvent, Refusal
from .unit_of_work import in_unit_of_work, on_rollback, unit_of_work
from .webhooks import outbox

_PROJECTORS = (events.project, outbox.project, audit.project, metrics.project)


def emit(event: DomainEvent) -> None:
    """Project ``event`` onto every channel its class declares (domain_events). Adds rows; never commits."""
    for project in _PROJECTORS:
        project(event)


def emit_refusal(event: Refusal) -> None:
    """A refusal is recorded even though the refused action rolls back: in the caller's unit of work (kept if it
    commits anyway), and again in a unit of work of its own if that one rolls back. Outside any unit of work it
    is recorded and committed at once."""
    if not in_unit_of_work():
        with unit_of_work():
            emit(event)
        return
    emit(event)
    on_rollback(lambda: emit(event))
