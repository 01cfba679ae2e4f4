"""Every application metric, and where its values live: this process's memory, or files shared by the workers.

prometheus_client chooses, when a labelled child is first created, whether its value is a float in memory or a slot
in a per-process file of ``PROMETHEUS_MULTIPROC_DIR`` (``prometheus_client.values.ValueClass``). ``authserver serve``
calls ``share_between_workers`` before it forks: the value class becomes the file-backed one and a fresh set of
metrics replaces the in-memory set, so no child created earlier (at import, while preparing) carries over. A scrape
then sums every worker's files, the dead ones' included, so counters never go back. ``authserver run`` keeps the
in-memory set.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values

from ..process_id import current_pid

# Seconds; a request's latency and the feed's delivery lag (a long poll holds up to 25 s).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    """One set of metric families, in ``registry``, and the labelled children looked up so far (``children``: a
    key per call site and label values), so a hot path looks a child up once. A new set starts with no children:
    built after the switch to shared files, it has only file-backed values."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.children: dict[tuple, Any] = {}
        self.http_requests = Counter(
            "authserver_http_requests_total",
            "HTTP requests answered, by endpoint (Flask endpoint name), method and status",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "authserver_http_request_duration_seconds",
            "Time from a request's arrival in the app to its answer, by endpoint and method",
            ["endpoint", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.introspections = Counter(
            "authserver_introspections_total",
            "Introspection answers by result: active, inactive, refused (4xx), error (5xx)",
            ["result"],
            registry=registry,
        )
        self.rate_limit_refusals = Counter(
            "authserver_rate_limit_refusals_total",
            "Requests refused by a rate or sign-in limit, by limit",
            ["limit"],
            registry=registry,
        )
        self.feed_subscribers = Gauge(
            "authserver_feed_subscribers",
            "Event-feed long polls open now (resource services following the feed)",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.feed_lag = Histogram(
            "authserver_feed_delivery_lag_seconds",
            "Age of the oldest event in each feed answer when it was served",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.flush_lag = Gauge(
            "authserver_activity_flush_lag_seconds",
            "Age of the oldest unflushed token use at this process's last flush (the worst live process)",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.webhook_deliveries = Counter(
            "authserver_webhook_deliveries_total",
            "Webhook delivery attempts by outcome: succeeded, retrying, failed (gave up), cancelled",
            ["outcome"],
            registry=registry,
        )
        self.webhook_failures = Counter(
            "authserver_webhook_delivery_failures_total",
            "Failed webhook delivery attempts by reason",
            ["reason"],
            registry=registry,
        )
        self.database_errors = Counter(
            "authserver_database_errors_total",
            "Requests answered 503 because the database failed, by kind",
            ["kind"],
            registry=registry,
        )
        self.lifecycle = Counter(
            "authserver_lifecycle_actions_total",
            "Committed lifecycle actions (from the audit log)",
            ["action"],
            registry=registry,
        )


class _State:
    """The set in use and, once shared between workers, the directory of their files."""

    def __init__(self) -> None:
        self.metrics = Metrics(CollectorRegistry())
        self.directory: Path | None = None


STATE = _State()


def active() -> Metrics:
    return STATE.metrics


def shared_directory() -> Path | None:
    """The workers' files, when this process serves under ``authserver serve``; None for one process."""
    return STATE.directory


def share_between_workers(directory: Path) -> None:
    """Before the fork: values live in ``directory`` from now on, one file per process and kind. The variable is
    set for prometheus_client's own readers and for workers that are spawned rather than forked."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue(process_identifier=current_pid)  # checked on every write
    STATE.metrics = Metrics(CollectorRegistry())
    STATE.directory = directory


def join_workers(directory: Path) -> None:
    """In a worker: a forked one inherited the switch; a spawned one makes it (its parent set the variable)."""
    if STATE.directory != directory:
        share_between_workers(directory)


def prepare_directory(directory: Path) -> None:
    """Create the directory (owner only) or wipe the files a previous run left; refuse one we do not own, or a
    symbolic link, since a shared temporary directory is writable by every local user."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.is_symlink() or directory.stat().st_uid != os.getuid():
        raise PermissionError(f"{directory} is not a directory owned by this user; set AUTHSERVER_METRICS_DIR")
    for stale in directory.glob("*.db"):
        stale.unlink()


_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def forget_dead_workers(directory: Path) -> None:
    """Drop the live gauges of workers that are gone (granian replaced them), so the sums and maxima over live
    workers hold; counters stay, so totals never go back."""
    for path in directory.glob("gauge_live*_*.db"):
        found = _LIVE_FILE.fullmatch(path.name)
        if found is not None and not _is_alive(int(found.group(1))):
            with contextlib.suppress(FileNotFoundError):
                multiprocess.mark_process_dead(int(found.group(1)), str(directory))


def leave_workers() -> None:
    """A worker that stops drops its own live gauges."""
    if STATE.directory is not None:
        multiprocess.mark_process_dead(os.getpid(), str(STATE.directory))


def _is_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process reuses the number: not ours to judge, keep the file
        return True
    return True
