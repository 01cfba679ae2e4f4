"""Local mode: token use is reported to the authorization server in batches (``POST /oauth/usage``).

Without this, an integration validated only locally would look idle to the authorization server: no "last used"
in the admin UI, and the inactivity auto-expiry would end tokens that are in fact busy. Counts are kept per
``jti`` in memory and sent every ``interval`` seconds; a failed report is merged back and retried.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from .authserver_client import AuthServerClient, UnavailableError
from .background import BackgroundLoop

log = logging.getLogger("resource_demo")

MAX_BATCH = 5000  # the authorization server's limit per report


class UsageReporter(BackgroundLoop):
    name = "resource_demo-usage"

    def __init__(self, link: AuthServerClient, *, interval: float, max_pending: int = 100_000) -> None:
        super().__init__()
        self.link = link
        self.interval = interval
        self.max_pending = max_pending
        self.reported = 0
        self._pending: dict[str, tuple[int, float]] = {}  # jti -> (count, last used, epoch seconds)
        self._lock = threading.Lock()

    def record(self, jti: str, now: float, count: int = 1) -> None:
        with self._lock:
            previous = self._pending.get(jti)
            if previous is None:
                if len(self._pending) >= self.max_pending:
                    return  # the authorization server is unreachable for long; drop rather than grow forever
                self._pending[jti] = (count, now)
            else:
                self._pending[jti] = (previous[0] + count, max(previous[1], now))

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        items = list(pending.items())
        for start in range(0, len(items), MAX_BATCH):
            batch = items[start:start + MAX_BATCH]
            try:
                self.link.report_usage([{"jti": jti, "count": count, "last_used_at": _iso(last)}
                                        for jti, (count, last) in batch])
                self.reported += sum(count for _, (count, _) in batch)
            except UnavailableError as exc:
                log.warning("usage report failed (%s); will retry", exc)
                for jti, (count, last) in items[start:]:
                    self.record(jti, last, count)
                return

    def run(self) -> None:
        while not self.sleep(self.interval):
            self.flush()

    def stopped(self) -> None:
        self.flush()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
