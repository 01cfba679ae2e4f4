"""``authserver audit list``: an account's audit log as text, JSON or CSV."""

from __future__ import annotations

import click

from .. import audit as audit_log
from ..accounts import get_account
from .base import OneLineGroup, command, emit, json_option


@click.group("audit", cls=OneLineGroup, help="The audit log.")
def audit_group():
    pass


@command(audit_group, "list")
@click.option("--account", "account_id", required=True, help="The account whose trail to read.")
@click.option("--action", default=None, help="Only this action, e.g. token.generated. Default: every action.")
@click.option("--target", "target_id", default=None, help="Only rows about this id. Default: every target.")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="At most this many rows, newest first.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@json_option
def audit_list(account_id, action, target_id, limit, fmt, as_json):
    """The audit trail: who changed what, when, from where, with before and after (newest first)."""
    account = get_account(account_id)  # a mistyped id is an error, not an empty log
    rows = audit_log.list_events([account.id], action=action, target_id=target_id, limit=limit)
    if fmt == "csv":
        click.echo(audit_log.to_csv(rows), nl=False)
        return
    payload = {"events": [audit_log.serialize(r) for r in rows]}
    text = "\n".join(
        f"{e['occurred_at']}  {e['action']:32} {e['actor']['type']}:{e['actor']['id']}  "
        f"{e['target']['type']}:{e['target']['id']}"
        for e in payload["events"]
    )
    emit(as_json or fmt == "json", payload, text or "(no events)")
