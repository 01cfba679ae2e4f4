"""The integration page's usage actions: download its API calls as CSV, and remove a scope it never used."""

from __future__ import annotations

from flask import Response, flash, redirect, request, url_for

from .. import scope_suggestions
from ..activity.calls import integration_calls, to_csv
from ..session_cookie import now
from . import forms
from .blueprint import bp
from .guard import current_principal
from .integrations import load
from .token_actions import BASE, back_to_integration_on_refusal
from .usage_panel import CHART_DAYS


@bp.get(f"{BASE}/activity.csv")
def integration_activity_csv(account_id: str, integration_id: str):
    """Reported calls per day and service over the chart's 30 days, as a spreadsheet-safe CSV download."""
    principal = current_principal()
    _, integration = load(principal, account_id, integration_id)
    calls = integration_calls(principal, integration.id, today=now().date(), days=CHART_DAYS)
    response = Response(to_csv(calls), mimetype="text/csv")
    filename = f"activity-{integration.id}-{calls.since.isoformat()}-to-{calls.until.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.post(f"{BASE}/scopes/remove")
@back_to_integration_on_refusal
def integration_remove_scope(account_id: str, integration_id: str):
    """One click on a suggestion: narrow the integration by that scope at once (live tokens too)."""
    principal = current_principal()
    account, integration = load(principal, account_id, integration_id, write=True)
    scope = request.form.get("scope", "")
    scope_suggestions.remove_scope(
        principal, integration.id, scope, now=now(), expected_version=forms.expected_version()
    )
    flash(f"Removed {scope}. The live token lost it at once; calls that need it are now refused.", "success")
    return redirect(url_for("admin_ui.integration_detail", account_id=account.id, integration_id=integration.id))
