"""Local mode's view of what a JWT cannot say about itself: revoked tokens, scheduled ends, integration changes.

Built from the feed's snapshot, then kept current by its events. A token is live only if it is not revoked, not
past a scheduled end (grace deadline) on this service's clock, and its integration is active; its scopes are the
token's narrowed by the integration's current ones. An integration this service has never heard of was created
after the snapshot and never changed since (creation emits no event, every change does): its tokens carry its
scopes as they are. A service whose client is bound to one account hears only of that account's revocations, so
it refuses every other account's token. A revoked signing key (``key.revoked``, or the snapshot's ``revoked_keys``)
refuses every token it signed, whatever JWKS is cached.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class IntegrationState:
    account_id: str | None
    scopes: frozenset[str]
    status: str


class RevocationState:
    def __init__(self) -> None:
        self._revoked: dict[str, float] = {}  # jti -> exp (kept until then, after which exp refuses it anyway)
        self._ends_at: dict[str, tuple[float, float]] = {}  # jti -> (ends_at, exp)
        self._integrations: dict[str, IntegrationState] = {}
        self._revoked_keys: frozenset[str] = frozenset()
        self._bound_account: str | None = None  # the snapshot's account_id: the only account we hear of
        self._lock = threading.Lock()

    # -- the verdict ------------------------------------------------------------------------------------
    def live_scopes(
        self,
        *,
        jti: str,
        integration_id: str,
        account_id: str,
        token_scopes: frozenset[str],
        now: float,
        kid: str | None = None,
    ) -> tuple[frozenset[str], float] | None:
        """(effective scopes, effective end) for a live token, or None if it must be refused."""
        if self._bound_account is not None and account_id != self._bound_account:
            return None
        if kid in self._revoked_keys:
            return None
        if jti in self._revoked:
            return None
        end = self._ends_at.get(jti)
        deadline = float("inf") if end is None else end[0]
        if now >= deadline:
            return None
        integration = self._integrations.get(integration_id)
        if integration is None:
            return token_scopes, deadline
        if integration.status != "active":
            return None
        scopes = token_scopes & integration.scopes
        return (scopes, deadline) if scopes else None

    def scheduled_end(self, jti: str) -> float | None:
        """The token's scheduled end (grace deadline) if one is known, epoch seconds."""
        end = self._ends_at.get(jti)
        return None if end is None else end[0]

    # -- what the feed calls ----------------------------------------------------------------------------
    def load_snapshot(self, snapshot: dict) -> None:
        revoked = {item["jti"]: float(item["exp"]) for item in snapshot.get("revoked", [])}
        ending = {item["jti"]: (float(item["ends_at"]), float(item["exp"])) for item in snapshot.get("ending", [])}
        integrations = {item["integration_id"]: _integration(item) for item in snapshot.get("integrations", [])}
        bound = snapshot.get("account_id")
        revoked_keys = frozenset(str(kid) for kid in snapshot.get("revoked_keys") or ())
        with self._lock:
            self._revoked, self._ends_at, self._integrations = revoked, ending, integrations
            self._revoked_keys = revoked_keys
            self._bound_account = bound if isinstance(bound, str) and bound else None

    def token_revoked(self, jti: str, exp: float) -> None:
        with self._lock:
            self._revoked[jti] = exp
            self._ends_at.pop(jti, None)

    def token_ends(self, jti: str, ends_at: float | None, exp: float) -> None:
        with self._lock:
            if ends_at is None:
                self._ends_at.pop(jti, None)
            else:
                self._ends_at[jti] = (ends_at, exp)

    def key_revoked(self, kid: str) -> None:
        with self._lock:
            self._revoked_keys = self._revoked_keys | {kid}

    def integration_changed(self, item: dict) -> None:
        with self._lock:
            self._integrations[item["integration_id"]] = _integration(item)

    def prune(self, now: float) -> None:
        """Forget tokens past their exp: the signature check refuses them on its own from then on."""
        with self._lock:
            self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp > now}
            self._ends_at = {jti: end for jti, end in self._ends_at.items() if end[1] > now}

    def counts(self) -> dict:
        return {
            "revoked": len(self._revoked),
            "ending": len(self._ends_at),
            "integrations": len(self._integrations),
            "revoked_keys": len(self._revoked_keys),
        }


def _integration(item: dict) -> IntegrationState:
    return IntegrationState(
        account_id=item.get("account_id"),
        scopes=frozenset(item.get("scopes") or ()),
        status=str(item.get("status", "active")),
    )
