"""``authserver v1-key ...`` (legacy keys) and ``authserver migrate ...`` (the way from v1 keys to v2)."""

from __future__ import annotations

import click

from ..durations import parse_duration
from ..integrations import serialize_integration, serialize_token
from ..principals import OPERATOR
from ..v1keys import keys, migration, report
from .base import command, emit, json_option, now, require_minting_issuer, services


@click.group("v1-key", help="Legacy v1 API keys (unscoped, full access).")
def v1_key_group():
    pass


@command(v1_key_group, "create")
@click.option("--account", "account_id", required=True, help="The account the v1 key belongs to.")
@click.option("--name", default="v1 key", show_default=True, help="A name for people.")
@json_option
def v1_key_create(account_id, name, as_json):
    """Create a legacy v1 key (unscoped, full access; printed once) to migrate later."""
    row, secret = keys.create_key(OPERATOR, account_id=account_id, name=name, now=now())
    emit(
        as_json,
        keys.serialize_key(row, row.created_at) | {"key": secret},
        f"{secret}\n(key {row.id}; it is shown only once)",
    )


@click.group("migrate", help="Move v1 API keys to v2 private integrations.")
def migrate_group():
    pass


@command(migrate_group, "report")
@click.option("--account", "account_id", required=True, help="The account whose v1 keys to report on.")
@json_option
def migrate_report(account_id, as_json):
    """Each v1 key: last used, the v1 routes it called, and the v2 scopes those calls need."""
    body = report.migration_report(OPERATOR, account_id, now=now())
    lines = []
    for key in body["keys"]:
        lines.append(
            f"{key['id']}  {key['name']}  {key['status']}  last used {key['last_used_at'] or 'never'}"
            f"  needs [{' '.join(key['needed_scopes'])}]"
        )
        lines += [f"    {r['route']:40} {r['calls']:>8} calls  -> {r['scope'] or 'unmapped'}" for r in key["routes"]]
    emit(as_json, body, "\n".join(lines) or "(no v1 keys)")


@command(migrate_group, "v1-key")
@click.argument("key_id")
@click.option("--overlap", default="14d", show_default=True, help="How long the v1 key keeps working, e.g. 14d.")
@json_option
def migrate_v1_key(key_id, overlap, as_json):
    """Create the integration and its v2 token (shown once); the v1 key stops after the overlap."""
    require_minting_issuer()
    found, moment = services(), now()
    done = migration.migrate_key(
        OPERATOR, key_id, overlap=parse_duration(overlap, field="overlap"), now=moment, policy=found.policy
    )
    payload = {
        "key": keys.serialize_key(done.key, moment),
        "integration": serialize_integration(done.integration),
        "token": serialize_token(done.issued.record, moment) | {"token": done.issued.token},
    }
    emit(
        as_json,
        payload,
        f"{done.issued.token}\n(v2 token of {done.integration.id} with "
        f"[{done.integration.scopes}], shown only once; the v1 key stops at "
        f"{payload['key']['stops_at']})",
    )


@command(migrate_group, "rollback")
@click.argument("key_id")
@json_option
def migrate_rollback(key_id, as_json):
    """Undo a migration before its overlap ends: the v1 key keeps working, the integration is deleted."""
    moment = now()
    row = migration.rollback_migration(OPERATOR, key_id, now=moment)
    emit(as_json, keys.serialize_key(row, moment), f"{row.id} rolled back; the v1 key keeps working")
