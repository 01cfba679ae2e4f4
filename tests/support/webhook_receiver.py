"""A real webhook receiver on 127.0.0.1, and signature checks done by implementations other than ours.

``WebhookReceiver`` records every request and answers from a script (e.g. ``[500, 500, 500]`` then 204), or holds
the first request open until released (to kill a worker mid-delivery). ``verify_ed25519`` checks ``v1a``
signatures with libsodium (PyNaCl); ``verify_hmac`` checks ``v1`` signatures with the Standard Webhooks reference
library. Neither shares code with the server's signing.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from nacl.signing import VerifyKey
from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> dict:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return self.payload["type"]


class WebhookReceiver:
    def __init__(
        self, statuses: list[int] | None = None, *, default_status: int = 204, hold_first: bool = False
    ) -> None:
        self.statuses = list(statuses or [])
        self.default_status = default_status
        self.requests: list[Received] = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        self._hold_first = hold_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                with receiver._lock:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    first = len(receiver.requests) == 1
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default_status
                if first and receiver._hold_first:
                    receiver.first_arrived.set()
                    receiver.release.wait(30)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/hooks"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(
            f"expected {count} webhook request(s), got {len(self.requests)}: {[r.body for r in self.requests]}"
        )

    def of_type(self, event_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.type == event_type]


def verify_ed25519(public_key: str, received: Received) -> dict:
    """Standard Webhooks asymmetric scheme: ``v1a,<base64 ed25519 signature>`` over ``id.timestamp.body``."""
    key = VerifyKey(base64.b64decode(public_key.removeprefix("whpk_")))
    content = f"{received.headers['webhook-id']}.{received.headers['webhook-timestamp']}.{received.body}".encode()
    for signature in received.headers["webhook-signature"].split(" "):
        version, _, value = signature.partition(",")
        if version == "v1a":
            key.verify(content, base64.b64decode(value))  # raises BadSignatureError
            return json.loads(received.body)
    raise AssertionError("no v1a signature")


def verify_hmac(secret: str, received: Received) -> dict:
    """The reference library also checks the timestamp is within 5 minutes of now."""
    return Webhook(secret).verify(received.body, received.headers)
