"""Standard Webhooks signatures over ``{webhook-id}.{webhook-timestamp}.{body}``.

Asymmetric by default: the server's Ed25519 keys (``v1a``), whose public halves are published, so receivers hold
no secret. A subscription may instead ask for its own HMAC-SHA256 secret (``v1``); that secret must be recoverable
to sign, so it is stored sealed (AES-GCM), never in clear.

Rotation (``authserver webhooks rotate-key``): a new key signs from now; the previous one is *retiring* until the
end of an overlap, during which every ``v1a`` delivery carries both signatures (the header holds several,
space-separated) and both public keys are published, so a receiver holding either key verifies. After the overlap
the old key is *gone*: unpublished, and its file deleted by the next prune (``authserver prune`` or the periodic
job). State lives in files, not the database: every instance must share the keys directory anyway (the JWT keys
are there too), and signing needs the private files; ``keyring.json`` is replaced atomically and read again when
it changes, so every process agrees within one delivery.

    keys/webhooks/ed25519.pem    the first key (the only one before rotation existed)
    keys/webhooks/<kid>.pem      keys made by rotation
    keys/webhooks/keyring.json   {"keys": [{"kid", "file", "created_at", "retiring_until"}]}: one key has no end
    keys/webhooks/sealing.key    the AES key sealing hmac secrets: stable across rotations

The sealing key was derived (HKDF) from the first Ed25519 key. It is written once to ``sealing.key`` (derived
exactly as before, so secrets sealed by earlier versions still open; random on a fresh install), before any
rotation can delete that key's file: sealed secrets never need re-sealing.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


@dataclass(frozen=True)
class RingKey:
    kid: str
    file: str
    created_at: datetime | None
    retiring_until: datetime | None  # None: the active key
    key: ed25519.Ed25519PrivateKey

    def public_key(self) -> str:
        """The published verification key: ``whpk_`` + base64 of the raw 32-byte Ed25519 public key."""
        return "whpk_" + base64.b64encode(_raw_public(self.key)).decode()

    def status(self, now: datetime) -> str:
        if self.retiring_until is None:
            return "active"
        return "retiring" if now < self.retiring_until else "gone"

    def describe(self, now: datetime) -> dict[str, str | None]:
        return {
            "kid": self.kid,
            "public_key": self.public_key(),
            "status": self.status(now),
            "retiring_until": _iso(self.retiring_until),
        }


def _raw_public(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _kid(key: ed25519.Ed25519PrivateKey) -> str:
    digest = hashlib.sha256(_raw_public(key)).digest()
    return "whk_" + base64.b32encode(digest[:10]).decode().lower()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(moment: str | None) -> datetime | None:
    return None if moment is None else datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``, mode 0600, atomically; if another process created it first, theirs stands."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    try:
        os.link(tmp, path)  # atomic and refuses to overwrite: the first creator wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def _new_pem() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class WebhookKeys:
    """The server's webhook signing keys (created on first use, safe when several processes race to create them)
    and the sealing key of hmac secrets."""

    def __init__(self, keys_dir: str | Path) -> None:
        self.directory = Path(keys_dir) / KEY_PATH.parent
        self.path = Path(keys_dir) / KEY_PATH  # the first key
        self.ring_path = self.directory / "keyring.json"
        self.sealing_path = self.directory / "sealing.key"
        self._ring: tuple[tuple[int, int] | None, list[RingKey]] | None = None
        self._sealing: AESGCM | None = None
        self._lock = threading.Lock()

    # -- the key ring -----------------------------------------------------------------------------------
    def ring(self) -> list[RingKey]:
        """Every key on record, the active one first; read again whenever keyring.json changes."""
        try:
            found = os.stat(self.ring_path)
            stamp: tuple[int, int] | None = (found.st_mtime_ns, found.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if self._ring is None or self._ring[0] != stamp:
                self._ring = (stamp, self._read_ring(stamp is not None))
            return self._ring[1]

    def _read_ring(self, recorded: bool) -> list[RingKey]:
        if not recorded:  # before the first rotation: the one key, made on first use
            if not self.path.exists():
                _write_new(self.path, _new_pem())
            key = self._load(self.path)
            return [RingKey(_kid(key), self.path.name, None, None, key)]
        entries = json.loads(self.ring_path.read_text())["keys"]
        keys = []
        for entry in entries:
            until = _parse(entry.get("retiring_until"))
            path = self.directory / entry["file"]
            if until is not None and not path.exists():
                continue  # gone, and its file already deleted
            keys.append(RingKey(entry["kid"], entry["file"], _parse(entry.get("created_at")), until, self._load(path)))
        active = [k for k in keys if k.retiring_until is None]
        if len(active) != 1:
            raise ValueError(f"{self.ring_path} must name exactly one active webhook signing key")
        retiring = sorted((k for k in keys if k.retiring_until is not None), key=lambda k: k.retiring_until or 0)
        return active + retiring[::-1]

    @staticmethod
    def _load(path: Path) -> ed25519.Ed25519PrivateKey:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key

    def active(self) -> RingKey:
        return self.ring()[0]

    def private_key(self) -> ed25519.Ed25519PrivateKey:
        return self.active().key

    def public_key(self) -> str:
        """The active key's verification key (``whpk_...``)."""
        return self.active().public_key()

    def signing_keys(self, now: datetime) -> list[RingKey]:
        """The keys that sign at ``now``: the active one, then any still in their overlap."""
        return [key for key in self.ring() if key.status(now) != "gone"]

    def published(self, now: datetime) -> list[dict[str, str | None]]:
        """What receivers may verify with at ``now``: the same keys as ``signing_keys``."""
        return [key.describe(now) for key in self.signing_keys(now)]

    # -- rotation ---------------------------------------------------------------------------------------
    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One rotation or clean-up at a time, across processes sharing the directory."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.directory / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write_ring(self, keys: list[RingKey]) -> None:
        document = {
            "keys": [
                {
                    "kid": k.kid,
                    "file": k.file,
                    "created_at": _iso(k.created_at),
                    "retiring_until": _iso(k.retiring_until),
                }
                for k in keys
            ]
        }
        tmp = self.ring_path.with_name(f".keyring.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
        os.replace(tmp, self.ring_path)

    def rotate(self, now: datetime, overlap: int) -> tuple[RingKey, RingKey]:
        """A new active key; the current one keeps signing and stays published for ``overlap`` seconds.
        Returns (previous, new)."""
        self._sealing_key()  # written before any key file can go: sealed secrets must stay readable
        with self._exclusive():
            keys = self._read_ring(self.ring_path.exists())
            previous = keys[0]
            pem = _new_pem()
            key = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(key, ed25519.Ed25519PrivateKey)
            kid = _kid(key)
            _write_new(self.directory / f"{kid}.pem", pem)
            new = RingKey(kid, f"{kid}.pem", now, None, key)
            retiring = RingKey(
                previous.kid, previous.file, previous.created_at, now + timedelta(seconds=overlap), previous.key
            )
            kept = [k for k in keys[1:] if k.status(now) != "gone"]
            self._write_ring([new, retiring, *kept])
            self._delete_files([k for k in keys[1:] if k.status(now) == "gone"])
        return retiring, new

    def remove_spent_keys(self, now: datetime) -> list[str]:
        """Forget keys whose overlap has ended and delete their files; returns their kids."""
        if not self.ring_path.exists():
            return []
        with self._exclusive():
            keys = self._read_ring(True)
            spent = [k for k in keys if k.status(now) == "gone"]
            if spent:
                self._write_ring([k for k in keys if k.status(now) != "gone"])
                self._delete_files(spent)
        return [k.kid for k in spent]

    def _delete_files(self, keys: list[RingKey]) -> None:
        for key in keys:
            (self.directory / key.file).unlink(missing_ok=True)

    # -- signing ----------------------------------------------------------------------------------------
    def ed25519_signature(self, content: bytes, now: datetime | None = None) -> str:
        """One ``v1a`` signature per signing key, space-separated (the active key's first)."""
        keys = self.signing_keys(now) if now is not None else [self.active()]
        return " ".join("v1a," + base64.b64encode(k.key.sign(content)).decode() for k in keys)

    def _sealing_key(self) -> AESGCM:
        with self._lock:
            if self._sealing is None:
                if not self.sealing_path.exists():
                    _write_new(self.sealing_path, self._first_sealing_key())
                raw = self.sealing_path.read_bytes()
                if len(raw) != 32:
                    raise ValueError(f"{self.sealing_path} is not a 32-byte key")
                self._sealing = AESGCM(raw)
            return self._sealing

    def _first_sealing_key(self) -> bytes:
        """Derived from the first Ed25519 key, exactly as every version before rotation did; random without one."""
        if not self.path.exists():
            if self.ring_path.exists():
                return secrets.token_bytes(32)
            _write_new(self.path, _new_pem())
        raw = self._load(self.path).private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"authserver webhook secret sealing v1"
        ).derive(raw)

    def seal(self, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._sealing_key().encrypt(nonce, secret.encode(), b"webhook-secret")
        return base64.b64encode(nonce + sealed).decode()

    def unseal(self, sealed: str) -> str:
        raw = base64.b64decode(sealed)
        return self._sealing_key().decrypt(raw[:12], raw[12:], b"webhook-secret").decode()

    def signature(self, signing: str, sealed_secret: str | None, msg_id: str, timestamp: int, body: str) -> str:
        """The ``webhook-signature`` header value for one attempt; which keys sign follows ``timestamp``."""
        content = signed_content(msg_id, timestamp, body)
        if signing == "hmac":
            if sealed_secret is None:
                raise ValueError("an hmac subscription without a secret")
            return hmac_signature(self.unseal(sealed_secret), content)
        return self.ed25519_signature(content, datetime.fromtimestamp(timestamp, UTC))
