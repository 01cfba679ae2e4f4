"""``authserver webhooks ...``: subscribe, inspect the delivery log, redeliver, and run the delivery worker."""

from __future__ import annotations

import signal

import click
from flask import current_app

from .. import domain_events as de
from ..emitter import emit as emit_event
from ..principals import OPERATOR
from ..webhooks import deliveries, expiring, subscriptions
from ..webhooks.destinations import DestinationPolicy
from ..webhooks.worker import WebhookWorker
from .base import command, duration, emit, json_option, now, services


@click.group("webhooks", help="Signed webhooks: subscriptions, deliveries and the delivery worker.")
def webhooks_group():
    pass


@command(webhooks_group, "worker", transaction=False)  # each delivery attempt commits on its own
@click.option(
    "--once", is_flag=True, help="Attempt what is due now, then exit (cron-style). Default: run until stopped."
)
@click.option(
    "--concurrency", default=4, type=click.IntRange(1, 64), show_default=True, help="Deliveries attempted at once."
)
@json_option
def webhooks_worker(once, concurrency, as_json):
    """Deliver webhooks until stopped (SIGTERM/SIGINT finish the requests in flight)."""
    worker = WebhookWorker(current_app._get_current_object(), concurrency=concurrency)
    if once:
        attempted = worker.run_once()
        emit(as_json, {"attempted": attempted}, f"{attempted} delivery attempt(s)")
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop(timeout=0))
    click.echo("webhook worker running", err=True)
    worker.run_forever()


@command(webhooks_group, "subscribe")
@click.option("--url", required=True, help="Where deliveries are POSTed (https; checked against AUTHSERVER_WEBHOOK_*).")
@click.option(
    "--account",
    "account_id",
    default=None,
    help="Events of this account. Default: none; give one of --account, --integration, --resource-service.",
)
@click.option("--integration", "integration_id", default=None, help="Events of this integration only. Default: none.")
@click.option(
    "--resource-service",
    "client_id",
    default=None,
    help="A resource service's client id (revocation events only). Default: none.",
)
@click.option(
    "--event",
    "events",
    multiple=True,
    help="Event type; repeat. Default: every token and integration event allowed. Data events (contact.created, "
    "calendar.event.created, ...) are named one by one and need --integration holding their read scope.",
)
@click.option(
    "--signing",
    type=click.Choice(["ed25519", "hmac"]),
    default="ed25519",
    show_default=True,
    help="ed25519 (verify with the public key) or hmac (a shared secret, shown once).",
)
@click.option("--description", default=None, help="Free text. Default: none.")
@json_option
def webhooks_subscribe(url, account_id, integration_id, client_id, events, signing, description, as_json):
    """Subscribe a URL to signed webhook deliveries of an account's, an integration's or a service's events."""
    row, secret = subscriptions.create_subscription(
        OPERATOR,
        url=url,
        now=now(),
        policy=DestinationPolicy.from_config(current_app.config),
        keys=services().webhook_keys,
        account_id=account_id,
        integration_id=integration_id,
        client_id=client_id,
        events=list(events) or None,
        signing=signing,
        description=description,
    )
    payload = subscriptions.serialize_subscription(row)
    if secret:
        payload["secret"] = secret
    else:
        payload["public_key"] = services().webhook_keys.public_key()
    text = row.id + (
        f"\nsecret: {secret}\n(the secret is shown only once)"
        if secret
        else f"\nverify v1a signatures with {payload['public_key']}"
    )
    emit(as_json, payload, text)


@command(webhooks_group, "list")
@click.option("--account", "account_id", default=None, help="Only this account's (default: all).")
@json_option
def webhooks_list(account_id, as_json):
    """Webhook subscriptions with their URL, events and signing."""
    rows = [subscriptions.serialize_subscription(r) for r in subscriptions.list_subscriptions(OPERATOR, account_id)]
    text = "\n".join(f"{r['id']}  {r['status']:8}  {r['owner']:16} {r['url']}  [{' '.join(r['events'])}]" for r in rows)
    emit(as_json, {"webhooks": rows}, text or "(no webhooks)")


@command(webhooks_group, "delete")
@click.argument("subscription_id")
@json_option
def webhooks_delete(subscription_id, as_json):
    """Unsubscribe: nothing more is sent and pending deliveries are cancelled (kept for the audit trail)."""
    subscriptions.delete_subscription(OPERATOR, subscription_id, now=now())
    emit(as_json, {"id": subscription_id, "status": "deleted"}, f"{subscription_id} deleted")


@command(webhooks_group, "deliveries")
@click.argument("subscription_id")
@click.option(
    "--status",
    type=click.Choice(["pending", "succeeded", "failed", "cancelled"]),
    default=None,
    help="Only deliveries in this state. Default: all.",
)
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1, 500), help="At most this many, newest first."
)
@json_option
def webhooks_deliveries(subscription_id, status, limit, as_json):
    """The delivery log: status, attempts and last error of each delivery."""
    moment = now()
    rows = [
        deliveries.serialize_delivery(d, e, moment)
        for d, e in deliveries.list_deliveries(OPERATOR, subscription_id, limit=limit, status=status)
    ]
    text = "\n".join(
        f"{r['id']}  {r['event']['type']:28} {r['status']:9} attempts={r['attempts']}  {r['last_error'] or ''}"
        for r in rows
    )
    emit(as_json, {"deliveries": rows}, text or "(no deliveries)")


@command(webhooks_group, "redeliver")
@click.argument("delivery_id")
@json_option
def webhooks_redeliver(delivery_id, as_json):
    """Send a delivery again, due now with a fresh retry window (after a receiver was fixed, or to replay)."""
    moment = now()
    row = deliveries.redeliver(OPERATOR, delivery_id, now=moment)
    emit(as_json, deliveries.serialize_delivery(row, None, moment), f"{row.id} queued for delivery")


@command(webhooks_group, "scan")
@json_option
def webhooks_scan(as_json):
    """Emit token.expiring / token.expired notices that are due (the worker also does this every minute)."""
    emitted = expiring.scan(now())
    emit(as_json, {"emitted": emitted}, f"{emitted} notice(s) emitted")


@command(webhooks_group, "public-key")
@json_option
def webhooks_public_key(as_json):
    """The active verification key, and every key receivers may meet now (two during a rotation's overlap)."""
    keys = services().webhook_keys
    published = keys.published(now())
    payload = {"public_key": keys.public_key(), "keys": published, "algorithm": "ed25519", "signature_version": "v1a"}
    emit(as_json, payload, "\n".join(f"{k['public_key']}  {k['kid']}  {k['status']}" for k in published))


@command(webhooks_group, "rotate-key")
@click.option("--overlap", default="24h", show_default=True, help="How long the old key still signs and is published.")
@json_option
def webhooks_rotate_key(overlap, as_json):
    """A new Ed25519 signing key from now; the old one signs alongside it until the overlap ends."""
    seconds = duration(overlap, "overlap")
    moment = now()
    previous, new = services().webhook_keys.rotate(moment, seconds)
    before = {"active": previous.kid}
    after = {"active": new.kid, "retiring": previous.kid, "retiring_until": previous.describe(moment)["retiring_until"]}
    emit_event(de.WebhookSigningKeyRotated(actor=OPERATOR, now=moment, kid=new.kid, before=before, after=after))
    payload = {"kid": new.kid, "public_key": new.public_key(), "previous": previous.describe(moment)}
    emit(
        as_json,
        payload,
        f"{new.kid} signs from now ({new.public_key()})\n{previous.kid} also signs until {after['retiring_until']}",
    )
