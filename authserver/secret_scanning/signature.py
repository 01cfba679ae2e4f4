"""The alert's signature: ``Github-Public-Key-Signature`` is base64 of an ASN.1 DER ECDSA (P-256, SHA-256)
signature of the raw request body, by the key ``Github-Public-Key-Identifier`` names in the scanner's key document.
Checked before anything reads the body."""

from __future__ import annotations

import binascii
from base64 import b64decode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from .scanner_keys import ScannerKeys

MAX_SIGNATURE_LENGTH = 200  # base64 of a DER P-256 signature is at most 96 characters


class SignatureError(Exception):
    """The alert is not proven to come from the scanner; the message says why, without echoing the input."""


def verify_alert(keys: ScannerKeys, identifier: str | None, signature: str | None, body: bytes) -> None:
    """Raise SignatureError unless ``signature`` is the key ``identifier``'s signature of ``body``."""
    if not identifier or not signature:
        raise SignatureError("Github-Public-Key-Identifier and Github-Public-Key-Signature are required")
    raw = _decode(signature)
    key = keys.key_for(identifier.strip())
    if key is None:
        raise SignatureError("unknown Github-Public-Key-Identifier")
    try:
        key.verify(raw, body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureError("the signature does not match the body") from None


def _decode(signature: str) -> bytes:
    text = signature.strip()
    if len(text) > MAX_SIGNATURE_LENGTH:
        raise SignatureError("Github-Public-Key-Signature is too long")
    try:
        raw = b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("Github-Public-Key-Signature is not base64") from None
    if not raw:
        raise SignatureError("Github-Public-Key-Signature is empty")
    return raw
