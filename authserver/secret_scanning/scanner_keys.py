"""The scanner's public keys: its key document (GitHub's format), fetched with a short timeout and cached.

    {"public_keys": [{"key_identifier": "<hex>", "key": "-----BEGIN PUBLIC KEY-----...", "is_current": true}]}

Only ECDSA P-256 keys are kept (the partner program signs with ECDSA NIST P-256 and SHA-256). The document is
fetched on first use and again once it is ``max_age`` old; an alert naming a key the cache does not hold triggers a
refetch, but never more than once per ``refetch_interval``, so forged identifiers cannot make us hammer the
scanner. A failed fetch (network, status, size, shape) keeps the keys already held.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

log = logging.getLogger("authserver.secret_scanning")

FETCH_TIMEOUT = 5.0  # seconds to connect and for each read: an alert waits on this at most once per interval
MAX_DOCUMENT_BYTES = 64 * 1024  # GitHub's document holds a handful of keys, well under 4 KiB
MAX_KEYS = 50
MAX_IDENTIFIER_LENGTH = 256
REFETCH_INTERVAL = 60.0  # at most one fetch per minute per process, whatever alerts name
MAX_AGE = 3600.0  # a held document is fetched again after an hour (retired keys drop out, new ones come in)


class KeyDocumentError(Exception):
    """The key document could not be fetched or read; the message is one line for the log."""


@dataclass(frozen=True)
class ScannerKey:
    identifier: str
    key: ec.EllipticCurvePublicKey
    is_current: bool


def parse_key_document(raw: bytes) -> dict[str, ScannerKey]:
    """The P-256 keys of a key document by identifier; a document without any usable key is an error (so a broken
    document never replaces good keys)."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise KeyDocumentError("the key document is not JSON") from None
    entries = document.get("public_keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeyDocumentError('the key document has no "public_keys" list')
    keys: dict[str, ScannerKey] = {}
    for entry in entries[:MAX_KEYS]:
        parsed = _parse_entry(entry)
        if parsed is not None:
            keys[parsed.identifier] = parsed
    if not keys:
        raise KeyDocumentError("the key document holds no ECDSA P-256 public key")
    return keys


def _parse_entry(entry: object) -> ScannerKey | None:
    if not isinstance(entry, dict):
        return None
    identifier, pem = entry.get("key_identifier"), entry.get("key")
    if not isinstance(identifier, str) or not is_key_identifier(identifier) or not isinstance(pem, str):
        return None
    try:
        key = load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return ScannerKey(identifier, key, entry.get("is_current") is True)


def is_key_identifier(value: str) -> bool:
    """A plausible identifier (GitHub's are 64 hex digits): short printable ASCII, so it is safe to log."""
    return 0 < len(value) <= MAX_IDENTIFIER_LENGTH and value.isascii() and value.isprintable() and " " not in value


def fetch_key_document(url: str, timeout: float = FETCH_TIMEOUT) -> dict[str, ScannerKey]:
    """GET the document, at most ``MAX_DOCUMENT_BYTES``, no redirects (the configured URL is the trusted one)."""
    try:
        with requests.get(url, timeout=timeout, stream=True, allow_redirects=False) as response:
            if response.status_code != 200:
                raise KeyDocumentError(f"the key document answered {response.status_code}")
            raw = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise KeyDocumentError(f"the key document could not be fetched: {exc.__class__.__name__}") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise KeyDocumentError(f"the key document is larger than {MAX_DOCUMENT_BYTES} bytes")
    return parse_key_document(raw)


class ScannerKeys:
    """The cached keys of one scanner, shared by a process's request threads: one fetch at a time."""

    def __init__(
        self,
        url: str,
        *,
        fetch: Callable[[str], dict[str, ScannerKey]] = fetch_key_document,
        monotonic: Callable[[], float] = time.monotonic,
        refetch_interval: float = REFETCH_INTERVAL,
        max_age: float = MAX_AGE,
    ) -> None:
        self.url = url
        self._fetch, self._monotonic = fetch, monotonic
        self.refetch_interval, self.max_age = refetch_interval, max_age
        self._keys: dict[str, ScannerKey] = {}
        self._fetched_at: float | None = None  # when the keys held were fetched
        self._tried_at: float | None = None  # when a fetch was last tried, successful or not
        self._lock = threading.Lock()
        self.fetches = 0  # fetches tried: the amplification guard's tests count them

    def key_for(self, identifier: str) -> ec.EllipticCurvePublicKey | None:
        """The key named ``identifier``, fetching the document when it is not held (or the held one is old) and
        the last try is at least ``refetch_interval`` ago; None if it is still unknown."""
        if not is_key_identifier(identifier):
            return None
        with self._lock:
            held = self._keys.get(identifier)
            if (held is None or self._is_stale()) and self._may_try():
                self._refresh()
                held = self._keys.get(identifier)
            return held.key if held is not None else None

    def _is_stale(self) -> bool:
        return self._fetched_at is None or self._monotonic() - self._fetched_at >= self.max_age

    def _may_try(self) -> bool:
        return self._tried_at is None or self._monotonic() - self._tried_at >= self.refetch_interval

    def _refresh(self) -> None:
        self._tried_at = self._monotonic()
        self.fetches += 1
        try:
            keys = self._fetch(self.url)
        except KeyDocumentError as exc:
            log.warning("secret scanning: %s; keeping %d key(s) held", exc, len(self._keys))
            return
        self._keys, self._fetched_at = keys, self._monotonic()
