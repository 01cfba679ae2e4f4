"""An integration's reported API calls as CSV, and its least-privilege suggestions. Narrowing itself goes through
``PATCH /api/integrations/{id}`` like any other scope change."""

from __future__ import annotations

from flask import Response, jsonify, request

from .. import scope_suggestions
from ..activity.calls import integration_calls, to_csv
from ..errors import InvalidInputError
from ..services import services
from .auth import current_principal
from .blueprint import bp

MAX_DAYS = 400  # per-day counts are kept this long (activity.RETENTION_DAYS)


def days_param(default: int, *, upper: int) -> int:
    raw = request.args.get("days", str(default))
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4 or not 1 <= int(raw) <= upper:
        raise InvalidInputError(f"days must be a whole number between 1 and {upper}", field="days")
    return int(raw)


def csv_response(text: str, filename: str) -> Response:
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def activity_filename(integration_id: str, since, until) -> str:
    return f"activity-{integration_id}-{since.isoformat()}-to-{until.isoformat()}.csv"


@bp.get("/integrations/<integration_id>/activity.csv")
def activity_csv(integration_id):
    """Reported API calls per day and service (date, service, service_id, calls, scopes_used)."""
    principal, days = current_principal(), days_param(30, upper=MAX_DAYS)
    found = integration_calls(principal, integration_id, today=services().clock.now().date(), days=days)
    return csv_response(to_csv(found), activity_filename(found.integration_id, found.since, found.until))


@bp.get("/integrations/<integration_id>/suggestions")
def suggestions(integration_id):
    principal = current_principal()
    days = days_param(scope_suggestions.DEFAULT_WINDOW_DAYS, upper=scope_suggestions.MAX_WINDOW_DAYS)
    found = scope_suggestions.suggest_scope_removals(
        principal, integration_id, now=services().clock.now(), window_days=days
    )
    return jsonify(scope_suggestions.serialize(found))
