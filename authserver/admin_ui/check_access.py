"""The Check access panel of an integration's page: what its scopes allow, and a live test of a pasted token.

The panel (``integrations/_check_access.html``) is included by the integration's page and reads its data through
the ``check_access_panel`` template global. Testing a token is a POST (CSRF-checked by the guard) that only the
account's admins may make; the token goes to the registered services' ping URLs (``service_ping``) and nowhere
else, and it is never stored, logged, audited or written back into the page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask import current_app, render_template, request

from ..errors import InvalidInputError, RateLimitedError
from ..extensions import db
from ..limits.database_store import DatabaseRateStore
from ..models import Integration
from ..operations import ServiceOperations, allowed_operations
from ..scopes import split_scopes
from ..service_ping import MAX_TARGETS, AccessCheck, PingTarget, check_rate, check_token, parse_token, ping_targets
from ..services import services
from ..session_cookie import now
from ..webhooks.destinations import DestinationPolicy
from .blueprint import bp
from .guard import current_principal
from .integrations import load, sentence

# Counts in its own transaction: every attempt counts, in every worker and instance, whatever the request does next.
RATE_STORE = DatabaseRateStore()


@dataclass(frozen=True)
class Panel:
    services: list[ServiceOperations]
    targets: list[PingTarget]
    max_targets: int = MAX_TARGETS


@bp.app_template_global("check_access_panel")
def check_access_panel(integration: Integration) -> Panel:
    """What the panel shows before any test: operations by service, and the services a test would call."""
    return Panel(
        services=allowed_operations(split_scopes(integration.scopes)), targets=ping_targets(integration.account_id)
    )


@bp.route("/accounts/<account_id>/settings/integrations/<integration_id>/check-access", methods=["GET", "POST"])
def integration_check_access(account_id: str, integration_id: str):
    principal = current_principal()
    account, integration = load(principal, account_id, integration_id, write=request.method == "POST")
    can_manage = principal.can_administer(account.id)
    if request.method == "GET":
        return _page(account, integration, can_manage)
    moment = now()
    try:
        check_rate(RATE_STORE, user_id=principal.id or "-", account_id=account.id, now=moment)
    except RateLimitedError as exc:
        return (
            _page(account, integration, can_manage, error=sentence(exc.detail)),
            429,
            {"Retry-After": str(exc.retry_after)},
        )
    try:
        token = parse_token(request.form.get("token"))
        targets = _chosen(ping_targets(account.id), request.form.get("service", ""))
    except InvalidInputError as exc:
        return _page(account, integration, can_manage, error=sentence(exc.detail)), 400
    integration_id, owner_id = integration.id, integration.account_id
    db.session.rollback()  # no transaction held open while services answer (reads only so far)
    result = check_token(
        token,
        integration_id=integration_id,
        account_id=owner_id,
        targets=targets,
        verifier=services().verifier,
        policy=replace(DestinationPolicy.from_config(current_app.config), allow_http=True),
        now=moment,
    )
    return _page(account, integration, can_manage, result=result)


def _chosen(targets: list[PingTarget], choice: str) -> list[PingTarget]:
    """All registered services (at most MAX_TARGETS), or the one picked; a service not registered for this account
    is refused, never called."""
    if not choice:
        return targets
    picked = [target for target in targets if target.client_id == choice]
    if not picked:
        raise InvalidInputError("choose one of the services listed", field="service")
    return picked


def _page(account, integration, can_manage: bool, *, result: AccessCheck | None = None, error: str | None = None):
    return render_template(
        "integrations/check_access.html",
        account=account,
        integration=integration,
        can_manage=can_manage,
        check=result,
        check_error=error,
    )
