"""Least-privilege suggestions: the scopes an integration holds that none of its reported calls needed lately.

The evidence is the usage reports of the resource services (``activity/by_service.py``: calls per token, day,
service and the scope each call needed). A suggestion is only made when the evidence can carry it:

- the integration is at least one window old (created ``window_days`` or more ago): a brand-new integration whose
  developer has not built the write path yet is not told to drop it;
- at least one of its calls was reported in the window: with no report at all, the services may simply not run the
  reporting package, and "nothing was used" would tell the admin to drop everything.

Removing a suggested scope is an ordinary narrowing (``integrations.update_integration``): immediate, live tokens
narrowed, events emitted. An integration keeps at least one scope, so its last one is never offered for removal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .activity.by_service import calls_by_day_and_service, scopes_exercised
from .errors import InvalidInputError
from .integrations import get_integration_for, list_tokens, update_integration
from .models import Integration
from .principals import Principal
from .scopes import ALL_SCOPES, CATALOGUE, split_scopes

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 365

READY, TOO_NEW, NO_REPORTS = "ready", "too_new", "no_reports"


@dataclass(frozen=True)
class ScopeSuggestion:
    scope: str
    label: str  # "Contacts: write"
    description: str  # from the scope catalogue: what the scope allows
    removable: bool  # False for the integration's only scope

    def message(self, window_days: int) -> str:
        return f"{self.scope} was never used in {window_days} days"


@dataclass(frozen=True)
class Suggestions:
    integration_id: str
    version: int  # for the narrowing's If-Match
    window_days: int
    since: datetime  # start of the first day of the window (UTC midnight)
    status: str  # READY, TOO_NEW or NO_REPORTS
    reason: str  # why there are (or are no) suggestions, in one sentence
    granted: list[str]
    used: list[str]  # granted scopes some reported call needed in the window
    suggestions: list[ScopeSuggestion]


def suggest_scope_removals(
    principal: Principal, integration_id: str, *, now: datetime, window_days: int = DEFAULT_WINDOW_DAYS
) -> Suggestions:
    """The integration's granted scopes that no reported call needed over the ``window_days`` days ending today
    (UTC, today included), when there is evidence enough (module docstring)."""
    if not isinstance(window_days, int) or isinstance(window_days, bool) or not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise InvalidInputError(f"window must be between 1 and {MAX_WINDOW_DAYS} days", field="window")
    integration = get_integration_for(principal, integration_id)
    granted = sorted(split_scopes(integration.scopes))
    today = now.date()
    first_day = today - timedelta(days=window_days - 1)
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=now.tzinfo)
    jtis = [row.jti for row in list_tokens(principal, integration.id)]
    used = sorted(scopes_exercised(jtis, since=first_day) & set(granted))
    if integration.created_at > now - timedelta(days=window_days):
        status, reason = TOO_NEW, f"The integration is younger than {window_days} days: too new to judge."
    elif not calls_by_day_and_service(jtis, since=first_day, until=today):
        status, reason = NO_REPORTS, f"No service reported a call of this integration in {window_days} days."
    else:
        status, reason = READY, f"From the calls resource services reported over {window_days} days."
    unused = [scope for scope in granted if scope not in used] if status == READY else []
    return Suggestions(
        integration_id=integration.id,
        version=integration.version,
        window_days=window_days,
        since=since,
        status=status,
        reason=reason,
        granted=granted,
        used=used,
        suggestions=[_suggestion(scope, removable=len(granted) > 1) for scope in unused],
    )


def remove_scope(
    principal: Principal, integration_id: str, scope: object, *, now: datetime, expected_version: int | None
) -> Integration:
    """Narrow the integration by one scope, at once (its live tokens lose it too); the caller commits."""
    integration = get_integration_for(principal, integration_id, write=True)
    granted = split_scopes(integration.scopes)
    if not isinstance(scope, str) or scope not in granted:
        shown = scope if isinstance(scope, str) and scope in ALL_SCOPES else "that scope"
        raise InvalidInputError(f"the integration does not hold {shown}", field="scope")
    if granted == {scope}:
        raise InvalidInputError(
            f"{scope} is the integration's only scope; disable or delete the integration instead", field="scope"
        )
    return update_integration(
        principal, integration.id, now=now, expected_version=expected_version, scopes=sorted(granted - {scope})
    )


def serialize(found: Suggestions) -> dict[str, Any]:
    return {
        "integration_id": found.integration_id,
        "version": found.version,
        "window_days": found.window_days,
        "since": found.since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": found.status,
        "reason": found.reason,
        "granted_scopes": found.granted,
        "used_scopes": found.used,
        "suggestions": [
            {
                "scope": item.scope,
                "description": item.description,
                "message": item.message(found.window_days),
                "removable": item.removable,
                "remaining_scopes": [scope for scope in found.granted if scope != item.scope],
            }
            for item in found.suggestions
        ],
    }


def _suggestion(scope: str, *, removable: bool) -> ScopeSuggestion:
    resource, _, access = scope.partition(".")
    label, accesses = CATALOGUE.get(resource, (resource, {}))
    return ScopeSuggestion(scope, f"{label}: {access}", accesses.get(access, ""), removable)
