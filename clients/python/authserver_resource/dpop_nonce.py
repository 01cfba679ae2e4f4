"""Resource-server DPoP nonces (RFC 9449 section 9), optional: proofs must then carry a ``nonce`` this service
issued recently, so a proof made ahead of time (by malware on the client, before the key was stolen) is useless.

Stateless, so several instances agree without sharing anything but the secret: a nonce is the time window it was
issued in and an HMAC-SHA256 of that window under the secret. One is accepted during its window and the next
(``lifetime`` to ``2 * lifetime`` seconds). A proof without a valid nonce is refused with ``use_dpop_nonce`` and the
current nonce in the ``DPoP-Nonce`` response header (section 9); the client retries with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

MIN_SECRET_LENGTH = 32
_MAC_LENGTH = 16


class NonceIssuer:
    def __init__(self, secret: str, lifetime: float) -> None:
        self._secret = secret.encode()
        self.lifetime = lifetime

    def current(self, now: float) -> str:
        """The nonce to hand out now."""
        return self._nonce(int(now // self.lifetime))

    def is_valid(self, nonce: object, now: float) -> bool:
        """True for a nonce of this window or the previous one, issued under this secret."""
        if not isinstance(nonce, str) or len(nonce) > 64:
            return False
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (binascii.Error, ValueError):
            return False
        if len(raw) != 8 + _MAC_LENGTH:
            return False
        (window,) = struct.unpack(">Q", raw[:8])
        current = int(now // self.lifetime)
        return window in (current, current - 1) and hmac.compare_digest(self._nonce(window), nonce)

    def _nonce(self, window: int) -> str:
        packed = struct.pack(">Q", window)
        mac = hmac.new(self._secret, b"dpop-nonce\n" + packed, hashlib.sha256).digest()[:_MAC_LENGTH]
        return base64.urlsafe_b64encode(packed + mac).rstrip(b"=").decode("ascii")
