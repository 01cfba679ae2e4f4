"""Settings → v1 API keys: the migration report, "Migrate" (shows the v2 token once) and "Roll back"."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from .. import accounts
from ..durations import parse_duration, parse_instant
from ..errors import ConflictError, InvalidInputError
from ..services import services
from ..session_cookie import now
from ..unit_of_work import unit_of_work
from ..v1keys import migration, report
from .blueprint import bp
from .guard import current_principal
from .integrations import sentence

OVERLAPS = (("7d", "7 days"), ("14d", "14 days"), ("30d", "30 days"), ("90d", "90 days"))


@bp.app_template_filter("iso_instant")
def iso_instant(text: str):
    """The report and the delivery log are API-shaped (ISO 8601 text); pages format datetimes."""
    return parse_instant(text)


@bp.get("/accounts/<account_id>/settings/v1-keys")
def v1_key_report(account_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id)
    body = report.migration_report(principal, account.id, now=now())
    can_manage = principal.can_administer(account.id)
    return render_template(
        "v1keys/report.html",
        account=account,
        keys=body["keys"],
        overlaps=OVERLAPS,
        can_manage=can_manage,
        confirm=request.args.get("confirm") if can_manage else None,  # ?confirm=migrate-<id>|rollback-<id>
        section="v1-keys",
    )


@bp.post("/accounts/<account_id>/settings/v1-keys/<key_id>/migrate")
def v1_key_migrate(account_id: str, key_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=True)
    try:
        overlap = parse_duration(request.form.get("overlap", "14d"), field="overlap")
        with unit_of_work():
            done = migration.migrate_key(principal, key_id, overlap=overlap, now=now(), policy=services().policy)
    except (ConflictError, InvalidInputError) as exc:
        flash(sentence(exc.detail), "error")
        return redirect(url_for("admin_ui.v1_key_report", account_id=account.id))
    return render_template(
        "v1keys/migrated.html",
        account=account,
        integration=done.integration,
        issued=done.issued,
        key=done.key,
        section="v1-keys",
    )


@bp.post("/accounts/<account_id>/settings/v1-keys/<key_id>/rollback")
def v1_key_rollback(account_id: str, key_id: str):
    principal = current_principal()
    account = accounts.get_account_for(principal, account_id, write=True)
    try:
        with unit_of_work():
            key = migration.rollback_migration(principal, key_id, now=now())
        flash(
            f"The migration of {key.name} was rolled back: the v1 key keeps working and the new integration "
            "was deleted.",
            "success",
        )
    except ConflictError as exc:
        flash(sentence(exc.detail), "error")
    return redirect(url_for("admin_ui.v1_key_report", account_id=account.id))
