"""``authserver keys ...``: add, revoke and list the signing keys (pre-published in the JWKS before they sign)."""

from __future__ import annotations

import click

from ..durations import isoformat
from ..keys import key_state
from ..principals import OPERATOR
from ..unit_of_work import unit_of_work
from .base import OneLineGroup, command, emit, json_option, now, services


@click.group("keys", cls=OneLineGroup, help="Signing keys.")
def keys_group():
    pass


@command(keys_group, "rotate", transaction=False)
@click.option(
    "--now",
    "immediate",
    is_flag=True,
    help="Emergency: sign with the new key at once (default: after the JWKS pre-publication window).",
)
@json_option
def keys_rotate(immediate, as_json):
    """Add a signing key: published at once, signing after AUTHSERVER_KEY_PREPUBLISH (or at once with --now)."""
    keystore, moment = services().keystore, now()
    with unit_of_work():
        row = keystore.rotate(moment, immediate=immediate)
    keystore.remove_spent_key_files(moment)  # only once the new key is committed
    state = key_state(row, moment)
    emit(
        as_json,
        {"kid": row.kid, "state": state, "signs_from": isoformat(row.signs_from)},
        f"new signing key {row.kid} ({state}), signing from {isoformat(row.signs_from)}; "
        "older public keys stay published while needed",
    )


# A kid is an RFC 7638 thumbprint, base64url: one in 64 starts with "-", which must still read as the argument.
@command(keys_group, "revoke", transaction=False, context_settings={"ignore_unknown_options": True})
@click.argument("kid")
@json_option
def keys_revoke(kid, as_json):
    """Every token KID signed becomes inactive at once and the key leaves the JWKS (rotates first if it signs)."""
    keystore, moment = services().keystore, now()
    with unit_of_work():
        row, replacement = keystore.revoke(kid, OPERATOR, moment)
    keystore.remove_spent_key_files(moment)  # only once the revocation is committed
    payload = {
        "kid": row.kid,
        "state": key_state(row, moment),
        "revoked_at": isoformat(row.revoked_at),
        "replaced_by": replacement.kid if replacement else None,
    }
    emit(
        as_json,
        payload,
        f"signing key {row.kid} revoked; every token it signed is inactive"
        + (f"; new signing key {replacement.kid}" if replacement else ""),
    )


@command(keys_group, "list")
@json_option
def keys_list(as_json):
    """Every signing key with its state (pending, active, retired, revoked) and dates."""
    keystore, moment = services().keystore, now()
    keystore.remove_spent_key_files(moment)
    rows = [
        dict(r, **{name: isoformat(r[name]) for name in ("created_at", "signs_from", "retired_at", "revoked_at")})
        for r in keystore.list_keys(moment)
    ]
    text = "\n".join(
        f"{r['kid']}  {r['alg']:6}  {r['state']:8}  {'published' if r['published'] else 'unpublished'}" for r in rows
    )
    emit(as_json, {"keys": rows}, text or "(no keys)")
