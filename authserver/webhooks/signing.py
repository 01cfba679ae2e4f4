"""Standard Webhooks signatures over ``{webhook-id}.{webhook-timestamp}.{body}``.

Asymmetric by default: one server Ed25519 key (``v1a``) whose public half is published, so receivers hold no
secret. A subscription may instead ask for its own HMAC-SHA256 secret (``v1``); that secret must be recoverable
to sign, so it is stored sealed (AES-GCM under a key derived from the server's webhook key), never in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# A subdirectory: the JWT key store reads every *.pem at the top of the keys directory.
KEY_PATH = Path("webhooks") / "ed25519.pem"
SIGNING_SCHEMES = ("ed25519", "hmac")


def signed_content(msg_id: str, timestamp: int, body: str) -> bytes:
    return f"{msg_id}.{timestamp}.{body}".encode()


def new_hmac_secret() -> str:
    """A per-subscription secret in the spec's serialization: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def hmac_signature(secret: str, content: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


class WebhookKeys:
    """The server's webhook signing key, created on first use (safe when several processes race to create it)."""

    def __init__(self, keys_dir: str | Path) -> None:
        self.path = Path(keys_dir) / KEY_PATH
        self._key: ed25519.Ed25519PrivateKey | None = None
        self._lock = threading.Lock()

    def private_key(self) -> ed25519.Ed25519PrivateKey:
        with self._lock:
            if self._key is None:
                self._key = self._load_or_create()
            return self._key

    def _load_or_create(self) -> ed25519.Ed25519PrivateKey:
        if not self.path.exists():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            try:
                os.link(tmp, self.path)  # atomic and refuses to overwrite: the first creator wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"{self.path} is not an Ed25519 private key")
        return key

    def public_key(self) -> str:
        """The published verification key: ``whpk_`` + base64 of the raw 32-byte Ed25519 public key."""
        raw = self.private_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "whpk_" + base64.b64encode(raw).decode()

    def ed25519_signature(self, content: bytes) -> str:
        return "v1a," + base64.b64encode(self.private_key().sign(content)).decode()

    def _sealing_key(self) -> AESGCM:
        raw = self.private_key().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"authserver webhook secret sealing v1"
        ).derive(raw)
        return AESGCM(derived)

    def seal(self, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._sealing_key().encrypt(nonce, secret.encode(), b"webhook-secret")
        return base64.b64encode(nonce + sealed).decode()

    def unseal(self, sealed: str) -> str:
        raw = base64.b64decode(sealed)
        return self._sealing_key().decrypt(raw[:12], raw[12:], b"webhook-secret").decode()

    def signature(self, signing: str, sealed_secret: str | None, msg_id: str, timestamp: int, body: str) -> str:
        """The ``webhook-signature`` header value for one attempt."""
        content = signed_content(msg_id, timestamp, body)
        if signing == "hmac":
            if sealed_secret is None:
                raise ValueError("an hmac subscription without a secret")
            return hmac_signature(self.unseal(sealed_secret), content)
        return self.ed25519_signature(content)
