"""What the integration page shows of its use: reported API calls per day and per service (the chart, the
services table, the CSV link) and the least-privilege suggestions. Views call ``usage_panel`` and render."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from .. import scope_suggestions
from ..activity.calls import CallActivity, integration_calls
from ..models import Integration
from ..principals import Principal
from . import charts

CHART_DAYS = 30


def usage_panel(principal: Principal, integration: Integration, moment: datetime) -> dict[str, Any]:
    calls = integration_calls(principal, integration.id, today=moment.date(), days=CHART_DAYS)
    shown = display_names(calls)
    per_day: dict = {day: {} for day in calls.per_day()}
    for row in calls.days:
        counts = per_day[row.day]
        counts[shown[row.service_id]] = counts.get(shown[row.service_id], 0) + row.calls
    drawn = charts.calls_chart(per_day, [(shown[s.service_id], s.calls) for s in calls.services])
    return {
        "calls": calls,
        "service_names": shown,
        "chart": drawn.chart,
        "segments": drawn.segments,
        "legend": drawn.legend,
        "suggestions": scope_suggestions.suggest_scope_removals(principal, integration.id, now=moment),
    }


def display_names(calls: CallActivity) -> dict[str, str]:
    """Each reporting service by name; two services of one name are told apart by their client ids."""
    seen = Counter(service.name for service in calls.services)
    return {s.service_id: s.name if seen[s.name] == 1 else f"{s.name} ({s.service_id})" for s in calls.services}
