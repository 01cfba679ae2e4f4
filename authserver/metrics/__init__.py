"""Prometheus metrics (the list, with what to alert on: docs/metrics.md).

registry.py   every metric family; in-memory for one process, files shared by the workers under ``serve``
recording.py  the one-line hooks the call sites use (children looked up once, not per request)
lifecycle.py  authserver_lifecycle_actions_total, a projector of the domain events, counted at commit
http.py       GET /metrics (sums the workers) and the hooks that time every Flask request; imported by create_app
              only, since it reads the services

This ``__init__`` re-exports the hooks and the projector; it does not import http.py, so the domain modules that
count (limits, activity, webhooks) can import it without a cycle.
"""

from .lifecycle import project
from .recording import (
    count_database_error,
    count_lifecycle_action,
    count_rate_limit_refusal,
    count_webhook_delivery,
    feed_subscriber,
    observe_feed_lag,
    observe_introspection,
    observe_request,
    set_flush_lag,
)
from .registry import (
    active,
    forget_dead_workers,
    join_workers,
    leave_workers,
    prepare_directory,
    share_between_workers,
    shared_directory,
)

__all__ = [
    "active",
    "count_database_error",
    "count_lifecycle_action",
    "count_rate_limit_refusal",
    "count_webhook_delivery",
    "feed_subscriber",
    "forget_dead_workers",
    "join_workers",
    "leave_workers",
    "observe_feed_lag",
    "observe_introspection",
    "observe_request",
    "prepare_directory",
    "project",
    "set_flush_lag",
    "share_between_workers",
    "shared_directory",
]
