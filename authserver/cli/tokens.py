"""``authserver token ...``: generate, rotate, expire and list an integration's access tokens."""

from __future__ import annotations

from datetime import timedelta

import click

from .. import integrations
from ..durations import isoformat, parse_instant
from ..integrations import DEFAULT_GRACE, serialize_token
from ..principals import OPERATOR, SYSTEM
from .base import OneLineGroup, command, duration, emit, json_option, now, require_minting_issuer, services


@click.group("token", cls=OneLineGroup, help="Access tokens of private integrations.")
def token_group():
    pass


def _issued(as_json, issued):
    payload = serialize_token(issued.record, now()) | {"token": issued.token}
    emit(
        as_json,
        payload,
        f"{issued.token}\n(token {issued.record.jti}, expires {payload['expires_at']}; it is shown only once)",
    )


@command(token_group, "generate")
@click.argument("integration_id")
@click.option(
    "--expires-in",
    default=None,
    help="Lifetime, e.g. 90d. Default: AUTHSERVER_DEFAULT_TOKEN_LIFETIME (90d), cut to the account's maximum.",
)
@json_option
def token_generate(integration_id, expires_in, as_json):
    """Issue the integration's first token (or another one alongside); it is printed once and never stored."""
    require_minting_issuer()
    found = services()
    issued = integrations.generate_token(
        OPERATOR, integration_id, policy=found.policy, now=now(), expires_in=duration(expires_in, "expires-in")
    )
    _issued(as_json, issued)


@command(token_group, "rotate")
@click.argument("integration_id")
@click.option("--grace", default=None, help="Keep the old token working this long (1h..30d). Default: 7d.")
@click.option("--grace-until", default=None, help="...or until this ISO 8601 time. Default: 7 days from now.")
@click.option("--now", "immediately", is_flag=True, help="Stop the old token at once. Default: it works 7 more days.")
@click.option(
    "--expires-in",
    default=None,
    help="The new token's lifetime, e.g. 90d. Default: AUTHSERVER_DEFAULT_TOKEN_LIFETIME (90d), cut to the "
    "account's maximum.",
)
@json_option
def token_rotate(integration_id, grace, grace_until, immediately, expires_in, as_json):
    """Issue a new token; the old one keeps working 7 days (--grace, --grace-until) unless --now stops it at once."""
    require_minting_issuer()
    found, moment = services(), now()
    common = dict(policy=found.policy, now=moment, expires_in=duration(expires_in, "expires-in"))
    if immediately:
        if grace or grace_until:
            raise click.UsageError("--now cannot be combined with --grace or --grace-until")
        issued = integrations.rotate_now(OPERATOR, integration_id, **common)
    else:
        if grace_until:
            until = parse_instant(grace_until, field="grace-until")
        else:
            until = moment + timedelta(seconds=duration(grace, "grace") or DEFAULT_GRACE)
        issued = integrations.rotate_with_grace(OPERATOR, integration_id, grace_until=until, **common)
    _issued(as_json, issued)


@command(token_group, "expire")
@click.argument("integration_id")
@click.option("--at", "at", default=None, help="Schedule the end (ISO 8601). Default: now.")
@click.option(
    "--token", "jti", default=None, help="Only this token id (e.g. the grace token). Default: every live one."
)
@json_option
def token_expire(integration_id, at, jti, as_json):
    """Stop the integration's tokens now (services hear it within a second), or schedule the end with --at."""
    moment = now()
    if at:
        row = integrations.expire_later(OPERATOR, integration_id, now=moment, at=parse_instant(at, field="at"))
        emit(as_json, serialize_token(row, moment), f"token {row.jti} will stop working at {isoformat(row.ends_at)}")
    else:
        rows = integrations.expire_now(OPERATOR, integration_id, now=moment, jti=jti)
        emit(as_json, {"expired": [r.jti for r in rows]}, f"{len(rows)} token(s) stopped working")


@command(token_group, "list")
@click.argument("integration_id")
@json_option
def token_list(integration_id, as_json):
    """The integration's tokens: id, status, issue and expiry dates, and when idleness would expire each."""
    moment = now()
    rows = [
        serialize_token(r, moment) | {"status": integrations.token_status(r, moment)}
        for r in integrations.list_tokens(OPERATOR, integration_id)
    ]
    text = "\n".join(
        f"{r['token_id']}  {r['status']:16}  issued {r['issued_at']}  expires {r['expires_at']}  "
        f"unused-expiry {r['expires_if_unused_after'] or 'never'}"
        for r in rows
    )
    emit(as_json, {"tokens": rows}, text or "(no tokens)")


@command(token_group, "expire-inactive")
@json_option
def token_expire_inactive(as_json):
    """Mark tokens idle past their window as expired, dated when the window ended, and record grace periods that
    ran out in the audit trail (idempotent; the serving processes do it every AUTHSERVER_EXPIRY_SCAN_INTERVAL)."""
    moment = now()
    expired = integrations.expire_inactive(SYSTEM, now=moment)
    integrations.record_grace_ends(SYSTEM, now=moment)
    emit(as_json, {"expired": expired}, f"{len(expired)} inactive token(s) expired")
