"""``authserver integration ...``: create private integrations, list them, and change their status, scopes or the
DPoP key their tokens are bound to."""

from __future__ import annotations

import click

from .. import integrations, scope_suggestions
from ..durations import parse_duration
from ..errors import InvalidInputError
from ..integrations import serialize_integration
from ..principals import OPERATOR
from .base import OneLineGroup, command, emit, json_option, now


@click.group("integration", cls=OneLineGroup, help="Private integrations.")
def integration_group():
    pass


@command(integration_group, "create")
@click.option("--account", "account_id", required=True, help="The account the integration belongs to.")
@click.option("--name", required=True, help="A name for people (e.g. the developer's app).")
@click.option("--description", default="", help="Free text. Default: empty.")
@click.option(
    "--scope", "scopes", multiple=True, required=True, help="A scope its tokens carry, e.g. contacts.readonly; repeat."
)
@click.option(
    "--inactivity-window",
    default=None,
    help="Tokens unused this long expire, e.g. 90d, or 'never'. Default: the account's default inactivity window.",
)
@click.option(
    "--resource",
    "resources",
    multiple=True,
    help="Limit its tokens to this service's resource URI (repeatable). Default: every service.",
)
@click.option(
    "--dpop-jkt",
    default=None,
    metavar="THUMBPRINT",
    help="Bind its tokens to the key with this RFC 7638 SHA-256 thumbprint (DPoP, RFC 9449). Default: unbound.",
)
@click.option(
    "--dpop-jwk",
    default=None,
    type=click.Path(dir_okay=False, allow_dash=True),
    metavar="FILE",
    help="Bind its tokens to this public JWK (a JSON file, - for stdin); its thumbprint is kept. Default: unbound.",
)
@json_option
def integration_create(
    account_id, name, description, scopes, inactivity_window, resources, dpop_jkt, dpop_jwk, as_json
):
    """Create a private integration with exactly the scopes it needs (then: authserver token generate)."""
    window = (
        "default"
        if inactivity_window is None
        else (None if inactivity_window == "never" else parse_duration(inactivity_window, field="inactivity-window"))
    )
    integration = integrations.create_integration(
        OPERATOR,
        account_id=account_id,
        name=name,
        description=description,
        scopes=list(scopes),
        now=now(),
        inactivity_window=window,
        resources=list(resources),
        dpop_jkt=dpop_jkt,
        dpop_jwk=_read_jwk(dpop_jwk),
    )
    emit(as_json, serialize_integration(integration), integration.id)


@command(integration_group, "update")
@click.argument("integration_id")
@click.option("--name", default=None, help="A new name. Default: unchanged.")
@click.option("--description", default=None, help="A new description. Default: unchanged.")
@click.option(
    "--dpop-jkt",
    default=None,
    metavar="THUMBPRINT",
    help="Bind its new tokens to the key with this RFC 7638 SHA-256 thumbprint (DPoP). Default: unchanged.",
)
@click.option(
    "--dpop-jwk",
    default=None,
    type=click.Path(dir_okay=False, allow_dash=True),
    metavar="FILE",
    help="Bind its new tokens to this public JWK (a JSON file, - for stdin). Default: unchanged.",
)
@click.option("--no-dpop", is_flag=True, help="Unbind: its new tokens are plain bearer tokens. Default: unchanged.")
@json_option
def integration_update(integration_id, name, description, dpop_jkt, dpop_jwk, no_dpop, as_json):
    """Change its name, description or DPoP key binding. A new binding applies to tokens generated afterwards:
    rotate the token to apply it (live tokens keep the binding they were issued with)."""
    if no_dpop and (dpop_jkt is not None or dpop_jwk is not None):
        raise InvalidInputError("--no-dpop cannot be combined with --dpop-jkt or --dpop-jwk", field="dpop_jkt")
    binding = {}
    if no_dpop:
        binding["dpop_jkt"] = None
    elif dpop_jkt is not None or dpop_jwk is not None:
        binding = {"dpop_jkt": dpop_jkt, "dpop_jwk": _read_jwk(dpop_jwk)}
    at = now()
    integration = integrations.update_integration(
        OPERATOR, integration_id, now=at, name=name, description=description, **binding
    )
    stale = [
        row.jti
        for row in integrations.live_tokens(integration.id, at)
        if integrations.binding_differs(row, integration)
    ]
    body = serialize_integration(integration) | {"tokens_binding_differs": stale}
    bound = f"bound to key {integration.dpop_jkt}" if integration.dpop_jkt else "not bound to a key"
    text = f"{integration.id} updated; {bound}"
    if stale:
        text += f"\n{len(stale)} live token(s) keep their previous binding until rotated"
        text += f" (authserver token rotate {integration.id})"
    emit(as_json, body, text)


