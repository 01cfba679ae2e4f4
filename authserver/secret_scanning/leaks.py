"""The domain verb: judge each found token and revoke ours at once.

A found token is ours (``true_positive``) when it verifies as one of our JWTs (``TokenVerifier``: our keys, our
issuer) and its ``jti`` has a record signed by the key its header names; anything else, another issuer's JWT,
garbage or a well-formed token we hold no record of, is ``false_positive``. One of ours that still could work
(not revoked, not past its end; a disabled integration's token counts, since enabling would bring it back) is
revoked with reason "leaked" (a conditional write: of concurrent copies of an alert exactly one revokes) and a
``TokenLeaked`` event: the feed row, the audit entry, the webhook. One already dead is only recorded (the same
event, ``revoked`` false), once per place it was found. The caller's unit of work commits every entry of an alert
together; the admins' mail goes after the commit (``notices``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from .. import domain_events as de
from ..emitter import emit
from ..errors import ConflictError
from ..extensions import db
from ..integrations import token_state
from ..models import AccessToken, AuditEvent, Integration
from ..principals import Principal
from ..tokens import TokenVerifier
from .alerts import FoundToken

Label = Literal["true_positive", "false_positive"]
LEAKED = "leaked"  # the revocation reason (TokenState.status: "revoked")
_DEAD_STATUSES = frozenset({"revoked", "rotated", "expired", "expired_inactive"})


@dataclass(frozen=True)
class Verdict:
    """GitHub's answer for one entry, and what it did."""

    found: FoundToken
    label: Label
    revoked: AccessToken | None = None  # the token this entry revoked, for the admins' mail

    def as_response(self) -> dict[str, str]:
        return {"token_raw": self.found.token, "token_type": self.found.type, "label": self.label}


def report_leaks(
    principal: Principal, found: list[FoundToken], *, verifier: TokenVerifier, now: datetime
) -> list[Verdict]:
    """One verdict per entry, in order. Adds rows; never commits. A concurrent change to one of the integrations
    is a ConflictError (the caller rolls back and tries again: everything here is idempotent)."""
    try:
        verdicts = [_judge(principal, item, verifier, now) for item in found]
        db.session.flush()  # also done by the queries of later entries (autoflush): the conflict may surface there
    except StaleDataError:
        raise ConflictError("an integration changed while its leaked token was being revoked") from None
    return verdicts


def _judge(principal: Principal, item: FoundToken, verifier: TokenVerifier, now: datetime) -> Verdict:
    row = _our_token(item.token, verifier)
    if row is None:
        return Verdict(item, "false_positive")
    if token_state(row).status(now) in _DEAD_STATUSES or not _claim_revocation(row, now):
        if not _is_recorded(row, item):
            _emit(principal, row, item, now, revoked=False)
        return Verdict(item, "true_positive")
    integration = db.session.get_one(Integration, row.integration_id)
    integration.updated_at = now  # bumps the version: a rotation racing this one conflicts instead of overwriting
    flag_modified(integration, "updated_at")
    _emit(principal, row, item, now, revoked=True)
    return Verdict(item, "true_positive", revoked=row)


def _claim_revocation(row: AccessToken, now: datetime) -> bool:
    """Revoke the token only if nobody has yet: one conditional write, so of concurrent copies of an alert exactly
    one revokes (the others wait on its row lock, or SQLite's write lock, and then match nothing). The row object
    is refreshed either way, so the caller sees who won."""
    done = cast(
        CursorResult[Any],
        db.session.execute(
            update(AccessToken)
            .where(AccessToken.jti == row.jti, AccessToken.revoked_at.is_(None))
            .values(revoked_at=now, revocation_reason=LEAKED)
            .execution_options(synchronize_session=False)
        ),
    )
    db.session.refresh(row)
    return bool(done.rowcount)


def _our_token(token: str, verifier: TokenVerifier) -> AccessToken | None:
    """The record of a token we issued, or None. Signature, issuer, audience and claims by the verifier; the record
    by ``jti``, and only if the header's key is the one recorded at issue (TokenState.is_signed_by)."""
    if not token.isascii():
        return None  # a compact JWS is base64url and dots
    claims = verifier.verify(token)
    if claims is None:
        return None
    row = db.session.get(AccessToken, claims.jti)
    if row is None or row.kid != claims.kid or row.integration_id != claims.sub:
        return None
    return row


def _is_recorded(row: AccessToken, item: FoundToken) -> bool:
    """Whether this very report (token, place, source) is on the trail already: a scanner's retry adds nothing."""
    entries = db.session.scalars(
        select(AuditEvent.after).where(
            AuditEvent.target_type == "integration",
            AuditEvent.target_id == row.integration_id,
            AuditEvent.action == de.TokenLeaked.AUDIT,
        )
    )
    return any(
        isinstance(after, dict)
        and after.get("token") == row.jti
        and after.get("url") == item.url
        and after.get("source") == item.source
        for after in entries
    )


def _emit(principal: Principal, row: AccessToken, item: FoundToken, now: datetime, *, revoked: bool) -> None:
    emit(
        de.TokenLeaked(
            actor=principal, now=now, token=row, revoked=revoked, url=item.url, source=item.source, token_type=item.type
        )
    )
