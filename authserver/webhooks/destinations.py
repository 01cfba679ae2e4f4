"""Where a webhook may be sent: server-side request forgery checks on subscription URLs.

https only by default; no loopback, private, link-local (cloud metadata), shared, multicast or reserved address,
unless an operator lists it in ``AUTHSERVER_WEBHOOK_ALLOW_HOSTS``; an IPv6 address that carries an IPv4 one (NAT64,
6to4, Teredo, IPv4-compatible, -mapped, -translated) is refused if either is (``addresses.py``). Checked when a
subscription is saved and again before every attempt, on the addresses DNS returns then; the request is sent to the
address that was checked, so a name that re-resolves elsewhere (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from ..errors import InvalidInputError
from .addresses import IPAddress, is_public_address

MAX_URL_LENGTH = 2048


class DestinationRefusedError(InvalidInputError):
    """The URL, or an address it resolves to, is not a place webhooks may go."""

    code = "destination_refused"


@dataclass(frozen=True)
class DestinationPolicy:
    allow_http: bool = False
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_config(cls, config: dict) -> DestinationPolicy:
        return cls(
            allow_http=bool(config.get("AUTHSERVER_WEBHOOK_ALLOW_HTTP")),
            allowed_networks=tuple(
                ipaddress.ip_network(item, strict=False) for item in config.get("AUTHSERVER_WEBHOOK_ALLOW_HOSTS", ())
            ),
        )

    def is_allowed_address(self, address: IPAddress) -> bool:
        """Public, or listed by the operator. A listed IPv4 network allows its IPv4-mapped spelling (the same host
        on this machine), never a NAT64, 6to4 or Teredo one, which a gateway elsewhere would deliver."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        if any(address in network for network in self.allowed_networks):
            return True
        return is_public_address(address)


@dataclass(frozen=True)
class Destination:
    """A checked URL and the address the request must go to."""

    url: SplitResult
    address: str
    port: int

    @property
    def host(self) -> str:
        return self.url.hostname or ""

    @property
    def target(self) -> str:
        """The request target: path and query, never the fragment."""
        path = self.url.path or "/"
        return f"{path}?{self.url.query}" if self.url.query else path


def check_url(url: object, policy: DestinationPolicy) -> SplitResult:
    """The URL's shape: absolute, https (or http if allowed), no credentials, a host."""
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_LENGTH:
        raise DestinationRefusedError(
            f"url must be an absolute URL of at most {MAX_URL_LENGTH} characters", field="url"
        )
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise DestinationRefusedError("url is not a valid URL", field="url") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes:
        raise DestinationRefusedError("webhook URLs must use https", field="url")
    if not parts.hostname:
        raise DestinationRefusedError("url must name a host", field="url")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefusedError("url must not carry credentials", field="url")
    if port == 0 or any(ord(ch) < 33 for ch in url.strip()):
        raise DestinationRefusedError("url is not a valid URL", field="url")
    return parts


def resolve(url: object, policy: DestinationPolicy) -> Destination:
    """Check the URL, resolve its host now and refuse if *any* address is not allowed."""
    parts = check_url(url, policy)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DestinationRefusedError(f"the host {parts.hostname!r} does not resolve", field="url") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise DestinationRefusedError(f"the host {parts.hostname!r} does not resolve", field="url")
    refused = [str(a) for a in addresses if not policy.is_allowed_address(a)]
    if refused:
        raise DestinationRefusedError(
            f"webhooks may not be sent to {refused[0]}: loopback, private, link-local and metadata addresses "
            "are refused unless the operator allows them",
            field="url",
        )
    return Destination(url=parts, address=str(addresses[0]), port=port)
