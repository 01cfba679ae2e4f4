"""Admin API for webhooks: subscriptions, the delivery log, redelivery by hand, and the public verification key."""

from __future__ import annotations

from flask import current_app, jsonify, request

from ..errors import InvalidInputError
from ..services import services
from ..webhooks import catalogue, deliveries, subscriptions
from ..webhooks.destinations import DestinationPolicy
from .auth import current_principal
from .blueprint import bp
from .parsing import digits_param, json_body, string_field


def _now():
    return services().clock.now()


@bp.get("/webhooks/public-key")
def webhook_public_key():
    """Public by design: receivers verify ``v1a`` (Ed25519) signatures with it. ``keys``: every key that signs now
    (two during a rotation's overlap, when each delivery carries both signatures)."""
    keys = services().webhook_keys
    response = jsonify(
        public_key=keys.public_key(),
        keys=keys.published(_now()),
        algorithm="ed25519",
        signature_version="v1a",
        signed_content="{webhook-id}.{webhook-timestamp}.{body}",
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/webhooks/events")
def webhook_event_types():
    current_principal()
    return jsonify(events=catalogue.describe())


@bp.get("/accounts/<account_id>/webhooks")
def list_webhooks(account_id):
    rows = subscriptions.list_subscriptions(current_principal(), account_id)
    return jsonify(webhooks=[subscriptions.serialize_subscription(row) for row in rows])


@bp.post("/accounts/<account_id>/webhooks")
def create_webhook(account_id):
    """``{"url", "events": [...], "signing": "ed25519"|"hmac", "integration_id"?}``; an hmac secret is shown once."""
    principal, data = current_principal(), json_body()
    integration_id = string_field(data, "integration_id")
    row, secret = subscriptions.create_subscription(
        principal,
        url=data.get("url"),
        now=_now(),
        policy=DestinationPolicy.from_config(current_app.config),
        keys=services().webhook_keys,
        account_id=account_id,
        integration_id=integration_id,
        events=data.get("events"),
        signing=data.get("signing", "ed25519"),
        description=data.get("description"),
    )
    body = subscriptions.serialize_subscription(row)
    if secret is not None:
        body["secret"] = secret
    else:
        body["public_key"] = services().webhook_keys.public_key()
    response = jsonify(body)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/webhooks/<subscription_id>")
def get_webhook(subscription_id):
    row = subscriptions.get_subscription_for(current_principal(), subscription_id)
    return jsonify(subscriptions.serialize_subscription(row))


@bp.delete("/webhooks/<subscription_id>")
def delete_webhook(subscription_id):
    subscriptions.delete_subscription(current_principal(), subscription_id, now=_now())
    return "", 204


@bp.get("/webhooks/<subscription_id>/deliveries")
def list_webhook_deliveries(subscription_id):
    limit = digits_param("limit", "100")
    status = request.args.get("status") or None
    if status not in (None, "pending", "succeeded", "failed", "cancelled"):
        raise InvalidInputError("status must be pending, succeeded, failed or cancelled", field="status")
    now = _now()
    rows = deliveries.list_deliveries(current_principal(), subscription_id, limit=limit, status=status)
    return jsonify(deliveries=[deliveries.serialize_delivery(d, e, now) for d, e in rows])


@bp.get("/webhook-deliveries/<delivery_id>")
def get_webhook_delivery(delivery_id):
    row = deliveries.get_delivery_for(current_principal(), delivery_id)
    return jsonify(deliveries.serialize_delivery(row, None, _now()))


@bp.post("/webhook-deliveries/<delivery_id>/redeliver")
def redeliver_webhook(delivery_id):
    now = _now()
    row = deliveries.redeliver(current_principal(), delivery_id, now=now)
    return jsonify(deliveries.serialize_delivery(row, None, now)), 202
