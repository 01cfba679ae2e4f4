"""``authserver client ...``: register API clients and manage their credentials' lifecycle (operator only).

Each command is a few lines over a domain function in clients.py, takes ``--json``, and never prompts: a change
made here holds from the next request in every worker and instance.
"""

from __future__ import annotations

import click
from flask import current_app

from ..clients import (
    create_client,
    delete_client,
    list_clients_for,
    parse_client_limit,
    parse_overlap,
    rotate_client_secret,
    serialize_client,
    set_client_enabled,
    set_client_limit,
    set_client_ping_url,
    set_introspection_signing,
)
from ..durations import isoformat
from ..principals import OPERATOR
from ..service_ping import parse_ping_url
from .base import OneLineGroup, command, emit, json_option, now


@click.group("client", cls=OneLineGroup, help="API clients: resource services and admin clients.")
def client_group():
    pass


@command(client_group, "create")
@click.option("--name", required=True, help="A name for people.")
@click.option(
    "--kind",
    type=click.Choice(["resource-service", "admin"]),
    required=True,
    help="resource-service: a v2 API that introspects tokens; admin: calls the admin API for its account.",
)
@click.option(
    "--account",
    "account_id",
    default=None,
    help="Bind it to this account (required for admin clients). Default: none, every account's tokens.",
)
@click.option("--resource", default=None, help="A resource service's RFC 8707 resource URI. Default: none.")
@click.option(
    "--ping-url",
    default=None,
    help="A resource service's ping URL (https; http only on loopback), called by Check access. Default: none.",
)
@json_option
def client_create(name, kind, account_id, resource, ping_url, as_json):
    """Register an API client; its secret is printed once and stored only as a digest."""
    client, secret = create_client(
        OPERATOR, name=name, kind=kind, account_id=account_id, now=now(), resource=resource, ping_url=ping_url
    )
    emit(
        as_json,
        {
            "client_id": client.client_id,
            "client_secret": secret,
            "kind": kind,
            "account_id": account_id,
            "resource": client.resource,
            "ping_url": client.ping_url,
        },
        f"client_id:     {client.client_id}\nclient_secret: {secret}\n(the secret is shown only once)",
    )


@command(client_group, "list")
@click.option("--account", "account_id", default=None, help="Only this account's clients. Default: all.")
@json_option
def client_list(account_id, as_json):
    """Every API client (or one account's) with its kind, state and limits; never a secret."""
    moment = now()
    rows = [serialize_client(client, moment) for client in list_clients_for(OPERATOR, account_id)]
    text = "\n".join(
        f"{r['client_id']}  {r['status']:8}  {r['kind']:16}  {r['account_id'] or '(every account)':30}"
        f"  last used {r['last_used_at'] or 'never'}  limit {r['introspection_limit'] or 'default'}  {r['name']}"
        for r in rows
    )
    emit(as_json, {"clients": rows}, text or "(no clients)")


@command(client_group, "rotate-secret")
@click.argument("client_id")
@click.option(
    "--overlap",
    default="24h",
    show_default=True,
    help="How long the old secret keeps working, e.g. 24h; 0 stops it at once.",
)
@json_option
def client_rotate_secret(client_id, overlap, as_json):
    """Issue a new secret (printed once); the old one keeps working for the overlap (24h unless --overlap)."""
    client, secret = rotate_client_secret(OPERATOR, client_id, overlap=parse_overlap(overlap), now=now())
    until = isoformat(client.previous_secret_expires_at)
    emit(
        as_json,
        serialize_client(client, now()) | {"client_secret": secret},
        f"client_id:     {client.client_id}\nclient_secret: {secret}\n(the secret is shown only once; "
        + (f"the old one works until {until})" if until else "the old one stopped working)"),
    )


@command(client_group, "set-limit")
@click.argument("client_id")
@click.option(
    "--introspection",
    required=True,
    help='Its own introspection limit: "N/period" (100000/1m), "off", or "default" for the server\'s setting.',
)
@json_option
def client_set_limit(client_id, introspection, as_json):
    """Give a resource service its own introspection rate limit, in every worker from its next request."""
    limit = parse_client_limit(introspection)
    default = current_app.config["AUTHSERVER_RATE_LIMIT_INTROSPECTION"]
    client = set_client_limit(OPERATOR, client_id, introspection=limit, default=default, now=now())
    emit(
        as_json,
        serialize_client(client, now()),
        f"{client.client_id}: introspection limit {limit or 'default'}, from its next request on",
    )


@command(client_group, "set-introspection-signing")
@click.argument("client_id")
@click.option(
    "--always/--when-asked",
    "always",
    default=None,
    help="Sign every introspection answer to it (RFC 9701), or only those it asks for with "
    "Accept: application/token-introspection+jwt (the default).",
)
@json_option
def client_set_introspection_signing(client_id, always, as_json):
    """Answer a resource service's introspection requests with signed JWTs always, or only when it asks."""
    if always is None:
        raise click.UsageError("choose --always or --when-asked")
    client = set_introspection_signing(OPERATOR, client_id, always=always, now=now())
    emit(
        as_json,
        serialize_client(client, now()),
        f"{client.client_id}: introspection answers signed {'always' if always else 'when asked'}, "
        "from its next request on",
    )


@command(client_group, "update")
@click.argument("client_id")
@click.option(
    "--ping-url",
    required=True,
    help="The URL where the resource service answers a ping with a bearer token (https; http only on loopback); "
    '"none" removes it.',
)
@json_option
def client_update(client_id, ping_url, as_json):
    """Change a resource service's ping URL (used by the integration page's Check access)."""
    client = set_client_ping_url(OPERATOR, client_id, ping_url=parse_ping_url(ping_url), now=now())
    emit(
        as_json,
        serialize_client(client, now()),
        f"{client.client_id}: ping URL {client.ping_url or 'none'}",
    )


@command(client_group, "disable")
@click.argument("client_id")
@json_option
def client_disable(client_id, as_json):
    """Refuse the client's credentials from its next request on (reversible: enable)."""
    client = set_client_enabled(OPERATOR, client_id, False, now=now())
    emit(as_json, serialize_client(client, now()), f"{client.client_id} disabled; it can no longer authenticate")


@command(client_group, "enable")
@click.argument("client_id")
@json_option
def client_enable(client_id, as_json):
    """Accept a disabled client's credentials again."""
    client = set_client_enabled(OPERATOR, client_id, True, now=now())
    emit(as_json, serialize_client(client, now()), f"{client.client_id} enabled")


@command(client_group, "delete")
@click.argument("client_id")
@json_option
def client_delete(client_id, as_json):
    """Delete the client for good; its credentials stop working at once."""
    delete_client(OPERATOR, client_id, now=now())
    emit(as_json, {"client_id": client_id, "status": "deleted"}, f"{client_id} deleted")
