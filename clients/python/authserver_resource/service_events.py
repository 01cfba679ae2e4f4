"""Publish data events (``contact.created``, ...) to the authorization server, which signs and delivers them as
webhooks to the account's integrations that hold the event's read scope (``POST /api/service-events``).

``publish`` never blocks a request: it puts the event in a bounded queue and returns its id. A thread sends the
queue in order, authenticated as this service's resource-service client (which must be bound to an account). A
failure it can outlive (the server away, 5xx, 429) is retried with backoff, always with the same ``id``, so the
server delivers the event once however often it arrives. A refusal (400, 401, 403, 409) is logged and dropped: it
would be refused again. When the queue is full (the server away for long), new events are dropped and counted.

    events = ServiceEvents(settings)
    events.start()
    events.publish("contact.created", account_id, {"id": contact.id, "name": contact.name})
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from datetime import UTC, datetime

import requests

from .authserver_client import retry_after_seconds
from .background import BackgroundLoop
from .settings import Settings

log = logging.getLogger("authserver_resource")

PATH = "/api/service-events"
MAX_DELAY = 30.0


class ServiceEvents(BackgroundLoop):
    name = "authserver-resource-events"

    def __init__(self, settings: Settings, *, max_pending: int = 10_000, retry_base: float = 0.5) -> None:
        super().__init__()
        self.url = settings.issuer + PATH
        self.timeout = settings.http_timeout
        self.max_pending = max_pending
        self.retry_base = retry_base
        self.sent = self.refused = self.dropped = 0
        self._auth = (settings.client_id, settings.client_secret)
        self._user_agent = settings.user_agent
        self._queue: deque[dict] = deque()
        self._ready = threading.Condition()
        self._session: requests.Session | None = None
        self._warned: set[int] = set()

    def publish(
        self, event_type: str, account_id: str, data: dict, *, id: str | None = None, occurred_at: str | None = None
    ) -> str | None:
        """Queue an event; returns its id (None if the queue was full and it was dropped)."""
        event_id = id or f"evt_{uuid.uuid4().hex}"
        event = {
            "type": event_type,
            "account_id": account_id,
            "id": event_id,
            "occurred_at": occurred_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": data,
        }
        with self._ready:
            if len(self._queue) >= self.max_pending:
                self.dropped += 1
                return None
            self._queue.append(event)
            self._ready.notify()
        return event_id

    @property
    def pending(self) -> int:
        return len(self._queue)

    # -- the sending thread -------------------------------------------------------------------------------
    def run(self) -> None:
        failures = 0
        while not self.stopping():
            with self._ready:
                if not self._queue:
                    self._ready.wait(0.5)
                    continue
                event = self._queue[0]
            wait = self._send(event)
            if wait is None:
                failures = 0
                with self._ready:
                    if self._queue and self._queue[0] is event:
                        self._queue.popleft()
            else:
                failures += 1
                self.sleep(max(wait, min(self.retry_base * 2 ** (failures - 1), MAX_DELAY)))

    def stop(self) -> None:
        with self._ready:
            self._ready.notify_all()
        super().stop()

    def _send(self, event: dict) -> float | None:
        """None when the event is done with (accepted, or refused for good); else seconds to wait first."""
        if self._session is None:
            self._session = requests.Session()
            self._session.headers["User-Agent"] = self._user_agent
        try:
            response = self._session.post(
                self.url, json=event, auth=self._auth, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            log.warning("service event %s not sent (%s); will retry", event["type"], exc.__class__.__name__)
            return 0.0
        if response.status_code == 202:
            self.sent += 1
            return None
        if response.status_code == 429:
            return retry_after_seconds(response.headers.get("Retry-After"))
        if response.status_code >= 500:
            log.warning("service event %s: the server answered %s; will retry", event["type"], response.status_code)
            return 0.0
        self.refused += 1
        # Once per kind of refusal at warning (an unbound client is refused for every event), then at debug.
        level = logging.DEBUG if response.status_code in self._warned else logging.WARNING
        self._warned.add(response.status_code)
        log.log(level, "service event %s refused (%s): %s", event["type"], response.status_code, _detail(response))
        return None


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no detail"
    return str(body.get("detail", "no detail"))[:200] if isinstance(body, dict) else "no detail"
