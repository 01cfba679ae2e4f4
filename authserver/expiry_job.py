"""The expiry scan: every ``AUTHSERVER_EXPIRY_SCAN_INTERVAL`` each serving process writes down what time did.

Tokens idle past their window are expired (``integrations.expire_inactive``: audit row, feed, ``token.expired``)
and grace periods that ran out are recorded (``integrations.record_grace_ends``), so neither waits for an
operator's cron (``authserver token expire-inactive`` still does the same). Processes take turns: each pass holds
a database-wide lock for its transaction (a PostgreSQL advisory lock; SQLite's write lock, taken before reading),
so a second process scanning at the same moment finds the first one's work done and emits nothing twice.
"""

from __future__ import annotations

import hashlib
import logging

from flask import Flask
from sqlalchemy import text

from .extensions import db
from .integrations import expire_inactive, record_grace_ends
from .periodic_job import PeriodicJob
from .principals import SYSTEM
from .services import services
from .unit_of_work import unit_of_work

log = logging.getLogger("authserver.expiry")

LOCK_KEY = int.from_bytes(hashlib.sha256(b"authserver.expiry_scan").digest()[:8], "big", signed=True)
"""The advisory lock's key, derived from a name (as migration_lock.LOCK_KEY) so every process contends for it."""


class ExpiryJob(PeriodicJob):
    name = "expiry scan"
    log = log

    def __init__(self, app: Flask) -> None:
        super().__init__(app, app.config["AUTHSERVER_EXPIRY_SCAN_INTERVAL"])

    def work(self) -> tuple[list[str], list[str]] | None:
        """One pass; returns (tokens expired, grace ends recorded), or None if another process holds the turn."""
        found = services(self.app)
        with unit_of_work():
            if not _take_turn():
                return None
            now = found.clock.now()
            recent_use = found.activity.recent_use if found.activity is not None else None
            expired = expire_inactive(SYSTEM, now=now, recent_use=recent_use)
            graces = record_grace_ends(SYSTEM, now=now)
        if expired or graces:
            log.info("expiry scan: %d idle token(s) expired, %d grace end(s) recorded", len(expired), len(graces))
        return expired, graces


def _take_turn() -> bool:
    """Hold the scan lock until this transaction ends. PostgreSQL: try the advisory lock (False: another process
    is scanning now). SQLite: a write that matches nothing takes the database's write lock before anything is
    read, so a concurrent pass waits (busy timeout) and then reads what this one committed."""
    if db.engine.dialect.name == "postgresql":
        return bool(db.session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}).scalar())
    db.session.execute(text("UPDATE access_tokens SET jti = jti WHERE 0 = 1"))
    return True
