"""Usage reports: how often each token was used and which scopes its calls needed, sent to the authorization
server in batches (``POST /oauth/usage``), authenticated as this service, in both modes.

Without this, an integration validated locally would look idle (no "last used", and inactivity expiry would end
busy tokens), and in introspection mode the server would count introspections, not calls (answers served from the
cache are calls it never sees). Each item says::

    {"jti": ..., "count": calls, "last_used_at": ..., "scopes": {"contacts.readonly": 2, "": 1}, "introspected": k}

``count`` is every call this service served with the token; ``scopes`` splits those calls by the scope each needed
(``""``: a valid token was all it needed); ``introspected`` is how many of them were answered by an introspection of
that very call, which the server already counted, so it adds ``count - introspected`` and counts each call once.
Counts are kept per ``jti`` in memory and sent every ``interval`` seconds; a failed report is merged back.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .authserver_client import AuthServerClient, UnavailableError
from .background import BackgroundLoop

log = logging.getLogger("authserver_resource")

MAX_BATCH = 5000  # the authorization server's limit per report


@dataclass
class _Uses:
    count: int = 0
    last: float = 0.0  # epoch seconds
    introspected: int = 0
    scopes: dict[str, int] = field(default_factory=dict)

    def add(self, other: _Uses) -> None:
        self.count += other.count
        self.last = max(self.last, other.last)
        self.introspected += other.introspected
        for scope, count in other.scopes.items():
            self.scopes[scope] = self.scopes.get(scope, 0) + count


class UsageReporter(BackgroundLoop):
    name = "authserver-resource-usage"

    def __init__(self, link: AuthServerClient, *, interval: float, max_pending: int = 100_000) -> None:
        super().__init__()
        self.link = link
        self.interval = interval
        self.max_pending = max_pending
        self.reported = 0
        self._pending: dict[str, _Uses] = {}
        self._lock = threading.Lock()

    def record(self, jti: str, now: float, *, scope: str | None = None, introspected: bool = False) -> None:
        """One served call with the token ``jti`` that needed ``scope`` (None: no particular scope). Counted in
        place when the token already has pending uses (every warm call does): no record built per call."""
        scope = scope or ""
        with self._lock:
            pending = self._pending.get(jti)
            if pending is not None:
                pending.count += 1
                pending.last = max(pending.last, now)
                pending.introspected += introspected
                pending.scopes[scope] = pending.scopes.get(scope, 0) + 1
                return
        self._merge(jti, _Uses(1, now, int(introspected), {scope: 1}))

    def _merge(self, jti: str, uses: _Uses) -> None:
        with self._lock:
            pending = self._pending.get(jti)
            if pending is None:
                if len(self._pending) >= self.max_pending:
                    return  # the authorization server is unreachable for long; drop rather than grow forever
                self._pending[jti] = uses
            else:
                pending.add(uses)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        items = list(pending.items())
        for start in range(0, len(items), MAX_BATCH):
            batch = items[start : start + MAX_BATCH]
            try:
                self.link.report_usage(
                    [
                        {
                            "jti": jti,
                            "count": uses.count,
                            "last_used_at": _iso(uses.last),
                            "scopes": uses.scopes,
                            "introspected": uses.introspected,
                        }
                        for jti, uses in batch
                    ]
                )
                self.reported += sum(uses.count for _, uses in batch)
            except UnavailableError as exc:
                log.warning("usage report failed (%s); will retry", exc)
                for jti, uses in items[start:]:
                    self._merge(jti, uses)
                return

    def run(self) -> None:
        while not self.sleep(self.interval):
            self.flush()

    def stopped(self) -> None:
        self.flush()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
