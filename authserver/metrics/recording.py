"""The hooks call sites use, one line each. Each looks its labelled child up in the active set's ``children`` once
and reuses it; the introspection hook, on the hot path, does one dictionary read per answer besides the counting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .registry import STATE, Metrics

INTROSPECT_ENDPOINT = "oauth.introspect"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _child(metrics: Metrics, family: str, *labels: str) -> Any:
    key = (family, *labels)
    child = metrics.children.get(key)
    if child is None:
        child = metrics.children[key] = getattr(metrics, family).labels(*labels)
    return child


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """One answered request. Unknown methods count as "other" and unrouted paths as "unmatched", so a caller
    cannot grow the label space."""
    metrics = STATE.metrics
    method = method if method in _METHODS else "other"
    key = ("request", endpoint, method, status)
    found = metrics.children.get(key)
    if found is None:
        name = endpoint or "unmatched"
        found = metrics.children[key] = (
            metrics.http_requests.labels(name, method, str(status)),
            metrics.http_duration.labels(name, method),
        )
    found[0].inc()
    found[1].observe(seconds)


def observe_introspection(status: int, result: str | None, started: float | None) -> None:
    """One introspection, on either path: counted as a request, timed, and counted by result ("active" or
    "inactive" when answered 200, else "refused" for a 4xx and "error" for a 5xx)."""
    metrics = STATE.metrics
    key = ("introspection", status, result)
    found = metrics.children.get(key)
    if found is None:
        if status != 200:
            result = "error" if status >= 500 else "refused"
        found = metrics.children[key] = (
            metrics.http_requests.labels(INTROSPECT_ENDPOINT, "POST", str(status)),
            metrics.http_duration.labels(INTROSPECT_ENDPOINT, "POST"),
            metrics.introspections.labels(result or "inactive"),
        )
    found[0].inc()
    found[2].inc()
    if started is not None:
        found[1].observe(time.perf_counter() - started)


def count_rate_limit_refusal(limit: str) -> None:
    """``limit``: introspection, revocation, token_generation, signin_account or signin_address."""
    _child(STATE.metrics, "rate_limit_refusals", limit).inc()


@contextmanager
def feed_subscriber() -> Iterator[None]:
    """Around one long poll of the event feed."""
    gauge = STATE.metrics.feed_subscribers
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def observe_feed_lag(seconds: float) -> None:
    STATE.metrics.feed_lag.observe(max(0.0, seconds))


def set_flush_lag(seconds: float) -> None:
    STATE.metrics.flush_lag.set(max(0.0, seconds))


def count_webhook_delivery(outcome: str, reason: str | None = None) -> None:
    """``outcome``: succeeded, retrying, failed (given up) or cancelled; a failed attempt also names its reason."""
    metrics = STATE.metrics
    _child(metrics, "webhook_deliveries", outcome).inc()
    if reason is not None:
        _child(metrics, "webhook_failures", reason).inc()


def count_database_error(kind: str) -> None:
    """``kind``: unavailable, read_only, disk_full or locked."""
    _child(STATE.metrics, "database_errors", kind).inc()


def count_lifecycle_action(action: str) -> None:
    _child(STATE.metrics, "lifecycle", action).inc()
