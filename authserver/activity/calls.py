"""An integration's API calls per day and per resource service, as the services reported them, and their CSV.

"Requests" on the integration's page and in its export are calls from usage reports (``POST /oauth/usage``), which
the resource-side package sends in every validation mode. Introspections are left out: one is a check a service
makes (cached answers make fewer checks than calls; a probe makes a check and no call), not a call the integration
made. Any use, introspection included, still moves "last used" and keeps the token from expiring as inactive.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from ..extensions import db
from ..integrations import get_integration_for, list_tokens
from ..models import ApiClient
from ..principals import Principal
from .by_service import NO_SCOPE, ServiceDay, calls_by_day_and_service

CSV_COLUMNS = ["date", "service", "service_id", "calls", "scopes_used"]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would read as a formula


@dataclass(frozen=True)
class ServiceTotal:
    service_id: str
    name: str
    calls: int
    scopes: list[str]  # the scopes its calls needed, sorted
    last_day: date


@dataclass(frozen=True)
class CallActivity:
    integration_id: str
    since: date
    until: date
    days: list[ServiceDay]  # oldest first, then by service
    services: list[ServiceTotal]  # busiest first

    @property
    def total(self) -> int:
        return sum(row.calls for row in self.days)

    def per_day(self) -> dict[date, int]:
        """Calls per day over the whole period, zero-filled."""
        totals = {self.since + timedelta(days=n): 0 for n in range((self.until - self.since).days + 1)}
        for row in self.days:
            totals[row.day] += row.calls
        return totals

    def name_of(self, service_id: str) -> str:
        return next((s.name for s in self.services if s.service_id == service_id), service_id)


def integration_calls(principal: Principal, integration_id: str, *, today: date, days: int = 30) -> CallActivity:
    """The integration's reported calls over the ``days`` days ending ``today`` (UTC), across all its tokens;
    another tenant's integration is not found."""
    integration = get_integration_for(principal, integration_id)
    jtis = [row.jti for row in list_tokens(principal, integration.id)]
    since = today - timedelta(days=days - 1)
    rows = calls_by_day_and_service(jtis, since=since, until=today)
    names = service_names({row.service_id for row in rows})
    totals: dict[str, tuple[int, set[str], date]] = {}
    for row in rows:
        calls, scopes, last = totals.get(row.service_id, (0, set(), row.day))
        totals[row.service_id] = (calls + row.calls, scopes | (set(row.scopes) - {NO_SCOPE}), max(last, row.day))
    services = [
        ServiceTotal(service_id, names.get(service_id, service_id), calls, sorted(scopes), last)
        for service_id, (calls, scopes, last) in totals.items()
    ]
    services.sort(key=lambda s: (-s.calls, s.name))
    return CallActivity(integration.id, since, today, rows, services)


def service_names(client_ids: set[str]) -> dict[str, str]:
    """Reporting services by name (a disabled or deleted client keeps its row, so its name)."""
    if not client_ids:
        return {}
    rows = db.session.execute(select(ApiClient.client_id, ApiClient.name).where(ApiClient.client_id.in_(client_ids)))
    return {client_id: name for client_id, name in rows}


def to_csv(activity: CallActivity) -> str:
    """One row per day and service with calls: date, service name, its client id, calls, the scopes used."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in activity.days:
        scopes = " ".join(sorted(scope for scope in row.scopes if scope != NO_SCOPE))
        writer.writerow(
            [
                row.day.isoformat(),
                safe_cell(activity.name_of(row.service_id)),
                safe_cell(row.service_id),
                row.calls,
                safe_cell(scopes),
            ]
        )
    return out.getvalue()


def safe_cell(value: str) -> str:
    """Text a spreadsheet shows as text: a cell starting with = + - @ (or a tab or carriage return) would be run
    as a formula (CSV injection), so it gets a leading quote."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value
