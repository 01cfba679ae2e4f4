"""What resource services need beyond RFC 7662: the token event feed (fast revocation) and usage reports.

Both are for registered resource-service clients, authenticated exactly like introspection. The views are routed
in views.py, with the rest of the protocol surface.
"""

from __future__ import annotations

import time

from flask import jsonify, request

from .. import events, metrics
from ..activity.by_service import record_calls
from ..database import INTEGER_MAX
from ..errors import InvalidInputError
from ..extensions import db
from ..services import services
from ..tokens import load_states
from ..unit_of_work import unit_of_work
from .resource_service import authenticate_resource_service
from .usage_reports import parse_uses

MAX_WAIT_SECONDS = 25.0
MAX_USAGE_ITEMS = 5000


def _int_arg(name: str, default: float, *, upper: float) -> float:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInputError(f"{name} must be a number", field=name) from None
    if not 0 <= value <= upper:
        raise InvalidInputError(f"{name} must be between 0 and {upper:g}", field=name)
    return value


def token_events():
    """Long poll: events after ``after`` (a cursor), waiting up to ``wait`` seconds for the first one."""
    client, error = authenticate_resource_service()
    if error is not None:
        return error
    cursor = int(_int_arg("after", 0, upper=INTEGER_MAX))  # event ids are INTEGER
    wait = _int_arg("wait", 0, upper=MAX_WAIT_SECONDS)
    if events.is_cursor_expired(cursor):  # older than AUTHSERVER_RETAIN_EVENTS: what it missed is gone
        response = jsonify(
            error="cursor_expired",
            error_description="events after this cursor were pruned; take a new snapshot (/oauth/events/snapshot)",
        )
        response.status_code = 410
        response.headers["Cache-Control"] = "no-store"
        return response
    deadline = time.monotonic() + wait
    bus = services().bus
    with metrics.feed_subscriber():
        while True:
            found = events.events_after(cursor, account_id=client.account_id)
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                break
            db.session.rollback()  # end the read transaction so the next poll sees new commits
            bus.wait(min(bus.poll_interval, remaining))
    if found:  # how late the oldest event reaches this service
        metrics.observe_feed_lag((services().clock.now() - found[0].occurred_at).total_seconds())
    next_cursor = found[-1].id if found else max(cursor, events.latest_cursor())
    response = jsonify(events=[events.serialize(e) for e in found], cursor=next_cursor)
    response.headers["Cache-Control"] = "no-store"
    return response


def token_snapshot():
    client, error = authenticate_resource_service()
    if error is not None:
        return error
    # "account_id": the one account this client sees (null: all). A service validating locally must refuse other
    # accounts' tokens, since it never hears of their revocations.
    body = events.snapshot(services().clock.now(), account_id=client.account_id)
    response = jsonify(body | {"account_id": client.account_id})
    response.headers["Cache-Control"] = "no-store"
    return response


def report_usage():
    """Batched usage from resource services: ``{"uses": [{"jti", "count", "last_used_at", "scopes",
    "introspected"}]}`` (usage_reports.py). Calls this server has not counted yet go into the same buffer as
    introspection's, so activity and inactivity expiry see them; calls per service and scope are written now."""
    client, error = authenticate_resource_service()
    if error is not None:
        return error
    body = request.get_json(silent=True)
    uses = body.get("uses") if isinstance(body, dict) else None
    if not isinstance(uses, list) or len(uses) > MAX_USAGE_ITEMS:
        raise InvalidInputError(f'body must be {{"uses": [...]}} with at most {MAX_USAGE_ITEMS} items')
    app_services = services()
    now = app_services.clock.now()
    parsed = parse_uses(uses, now)  # the shape and the counting rule: usage_reports.py
    # Only uses of tokens live right now count: a late report must not bring an idle-expired token back to life.
    recent = app_services.activity.recent_use if app_services.activity is not None else (lambda jti: None)
    with unit_of_work():  # the request's one transaction: the liveness read and the per-service counts
        known = {
            jti
            for jti, state in load_states([use.jti for use in parsed]).items()
            if (client.account_id is None or state.account_id == client.account_id) and state.is_live(now, recent(jti))
        }
        record_calls(client.client_id, [(use.jti, use.used_at, use.scopes) for use in parsed if use.jti in known])
    accepted = 0
    if app_services.activity is not None:
        for use in parsed:
            if use.jti in known:
                app_services.activity.record(use.jti, client.client_id, use.used_at, use.unseen_calls)
                accepted += 1
    return jsonify(accepted=accepted), 202
