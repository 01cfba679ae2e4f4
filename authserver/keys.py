"""Signing keys: private halves in the keys directory, public halves and lifecycle in the database.

``kid`` is the RFC 7638 thumbprint. An empty directory with no keys on record is a first start; anything else that
does not add up (a corrupt or unreadable file, keys on record but none on disk) stops start-up with a clear message
instead of silently making a new key that would orphan every issued token.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey
from sqlalchemy import exists, or_, select

from .errors import SigningUnavailableError
from .extensions import db
from .models import AccessToken, SigningKey


class KeyStoreError(Exception):
    """The keys directory cannot be trusted; the server must not start."""


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    alg: str
    key: object  # a cryptography public key, ready for PyJWT


def _generate_private_key(alg: str):
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise KeyStoreError(f"unsupported signing algorithm {alg}")


def _alg_of(private_key) -> str:
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise KeyStoreError("unsupported key type (use RSA, EC P-256 or Ed25519)")


def _jose_key(pem: bytes, alg: str, kid: str | None = None):
    cls = {"RS256": RSAKey, "ES256": ECKey, "EdDSA": OKPKey}[alg]
    return cls.import_key(pem, {"kid": kid, "alg": alg, "use": "sig"} if kid else None)


def _public_jwk(jose_key, kid: str, alg: str) -> dict:
    jwk = jose_key.as_dict(private=False)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


class KeyStore:
    """Loads, creates and rotates signing keys; answers 'which key verifies this kid' fast and thread-safely."""

    REFRESH_INTERVAL = 1.0  # at most one database re-read per second for unknown kids

    def __init__(self, directory: str | Path, alg: str) -> None:
        self.directory = Path(directory)
        self.alg = alg
        self._verification: dict[str, VerificationKey] = {}
        self._signers: dict[str, tuple[object, float]] = {}
        self._unknown: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- start-up ---------------------------------------------------------------------------------
    def prepare(self, now: datetime) -> None:
        """Check the directory against the database; generate the first key on a first start."""
        on_disk = self._read_directory()
        on_record = {row.kid: row for row in db.session.scalars(select(SigningKey))}
        if not on_disk and not on_record:
            self._create_key(now)
            db.session.commit()
            return
        if not on_disk:
            raise KeyStoreError(
                f"the keys directory {self.directory} is empty, but the database lists "
                f"{len(on_record)} signing key(s); restore the directory from backup or set AUTHSERVER_KEYS_DIR"
            )
        for kid, (jose_key, alg) in on_disk.items():
            if kid not in on_record:
                db.session.add(SigningKey(kid=kid, alg=alg, public_jwk=_public_jwk(jose_key, kid, alg),
                                          created_at=now))
        db.session.flush()
        if self.current_kid() is None:
            raise KeyStoreError("no active signing key is on record; run `authserver keys rotate`")
        current = self.current_kid()
        if current not in on_disk:
            raise KeyStoreError(
                f"the current signing key {current} has no private key file in {self.directory}; "
                "restore it from backup or run `authserver keys rotate`"
            )
        db.session.commit()

    def _read_directory(self) -> dict[str, tuple[object, str]]:
        if not self.directory.exists():
            return {}
        found = {}
        for path in sorted(self.directory.glob("*.pem")):
            try:
                pem = path.read_bytes()
                private_key = serialization.load_pem_private_key(pem, password=None)
                alg = _alg_of(private_key)
                jose_key = _jose_key(pem, alg)
            except (OSError, ValueError, TypeError, KeyStoreError) as exc:
                raise KeyStoreError(f"signing key file {path} is unreadable or corrupt: {exc}") from None
            kid = jose_key.thumbprint()
            if path.stem != kid:
                raise KeyStoreError(f"signing key file {path} does not hold key {path.stem} (found {kid})")
            found[kid] = (jose_key, alg)
        return found

    def _create_key(self, now: datetime) -> str:
        private_key = _generate_private_key(self.alg)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        jose_key = _jose_key(pem, self.alg)
        kid = jose_key.thumbprint()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"{kid}.pem"
        tmp = self.directory / f".{kid}.pem.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # the file appears whole or not at all
        db.session.add(SigningKey(kid=kid, alg=self.alg, public_jwk=_public_jwk(jose_key, kid, self.alg),
                                  created_at=now))
        return kid

    # -- rotation ---------------------------------------------------------------------------------
    def rotate(self, now: datetime) -> str:
        """Make a new signing key current; older keys stay published while their tokens may be active.

        The key file is written before the database commit: a crash in between leaves an unused file, never a
        current key without its private half.
        """
        kid = self._create_key(now)
        db.session.flush()
        for row in db.session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None), SigningKey.kid != kid)):
            row.retired_at = now
        db.session.commit()
        return kid

    def current_kid(self) -> str | None:
        return db.session.scalar(
            select(SigningKey.kid).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc())
        )

    # -- signing ----------------------------------------------------------------------------------
    def signing_keyset(self) -> tuple[str, str, KeySet]:
        """(kid, alg, a one-key KeySet) for the current key; a set with more keys would sign with a random one."""
        row = db.session.scalar(
            select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc())
        )
        if row is None:
            raise SigningUnavailableError("no signing key is configured")
        path = self.directory / f"{row.kid}.pem"
        try:
            stat = path.stat()
            cached = self._signers.get(row.kid)
            if cached is None or cached[1] != stat.st_mtime:
                cached = (KeySet([_jose_key(path.read_bytes(), row.alg, row.kid)]), stat.st_mtime)
                self._signers[row.kid] = cached
        except (OSError, ValueError) as exc:
            raise SigningUnavailableError(
                f"the signing key file for {row.kid} cannot be read ({exc.__class__.__name__}); "
                "restore it or rotate keys"
            ) from None
        if row.kid not in self._verification:
            # A token this process signs must verify here at once, even within the unknown-kid refresh throttle.
            with self._lock:
                self._verification = {**self._verification, row.kid: VerificationKey(
                    kid=row.kid, alg=row.alg, key=pyjwt.PyJWK(row.public_jwk, algorithm=row.alg).key)}
        return row.kid, row.alg, cached[0]

    # -- verification -----------------------------------------------------------------------------
    def verification_key(self, kid: str) -> VerificationKey | None:
        """The public key for ``kid``. A kid not seen yet is looked up by primary key at once (a key rotated in
        by another process verifies immediately); a kid that does not exist is remembered for a second, so a
        flood of made-up kids costs at most one indexed read per kid per second."""
        key = self._verification.get(kid)
        if key is not None:
            return key
        now = time.monotonic()
        missed = self._unknown.get(kid)
        if missed is not None and now - missed < self.REFRESH_INTERVAL:
            return None
        row = db.session.get(SigningKey, kid)
        if row is None:
            with self._lock:
                if len(self._unknown) > 10000:
                    self._unknown.clear()
                self._unknown[kid] = now
            return None
        key = VerificationKey(kid=row.kid, alg=row.alg, key=pyjwt.PyJWK(row.public_jwk, algorithm=row.alg).key)
        with self._lock:
            self._verification = {**self._verification, kid: key}
        return key

    # -- publication ------------------------------------------------------------------------------
    def published_jwks(self, now: datetime) -> dict:
        """The current key plus every retired key that signed a token that may still be active."""
        still_needed = exists().where(
            AccessToken.kid == SigningKey.kid, AccessToken.expires_at > now, AccessToken.revoked_at.is_(None)
        )
        rows = db.session.scalars(
            select(SigningKey).where(or_(SigningKey.retired_at.is_(None), still_needed))
            .order_by(SigningKey.created_at.desc())
        )
        return {"keys": [dict(row.public_jwk) for row in rows]}

    def list_keys(self, now: datetime) -> list[dict]:
        published = {key["kid"] for key in self.published_jwks(now)["keys"]}
        current = self.current_kid()
        return [
            {
                "kid": row.kid,
                "alg": row.alg,
                "created_at": row.created_at,
                "retired_at": row.retired_at,
                "current": row.kid == current,
                "published": row.kid in published,
                "private_key_present": (self.directory / f"{row.kid}.pem").exists(),
            }
            for row in db.session.scalars(select(SigningKey).order_by(SigningKey.created_at))
        ]
