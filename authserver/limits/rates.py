"""Request rate limits: per client on introspection and revocation, per account on token generation.

Each limit is "N per period" and runs GCRA (the generic cell rate algorithm): one number per key, the theoretical
arrival time of the next request. A burst of N goes through, then one request every period/N; a refusal says
exactly how long to wait. Where the number lives is chosen per limit (limits/build.py): Redis when ``REDIS_URL`` is
set; otherwise the database for revocation and token generation, and this process's memory for introspection, the
hot path, whose budget is then split between the worker processes so that an instance never grants more than N.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from ..config import parse_rate
from ..errors import RateLimitedError
from ..hotpath.fair_gate import NOT_GATED, WaitHook
from ..metrics import count_rate_limit_refusal
from ..tokens import IntegrationTokenGenerator

INTROSPECTION, REVOCATION, TOKEN_GENERATION = "introspection", "revocation", "token_generation"
SERVICE_EVENTS = "service_events"  # POST /api/service-events, per publishing client


@dataclass(frozen=True)
class Rate:
    """At most ``count`` requests per ``period`` seconds for one key, in a burst or spread out."""

    count: int
    period: float

    @property
    def interval(self) -> float:
        return self.period / self.count


class RateStore(Protocol):
    def acquire(self, key: str, rate: Rate, now: float, wait: WaitHook = NOT_GATED) -> float:
        """Count one request and return 0, or return the seconds until one may be made (counting nothing). A store
        that goes over the network enters ``wait`` around the round trip (the hot path's gate step-out)."""


class MemoryRateStore:
    """One process's budgets; bounded (least recently used keys go first) so a flood of keys cannot fill memory."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._arrival: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str, rate: Rate, now: float, wait: WaitHook = NOT_GATED) -> float:
        with self._lock:
            stored = self._arrival.get(key, now)
            if stored > now + rate.period:  # only a clock stepped back gets here: don't lock the key out for the step
                stored = now
            arrival = max(stored, now) + rate.interval
            delay = arrival - rate.period - now
            if delay > 0:
                return delay
            self._arrival[key] = arrival
            self._arrival.move_to_end(key)
            if len(self._arrival) > self.max_keys:
                self._arrival.popitem(last=False)
            return 0.0


class RequestLimits:
    """The configured limits, checked by the surfaces: ``retry_after(kind, subject)`` is None or whole seconds.

    ``stores`` names each limit's store; a kind listed in ``per_process`` keeps its budget in process memory, and
    ``share_among(workers)`` gives each worker its share of it. A client's own limit (``own``: "N/period" or "off",
    read with its row on every request) replaces the configured one for that client, shared among workers alike."""

    def __init__(
        self,
        rates: dict[str, Rate | None],
        stores: dict[str, RateStore],
        clock,
        per_process: frozenset[str] = frozenset(),
    ) -> None:
        self.rates, self.stores, self.clock = dict(rates), stores, clock
        self.configured, self.per_process = dict(rates), per_process
        self.workers = 1
        self._own: dict[tuple[str, str], Rate | None] = {}  # a client's own limit, parsed once per text

    def share_among(self, workers: int) -> None:
        """Before the workers fork: each keeps 1/``workers`` of a per-process budget (never below one request per
        period), so the instance as a whole grants at most the configured figure."""
        self.workers = workers
        self._own.clear()
        for kind in self.per_process:
            rate = self.configured.get(kind)
            if rate is not None:
                self.rates[kind] = Rate(max(1, rate.count // workers), rate.period)

    def retry_after(self, kind: str, subject: str, wait: WaitHook = NOT_GATED, own: str | None = None) -> int | None:
        """``wait`` is handed to the store, for a round trip to Redis (the direct path's gate step-out); ``own`` is
        the subject's own limit as stored ("N/period" or "off"), None for the configured one."""
        rate = self.rates.get(kind) if own is None else self._own_rate(kind, own)
        if rate is None:
            return None
        seconds = self.stores[kind].acquire(f"rate:{kind}:{subject}", rate, self.clock.now().timestamp(), wait)
        if seconds <= 0:
            return None
        count_rate_limit_refusal(kind)
        return max(1, math.ceil(seconds))

    def _own_rate(self, kind: str, text: str) -> Rate | None:
        key = (kind, text)
        if key in self._own:
            return self._own[key]
        parsed = parse_rate(text, kind)  # stored only once validated (clients.parse_client_limit)
        found = None if parsed is None else Rate(*parsed)
        if found is not None and kind in self.per_process:
            found = Rate(max(1, found.count // self.workers), found.period)
        if len(self._own) > 1000:  # distinct limits are few; a bound all the same
            self._own.clear()
        self._own[key] = found
        return found

    def check_token_generation(self, account_id: str) -> None:
        wait = self.retry_after(TOKEN_GENERATION, account_id)
        if wait is not None:
            raise RateLimitedError(
                f"too many tokens generated for this account; try again in {wait} seconds", retry_after=wait
            )


class RateLimitedTokenGenerator(IntegrationTokenGenerator):
    """Every surface (API, UI, CLI) mints through the app's generator, so the per-account limit lives here: only a
    token about to be signed counts, never a request the domain refused for another reason."""

    def __init__(self, issuer: str, audience: str, keystore, limits: RequestLimits) -> None:
        super().__init__(issuer, audience, keystore)
        self.limits = limits

    def mint(self, *, account_id: str, **kwargs) -> tuple[str, str]:
        self.limits.check_token_generation(account_id)
        return super().mint(account_id=account_id, **kwargs)
