"""The delivery worker: scan for expiring tokens, lease due deliveries, sign and send them, record the outcome.

Run it as ``authserver webhooks worker`` (any number of them: leases keep them apart) or inside ``authserver run``
with ``AUTHSERVER_WEBHOOK_WORKER=in-process``.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from ..extensions import db
from ..metrics import count_webhook_delivery
from ..models import Integration, WebhookDelivery, WebhookEvent, WebhookSubscription
from ..services import services
from . import catalogue, deliveries, expiring, outbox, transport
from .destinations import DestinationPolicy, DestinationRefusedError, resolve

log = logging.getLogger("authserver.webhooks")
SCAN_INTERVAL = 60.0


class WebhookWorker:
    def __init__(self, app, *, concurrency: int = 4) -> None:
        self.app = app
        config = app.config
        self.clock = services(app).clock
        self.timeout = config["AUTHSERVER_WEBHOOK_TIMEOUT"]
        self.retry_base = config["AUTHSERVER_WEBHOOK_RETRY_BASE"]
        self.poll_interval = config["AUTHSERVER_WEBHOOK_POLL_INTERVAL"]
        self.policy = DestinationPolicy.from_config(config)
        self.keys = services(app).webhook_keys
        self.concurrency = concurrency
        self._last_scan = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass -------------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Scan if due, then attempt every due delivery one after another; returns how many were attempted."""
        self.scan_if_due()
        with self.app.app_context():
            ids = deliveries.due_ids(self.clock.now(), limit=500)
        return sum(self.deliver(delivery_id) for delivery_id in ids)

    def scan_if_due(self) -> None:
        if time.monotonic() - self._last_scan < SCAN_INTERVAL:
            return
        self._last_scan = time.monotonic()
        with self.app.app_context():
            try:
                expiring.scan(self.clock.now())
            except Exception:
                db.session.rollback()
                log.exception("expiring-token scan failed; will retry")

    def deliver(self, delivery_id: str) -> bool:
        """One attempt at one delivery, in its own app context (threads each get their own session)."""
        with self.app.app_context():
            try:
                return self._attempt(delivery_id)
            except Exception:
                db.session.rollback()
                log.exception("webhook delivery %s failed unexpectedly; its lease will run out", delivery_id)
                return False

    def _attempt(self, delivery_id: str) -> bool:
        now = self.clock.now()
        lease = deliveries.claim(delivery_id, now, lease_seconds=self.timeout + deliveries.LEASE_MARGIN)
        if lease is None:
            return False
        delivery = db.session.get_one(WebhookDelivery, delivery_id)  # claimed just now
        subscription = db.session.get_one(WebhookSubscription, delivery.subscription_id)  # foreign keys
        event = db.session.get_one(WebhookEvent, delivery.event_id)
        if subscription.status != "active":
            deliveries.give_up(delivery_id, now, status="cancelled", error=f"subscription {subscription.status}")
            count_webhook_delivery("cancelled")
            return True
        refusal = self._data_refusal(subscription, event)
        if refusal is not None:  # narrowing an integration's scope stops its data events at once
            deliveries.give_up(delivery_id, now, status="cancelled", error=refusal)
            count_webhook_delivery("cancelled")
            return True
        try:
            destination = resolve(subscription.url, self.policy)  # again, now: DNS may have changed
        except DestinationRefusedError as exc:
            status = deliveries.record_failure(
                delivery_id, lease, now, error=exc.detail, status_code=None, base=self.retry_base
            )
            count_webhook_delivery(_outcome(status), "destination_refused")
            return True
        timestamp = int(self.clock.now().timestamp())
        headers = {
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.keys.signature(
                subscription.signing, subscription.sealed_secret, event.id, timestamp, event.body
            ),
        }
        body, subscription_id = event.body.encode(), subscription.id
        db.session.rollback()  # hold no transaction (or SQLite lock) while waiting on the network
        outcome = transport.post(destination, body, headers, timeout=self.timeout)
        finished = self.clock.now()
        if outcome.ok:
            assert outcome.status is not None  # ok is a 2xx status
            deliveries.record_success(delivery_id, finished, outcome.status)
            count_webhook_delivery("succeeded")
        elif outcome.gone:
            self._disable(subscription_id, finished)
            deliveries.give_up(
                delivery_id,
                finished,
                status="failed",
                error="receiver answered 410 Gone; the subscription was disabled",
                status_code=410,
            )
            count_webhook_delivery("failed", "gone")
        else:
            status = deliveries.record_failure(
                delivery_id,
                lease,
                finished,
                error=outcome.error or "failed",
                status_code=outcome.status,
                base=self.retry_base,
                retry_after=outcome.retry_after,
            )
            count_webhook_delivery(_outcome(status), failure_reason(outcome))
        return True

    @staticmethod
    def _data_refusal(subscription: WebhookSubscription, event: WebhookEvent) -> str | None:
        """A data event goes out only while the subscription's integration holds its read scope, asked now."""
        if catalogue.required_scope(event.type) is None:
            return None
        found = db.session.get(Integration, subscription.integration_id) if subscription.integration_id else None
        return outbox.data_refusal(found, event.type)

    def _disable(self, subscription_id: str, now) -> None:
        subscription = db.session.get(WebhookSubscription, subscription_id)
        if subscription is not None and subscription.status == "active":
            subscription.status, subscription.disabled_reason = "disabled", "receiver answered 410 Gone"
            subscription.updated_at = now
            db.session.commit()

    # -- the loop -------------------------------------------------------------------------------------
    def run_forever(self) -> None:
        """Until ``stop()``: up to ``concurrency`` deliveries in flight; a slow receiver holds one slot only."""
        in_flight: set[str] = set()
        lock = threading.Lock()

        def done(delivery_id: str, _future: Future[bool]) -> None:
            with lock:
                in_flight.discard(delivery_id)

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="webhook") as pool:
            while not self._stop.is_set():
                self.scan_if_due()
                try:
                    with self.app.app_context():
                        ids = deliveries.due_ids(self.clock.now(), limit=self.concurrency * 4)
                except Exception as exc:  # the database may be away; try again shortly
                    log.warning("webhook worker cannot read due deliveries: %s", exc.__class__.__name__)
                    ids = []
                started = 0
                for delivery_id in ids:
                    with lock:
                        if delivery_id in in_flight or len(in_flight) >= self.concurrency:
                            continue
                        in_flight.add(delivery_id)
                    future = pool.submit(self.deliver, delivery_id)
                    future.add_done_callback(functools.partial(done, delivery_id))
                    started += 1
                self._stop.wait(0.05 if started else self.poll_interval)

    def start(self) -> WebhookWorker:
        self._thread = threading.Thread(target=self.run_forever, name="webhook-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking new deliveries; those in flight finish (or their leases run out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5 if timeout is None else timeout)


def _outcome(status: str) -> str:
    """A failed attempt's outcome from the delivery's new status: given up ("failed") or to be tried again."""
    return "failed" if status == "failed" else "retrying"


def failure_reason(outcome: transport.Outcome) -> str:
    """A bounded label for a failed attempt: timeout, network, or the receiver's status class (http_5xx)."""
    if outcome.status is None:
        return "timeout" if outcome.error == "timed out" else "network"
    return f"http_{outcome.status // 100}xx"


def start_in_process(app) -> WebhookWorker | None:
    """The worker as a thread of ``authserver run``, when configured; otherwise run ``authserver webhooks worker``."""
    if app.config.get("AUTHSERVER_WEBHOOK_WORKER") != "in-process":
        return None
    return WebhookWorker(app).start()
