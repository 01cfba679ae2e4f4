"""Send one webhook request: to the address that was checked, with an overall deadline, no redirects.

Standard library only (``http.client``): the connection goes to the pinned address while ``Host`` and TLS (SNI and
certificate checks) use the URL's host name. Any 2xx is success; 3xx is a failure (redirects are not followed).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from dataclasses import dataclass

from .destinations import Destination

USER_AGENT = "authserver-webhooks/1"
MAX_RESPONSE_BYTES = 4096


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        """410: the receiver asks us to stop sending (Standard Webhooks)."""
        return self.status == 410


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = destination.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, destination: Destination, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(destination.host, destination.port, timeout=timeout, context=self._tls)
        self._address = destination.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def pinned_connection(destination: Destination, timeout: float) -> http.client.HTTPConnection:
    """A connection to the address ``resolve`` checked, never to a second lookup of the host (DNS rebinding), with
    TLS verified against the host name; shared by webhook deliveries and Check access pings."""
    cls = _PinnedHTTPSConnection if destination.url.scheme == "https" else _PinnedHTTPConnection
    return cls(destination, timeout)


def post(destination: Destination, body: bytes, headers: dict[str, str], *, timeout: float) -> Outcome:
    """POST ``body``; never raises for network trouble, which is reported in the outcome instead."""
    connection = pinned_connection(destination, timeout)
    # Per-operation socket timeouts do not bound a receiver that trickles bytes: close it at the deadline.
    watchdog = threading.Timer(timeout, connection.close)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "POST",
            destination.target,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return Outcome(
            status=response.status,
            error=None if 200 <= response.status < 300 else f"HTTP {response.status}",
            retry_after=_retry_after(response.getheader("Retry-After")),
        )
    except (OSError, http.client.HTTPException, ValueError, AttributeError) as exc:
        timed_out = not watchdog.is_alive() or isinstance(exc, TimeoutError)
        detail = "timed out" if timed_out else f"{exc.__class__.__name__}: {exc}"
        return Outcome(status=None, error=detail[:500])
    finally:
        watchdog.cancel()
        connection.close()


def _retry_after(value: str | None) -> float | None:
    """Only the delay-seconds form; an HTTP-date is ignored (backoff applies)."""
    if value and value.strip().isdigit():
        return float(value.strip())
    return None
