"""Resource indicators (RFC 8707): the URIs naming the v2 services an integration's tokens are limited to.

One home for what a valid one is: an absolute URI, https (http only for a loopback host, for development), no
fragment (RFC 8707 section 2), bounded in length; an integration names at most ``MAX_RESOURCES``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .errors import InvalidInputError

MAX_RESOURCES = 10
MAX_RESOURCE_LENGTH = 500
_LOOPBACK_NAMES = frozenset({"localhost"})


def is_resource_uri(value: object) -> bool:
    """Whether ``value`` is a resource indicator this server accepts (and so may appear in a token's ``aud``)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_RESOURCE_LENGTH:
        return False
    if not value.isascii() or not value.isprintable() or " " in value or "#" in value:
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  # raises on a malformed port
    except ValueError:
        return False
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and _is_loopback(parts.hostname)


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_resource(value: object, *, field: str = "resource") -> str:
    if not is_resource_uri(value):
        raise InvalidInputError(
            f"{field} must be an absolute https URI (http only for a loopback host) without a fragment, "
            f"of at most {MAX_RESOURCE_LENGTH} characters",
            field=field,
        )
    assert isinstance(value, str)
    return value


def parse_resources(value: object, *, field: str = "resources") -> tuple[str, ...]:
    """A list of resource URIs, deduplicated and sorted; empty means unrestricted (the default audience)."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise InvalidInputError(f"{field} must be a list of URIs", field=field)
    if len(value) > MAX_RESOURCES:
        raise InvalidInputError(f"{field} names at most {MAX_RESOURCES} services", field=field)
    return tuple(sorted({parse_resource(item, field=field) for item in value}))


def format_resources(resources: tuple[str, ...]) -> str | None:
    return " ".join(resources) or None


def split_resources(stored: str | None) -> list[str]:
    return sorted((stored or "").split())
