"""The issuer an instance's tokens name, recorded once (``authserver init`` or the first start).

Every token carries ``iss`` = AUTHSERVER_ISSUER, and every resource service rejects a token whose ``iss`` is not the
issuer it trusts. A command line or server started with another AUTHSERVER_ISSUER than the one recorded would mint
tokens that no service accepts, silently; so whatever mints refuses instead, naming both values, until the setting
is fixed or the issuer is changed on purpose (``authserver init --reset-issuer``, audited).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError

from .config_values import ConfigError
from .domain_events import IssuerChanged, IssuerRecorded
from .emitter import emit
from .extensions import db
from .models import InstanceSetting
from .principals import Principal

ISSUER = "issuer"


class IssuerMismatchError(ConfigError):
    """AUTHSERVER_ISSUER differs from the issuer recorded for this instance's database."""

    code = "issuer_mismatch"


def normalise(issuer: str) -> str:
    """As config.py does: a trailing slash names the same issuer."""
    return issuer.rstrip("/") or issuer


def recorded_issuer() -> str | None:
    row = db.session.get(InstanceSetting, ISSUER)
    return row.value if row is not None else None


def require_issuer(actor: Principal, issuer: str, *, now: datetime) -> str:
    """The issuer to mint with: ``issuer`` when it is the recorded one, recorded now if none is yet (an instance's
    first init, start or minting command). Another one raises IssuerMismatchError. Flushes, never commits."""
    issuer = normalise(issuer)
    row = db.session.get(InstanceSetting, ISSUER)
    if row is None:
        try:
            with db.session.begin_nested():  # another process may record it at the same moment
                db.session.add(InstanceSetting(name=ISSUER, value=issuer, updated_at=now))
        except IntegrityError:
            row = db.session.get(InstanceSetting, ISSUER, populate_existing=True)
        else:
            emit(IssuerRecorded(actor=actor, now=now, issuer=issuer))
            return issuer
    if row is None:  # pragma: no cover (the conflicting row was there a moment ago)
        raise IssuerMismatchError("the recorded issuer could not be read; run the command again")
    if normalise(row.value) != issuer:
        raise IssuerMismatchError(
            f"AUTHSERVER_ISSUER is {issuer} but this instance's tokens name {row.value} (recorded at init): set "
            f"AUTHSERVER_ISSUER={row.value}, or change the issuer on purpose with `authserver init --reset-issuer` "
            "(tokens issued before then stop being accepted by services that trust the new issuer)"
        )
    return issuer


def reset_issuer(actor: Principal, issuer: str, *, now: datetime) -> str | None:
    """Record ``issuer`` in place of the recorded one (audited); returns the previous issuer, None if there was
    none or it was the same. Flushes, never commits."""
    issuer = normalise(issuer)
    row = db.session.get(InstanceSetting, ISSUER)
    if row is None or normalise(row.value) == issuer:
        require_issuer(actor, issuer, now=now)
        return None
    before, row.value, row.updated_at = row.value, issuer, now
    db.session.flush()
    emit(IssuerChanged(actor=actor, now=now, before=before, after=issuer))
    return before
