"""What a validated token grants, however it was validated: who (account, integration), what (scopes), until when.

Views only ever see a ``Grant``; the raw token string never leaves the validators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Grant:
    jti: str
    account_id: str
    integration_id: str
    client_id: str
    scopes: frozenset[str]
    exp: float  # the earliest known end (JWT exp, or a scheduled end such as a grace deadline), epoch seconds
    jkt: str | None = None  # RFC 9449 cnf.jkt: the token is bound to this key and needs a DPoP proof; None = bearer

    # authlib's token contract (TokenMixin) as used by BearerTokenValidator
    def get_scope(self) -> str:
        return " ".join(sorted(self.scopes))

    def is_expired(self) -> bool:  # judged by the validators against their clock before a Grant is handed out
        return False

    def is_revoked(self) -> bool:
        return False

    def is_live_at(self, now: float) -> bool:
        return now < self.exp


class Judgement(NamedTuple):
    """A validator's verdict: the grant (None: refused), and whether this very call was answered by an
    introspection (the authorization server has then already counted it as a use; usage reports say so)."""

    grant: Grant | None
    introspected: bool = False
