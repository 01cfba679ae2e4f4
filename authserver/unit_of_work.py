"""The caller's transaction: a request or a command opens one unit of work, domain verbs only flush.

Like a Django view or a hydra handler, the surface decides where a transaction begins and ends, so a command that
chains several verbs (the v1 migration, say) commits all of them or none. Domain code never calls ``commit``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from .extensions import db

_OPEN = "authserver.unit_of_work"
_AFTER_ROLLBACK = "authserver.unit_of_work.after_rollback"


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Commit what the block did, or roll all of it back if it raises. A nested block joins the outer one: only the
    outermost commits, so verbs and helpers can open one without knowing whether their caller already did."""
    session = db.session()
    if session.info.get(_OPEN):
        yield session
        return
    session.info[_OPEN] = True
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        session.info.pop(_OPEN, None)
        for callback in session.info.pop(_AFTER_ROLLBACK, []):
            with unit_of_work():
                callback()
        raise
    finally:
        session.info.pop(_OPEN, None)
        session.info.pop(_AFTER_ROLLBACK, None)


def on_rollback(callback: Callable[[], None]) -> None:
    """Run ``callback`` in a unit of work of its own if the current one rolls back: a refusal's audit row must
    outlive the refused action (emitter.emit_refusal)."""
    db.session().info.setdefault(_AFTER_ROLLBACK, []).append(callback)


def in_unit_of_work() -> bool:
    """True inside a ``unit_of_work`` block: code that must not run half-committed can assert it."""
    return bool(db.session().info.get(_OPEN))