@command(integration_group, "list")
@click.option("--account", "account_id", required=True, help="The account whose integrations to list.")
@json_option
def integration_list(account_id, as_json):
    """An account's integrations with their scopes and status."""
    rows = [serialize_integration(i) for i in integrations.list_integrations(OPERATOR, account_id)]
    text = "\n".join(
        f"{r['id']}  {r['status']:8}  {r['name']}  [{' '.join(r['scopes'])}]"
        + (f"  bound to key {r['dpop_jkt']} (DPoP)" if r.get("dpop_jkt") else "")
        for r in rows
    )
    emit(as_json, {"integrations": rows}, text or "(no integrations)")


@command(integration_group, "disable")
@click.argument("integration_id")
@json_option
def integration_disable(integration_id, as_json):
    """Its tokens stop being accepted at once (reversible: enable)."""
    integration = integrations.set_status(OPERATOR, integration_id, "disabled", now=now())
    emit(as_json, serialize_integration(integration), f"{integration.id} disabled; its tokens stopped working")


@command(integration_group, "enable")
@click.argument("integration_id")
@json_option
def integration_enable(integration_id, as_json):
    """Its live tokens are accepted again."""
    integration = integrations.set_status(OPERATOR, integration_id, "active", now=now())
    emit(as_json, serialize_integration(integration), f"{integration.id} enabled")


@command(integration_group, "delete")
@click.argument("integration_id")
@json_option
def integration_delete(integration_id, as_json):
    """Delete the integration; every token it holds is revoked at once."""
    integrations.set_status(OPERATOR, integration_id, "deleted", now=now())
    emit(as_json, {"id": integration_id, "status": "deleted"}, f"{integration_id} deleted")


@command(integration_group, "set-scopes")
@click.argument("integration_id")
@click.option("--scope", "scopes", multiple=True, required=True, help="The full new scope set; repeat.")
@json_option
def integration_set_scopes(integration_id, scopes, as_json):
    """Replace its scopes: narrowing applies to live tokens at once, widening to tokens issued afterwards."""
    integration = integrations.update_integration(OPERATOR, integration_id, now=now(), scopes=list(scopes))
    emit(as_json, serialize_integration(integration), f"{integration.id}: {integration.scopes}")


@command(integration_group, "suggestions")
@click.argument("integration_id")
@click.option(
    "--days",
    default=scope_suggestions.DEFAULT_WINDOW_DAYS,
    show_default=True,
    type=click.IntRange(1, scope_suggestions.MAX_WINDOW_DAYS),
    help="The window: scopes no reported call needed in this many days (today included, UTC).",
)
@json_option
def integration_suggestions(integration_id, days, as_json):
    """Least privilege: the granted scopes none of the integration's reported calls needed in the last 30 days
    (--days). Only judged once the integration is that old and some service reported a call of it. Remove one with
    set-scopes (immediate: live tokens lose it too)."""
    found = scope_suggestions.suggest_scope_removals(OPERATOR, integration_id, now=now(), window_days=days)
    lines = [f"{item.message(days)}: {item.description}" for item in found.suggestions]
    if not lines:
        lines = [
            found.reason if found.status != scope_suggestions.READY else f"Every granted scope was used in {days} days."
        ]
    emit(as_json, scope_suggestions.serialize(found), "\n".join(lines))


def _read_jwk(path: str | None) -> str | None:
    """The JWK file's text, parsed and checked by the domain (dpop_keys); an unreadable file is one error line."""
    if path is None:
        return None
    try:
        with click.open_file(path, encoding="utf-8") as handle:
            return str(handle.read(64 * 1024))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"cannot read the JWK file {path}: {exc.__class__.__name__}", field="dpop_jwk"
        ) from None
