"""The alert body, read only after its signature verified: a JSON array of found tokens, in GitHub's format.

    [{"token": "eyJ...", "type": "authserver_access_token", "url": "https://github.com/...", "source": "content"}]

Anything else is a ``MalformedAlertError`` (400). Sizes are bounded so an alert cannot make the server do
unbounded work: the body (``MAX_ALERT_BYTES``, 413), the entries, and the texts kept in the audit trail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

TOKEN_TYPE = "authserver_access_token"  # noqa: S105 (the type name registered with scanners)
MAX_ALERT_BYTES = 1024 * 1024
MAX_ENTRIES = 1000
MAX_URL_LENGTH = 2048
MAX_SOURCE_LENGTH = 64
MAX_TYPE_LENGTH = 100


class MalformedAlertError(Exception):
    """Not an alert in the expected shape; the message says which part."""


@dataclass(frozen=True)
class FoundToken:
    """One entry: the token text as found, the type the scanner matched it as, and where it was found."""

    token: str
    type: str
    url: str
    source: str


def parse_alert(body: bytes) -> list[FoundToken]:
    try:
        entries = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedAlertError("the body is not JSON") from None
    if not isinstance(entries, list) or not entries:
        raise MalformedAlertError("the body must be a non-empty JSON array of found tokens")
    if len(entries) > MAX_ENTRIES:
        raise MalformedAlertError(f"at most {MAX_ENTRIES} tokens per alert")
    return [_entry(index, entry) for index, entry in enumerate(entries)]


def _entry(index: int, entry: object) -> FoundToken:
    if not isinstance(entry, dict):
        raise MalformedAlertError(f"entry {index} is not an object")
    token, kind = entry.get("token"), entry.get("type")
    if not isinstance(token, str) or not token:
        raise MalformedAlertError(f'entry {index}: "token" must be a non-empty string')
    if not isinstance(kind, str) or not kind or len(kind) > MAX_TYPE_LENGTH:
        raise MalformedAlertError(f'entry {index}: "type" must be a string of at most {MAX_TYPE_LENGTH} characters')
    url = _optional_text(entry, "url", index, MAX_URL_LENGTH)
    source = _optional_text(entry, "source", index, MAX_SOURCE_LENGTH)
    return FoundToken(token=token, type=kind, url=url, source=source)


def _optional_text(entry: dict[str, object], name: str, index: int, limit: int) -> str:
    value = entry.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise MalformedAlertError(f'entry {index}: "{name}" must be a printable string of at most {limit} characters')
    return value
