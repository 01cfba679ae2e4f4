"""Server-side sessions for people signed in to the admin UI.

The browser holds a random session id; the database holds only its SHA-256 digest, so neither a database dump nor a
log line can sign anyone in. Ending a session is a database write, so sign-out and a password change take effect on
the server at once: a copied cookie stops working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select, update

from .extensions import db
from .models import User, UserSession
from .security import secret_digest

LIFETIME = 12 * 3600  # a session ends this long after sign-in, however active
IDLE_TIMEOUT = 2 * 3600  # ... or after this long without a request
TOUCH_INTERVAL = 60  # last_seen_at is written at most once a minute per session, not on every request
KEEP_ENDED = 30 * 86400  # ended sessions are deleted at the owner's next sign-in after this long
MAX_ID_LENGTH = 128
_CSRF_KEY = b"authserver admin UI CSRF v1"


@dataclass(frozen=True)
class StartedSession:
    """A new session: ``session_id`` goes into the cookie and exists nowhere else."""

    session_id: str
    record: UserSession


@dataclass(frozen=True)
class ActiveSession:
    session_id: str
    record: UserSession
    user: User

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.session_id)


def start_session(
    user: User, *, now: datetime, replacing: str | None = None, lifetime: int = LIFETIME
) -> StartedSession:
    """A fresh random id at every sign-in, so an id planted before sign-in (fixation) is worth nothing."""
    if replacing:
        _end(replacing, now)
    _forget_old(user.id, now)
    session_id = secrets.token_urlsafe(32)
    record = UserSession(
        id_digest=secret_digest(session_id),
        user_id=user.id,
        generation=user.session_generation,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=lifetime),
    )
    db.session.add(record)
    db.session.flush()
    return StartedSession(session_id=session_id, record=record)


def find_session(session_id: str | None, *, now: datetime, idle_timeout: int = IDLE_TIMEOUT) -> ActiveSession | None:
    """The live session for a cookie value, or None: unknown, ended, expired, idle too long, or from before the
    user's last password change."""
    if not isinstance(session_id, str) or not session_id or len(session_id) > MAX_ID_LENGTH:
        return None
    record = db.session.get(UserSession, secret_digest(session_id))
    if record is None or not is_live(record, now, idle_timeout):
        return None
    user = db.session.get(User, record.user_id)
    if user is None or user.session_generation != record.generation:
        return None
    if now - record.last_seen_at >= timedelta(seconds=TOUCH_INTERVAL):
        record.last_seen_at = now
        db.session.flush()
    return ActiveSession(session_id=session_id, record=record, user=user)


def is_live(record: UserSession, now: datetime, idle_timeout: int = IDLE_TIMEOUT) -> bool:
    return (
        record.revoked_at is None
        and now < record.expires_at
        and now < record.last_seen_at + timedelta(seconds=idle_timeout)
    )


def end_session(session_id: str | None, *, now: datetime) -> bool:
    """Sign-out: the session ends on the server, whoever else holds a copy of the cookie."""
    ended = _end(session_id, now)
    db.session.flush()
    return ended


def end_all_sessions(user_id: str, *, now: datetime) -> int:
    """Every session of the user ends (password change). Joins the caller's transaction; the caller commits."""
    result = cast(
        CursorResult[Any],
        db.session.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now)
        ),
    )
    return result.rowcount or 0


def csrf_token(session_id: str) -> str:
    """The session's CSRF token: derived from the secret session id, so it needs no storage and no other page or
    site can know it."""
    mac = hmac.new(_CSRF_KEY, session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def is_valid_csrf(session_id: str, presented: object) -> bool:
    if not isinstance(presented, str) or not presented or len(presented) > MAX_ID_LENGTH:
        return False
    return hmac.compare_digest(csrf_token(session_id), presented)


def _end(session_id: str | None, now: datetime) -> bool:
    if not isinstance(session_id, str) or not session_id or len(session_id) > MAX_ID_LENGTH:
        return False
    record = db.session.get(UserSession, secret_digest(session_id))
    if record is None or record.revoked_at is not None:
        return False
    record.revoked_at = now
    return True


def _forget_old(user_id: str, now: datetime) -> None:
    """Rows of sessions that ended long ago carry no information anyone needs."""
    cutoff = now - timedelta(seconds=KEEP_ENDED)
    db.session.execute(
        delete(UserSession).where(
            UserSession.user_id == user_id, or_(UserSession.expires_at < cutoff, UserSession.revoked_at < cutoff)
        )
    )


def live_session_count(user_id: str, now: datetime) -> int:
    """How many browsers are signed in as the user (shown on the password page)."""
    rows = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    )
    return sum(1 for row in rows if is_live(row, now))
