"""The shape of a usage report (``POST /oauth/usage``), read at the edge into plain values.

``{"uses": [{"jti", "count", "last_used_at", "scopes", "introspected"}]}``, each field but ``jti`` optional:
``count`` is the calls the service served with the token (default 1); ``scopes`` splits them by the scope each
needed (``""``: a valid token was enough), summing to ``count``; ``introspected`` is how many of them were answered
by an introspection of that very call, which this server already counted as a use. So a token's uses grow by
``count - introspected`` and each API call is counted once in every mode (before the package reported, 8 calls
through a service in introspection mode showed as its 4 introspections).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..durations import parse_instant
from ..errors import InvalidInputError

MAX_COUNT = 10**9
MAX_SCOPES_PER_USE = 50
_SCOPE = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]{0,100}")  # RFC 6749 section 3.3 scope-token, or "" (no scope)


@dataclass(frozen=True)
class ReportedUse:
    jti: str
    count: int
    used_at: datetime
    scopes: dict[str, int]  # empty: the service did not say
    introspected: int = 0

    @property
    def unseen_calls(self) -> int:
        """Calls this server has not counted yet (the rest were its own introspections)."""
        return self.count - self.introspected


def parse_uses(uses: list, now: datetime) -> list[ReportedUse]:
    return [parse_use(item, now) for item in uses]


def parse_use(item: object, now: datetime) -> ReportedUse:
    if not isinstance(item, dict) or not isinstance(item.get("jti"), str) or len(item["jti"]) > 64:
        raise InvalidInputError("each use needs a jti")
    count = item.get("count", 1)
    if not _is_count(count) or count < 1:
        raise InvalidInputError("count must be a positive integer")
    used_at = parse_instant(item["last_used_at"], field="last_used_at") if item.get("last_used_at") else now
    scopes = item.get("scopes", {})
    if (
        not isinstance(scopes, dict)
        or len(scopes) > MAX_SCOPES_PER_USE
        or not all(
            isinstance(scope, str) and _SCOPE.fullmatch(scope) and _is_count(n) and n >= 1
            for scope, n in scopes.items()
        )
    ):
        raise InvalidInputError("scopes must map scope names to positive call counts", field="scopes")
    if scopes and sum(scopes.values()) != count:
        raise InvalidInputError("scopes must split the use's count exactly", field="scopes")
    introspected = item.get("introspected", 0)
    if not _is_count(introspected) or introspected > count:
        raise InvalidInputError("introspected must be an integer between 0 and count", field="introspected")
    return ReportedUse(item["jti"], count, min(used_at, now), dict(scopes), introspected)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT
