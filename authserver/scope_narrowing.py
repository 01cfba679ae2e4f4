"""Narrowing is for good: an integration's narrowed scopes are taken from its tokens too, so a later widening of
the integration (or of its account's ceiling) never hands a live token back what was taken away."""

from __future__ import annotations

from sqlalchemy import select

from .extensions import db
from .models import AccessToken


def narrow_token_scopes(integration_id: str, scopes: frozenset[str]) -> None:
    """Narrow the integration's unrevoked tokens to ``scopes`` (widening needs a new token). Flushes nothing."""
    rows = db.session.scalars(
        select(AccessToken).where(AccessToken.integration_id == integration_id, AccessToken.revoked_at.is_(None))
    )
    for row in rows:
        kept = frozenset(row.scopes.split()) & scopes
        if kept != frozenset(row.scopes.split()):
            row.scopes = " ".join(sorted(kept))
