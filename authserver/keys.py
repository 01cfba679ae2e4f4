"""Signing keys: private halves in the keys directory, public halves and lifecycle in the database.

``kid`` is the RFC 7638 thumbprint. An empty directory with no keys on record is a first start; anything else that
does not add up (a corrupt or unreadable file, keys on record but none on disk, a key file or directory that group
or others may read or write) stops start-up with a clear message instead of silently making a new key that would
orphan every issued token, or signing with a key someone else may have copied.

Lifecycle, all read from the database so every worker and instance agrees which key signs at ``now``:

    pending  -- published in the JWKS, not signing yet (``signs_from`` is ahead: caches of the JWKS catch up first)
    active   -- the newest key whose ``signs_from`` has come; it signs every new token
    retired  -- superseded (``retired_at`` has come); published and verifying only while a token it signed can be
                live, then it leaves the JWKS and its private key file is removed
    revoked  -- every token it signed is inactive at once; unpublished, private key file removed

A token verifies only under the key that signed it at issue: its record keeps that ``kid`` (tokens.TokenState).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey
from sqlalchemy import ColumnElement, Exists, and_, exists, or_, select

from . import domain_events as de
from .emitter import emit
from .errors import ConflictError, NotFoundError, SigningUnavailableError
from .extensions import db
from .models import AccessToken, SigningKey
from .principals import Principal

# The JWKS document's Cache-Control max-age, and so the default pre-publication window of a new key: a resource
# service that honours max-age has fetched the new key before the first token it signs (AUTHSERVER_KEY_PREPUBLISH).
JWKS_MAX_AGE = 300

PENDING, ACTIVE, RETIRED, REVOKED = "pending", "active", "retired", "revoked"


class KeyStoreError(Exception):
    """The keys directory cannot be trusted; the server must not start."""


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    alg: str
    key: object  # a cryptography public key, ready for PyJWT


_JoseKey = RSAKey | ECKey | OKPKey
_JOSE_KEY_CLASSES: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {
    "RS256": RSAKey,
    "ES256": ECKey,
    "EdDSA": OKPKey,
}


def _generate_private_key(alg: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise KeyStoreError(f"unsupported signing algorithm {alg}")


def _alg_of(private_key: PrivateKeyTypes) -> str:
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise KeyStoreError("unsupported key type (use RSA, EC P-256 or Ed25519)")


def _jose_key(pem: bytes, alg: str, kid: str | None = None) -> _JoseKey:
    cls = _JOSE_KEY_CLASSES[alg]
    return cls.import_key(pem, {"kid": kid, "alg": alg, "use": "sig"} if kid else None)


def _public_jwk(jose_key: _JoseKey, kid: str, alg: str) -> dict[str, Any]:
    jwk: dict[str, Any] = jose_key.as_dict(private=False)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


def _refuse_loose_permissions(path: Path, fix: str) -> None:
    """As ssh refuses a private key others can read: a key copied by another local user signs tokens we must
    honour, and one they can write could be swapped for theirs."""
    mode = path.stat().st_mode
    if mode & 0o077:
        raise KeyStoreError(
            f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); run `{fix} {path}`"
        )


def _signing_now(now: datetime) -> ColumnElement[bool]:
    """Keys that may sign at ``now``; the one with the latest ``signs_from`` does."""
    return and_(
        SigningKey.revoked_at.is_(None),
        SigningKey.signs_from <= now,
        or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now),
    )


def _has_live_token(now: datetime) -> Exists:
    """A token the key signed may still be active: not revoked, not past exp or a scheduled end."""
    return exists().where(
        AccessToken.kid == SigningKey.kid,
        AccessToken.expires_at > now,
        AccessToken.revoked_at.is_(None),
        or_(AccessToken.ends_at.is_(None), AccessToken.ends_at > now),
    )


def key_state(row: SigningKey, now: datetime) -> str:
    if row.revoked_at is not None:
        return REVOKED
    if row.retired_at is not None and row.retired_at <= now:
        return RETIRED
    if row.signs_from > now:
        return PENDING
    return ACTIVE


class KeyStore:
    """Loads, creates, rotates and revokes signing keys; answers 'which key verifies this kid' fast and
    thread-safely. Verbs flush and leave the commit to the caller (the CLI command), except ``prepare`` at start-up;
    private key files are removed only after the commit (``remove_spent_key_files``)."""

    REFRESH_INTERVAL = 1.0  # at most one database re-read per second for unknown kids

    def __init__(self, directory: str | Path, alg: str, prepublish: int = JWKS_MAX_AGE) -> None:
        self.directory = Path(directory)
        self.alg = alg
        self.prepublish = prepublish  # seconds a new key is published before it signs
        self._verification: dict[str, VerificationKey] = {}
        self._signers: dict[str, tuple[KeySet, float]] = {}
        self._unknown: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- start-up ---------------------------------------------------------------------------------
    def prepare(self, now: datetime) -> None:
        """Check the directory against the database; generate the first key on a first start."""
        on_disk = self._read_directory()
        on_record = {row.kid: row for row in db.session.scalars(select(SigningKey))}
        if not on_disk and not on_record:
            self._create_key(now, signs_from=now)
            db.session.commit()
            return
        if not on_disk:
            raise KeyStoreError(
                f"the keys directory {self.directory} is empty, but the database lists "
                f"{len(on_record)} signing key(s); restore the directory from backup or set AUTHSERVER_KEYS_DIR"
            )
        for kid, (jose_key, alg) in on_disk.items():
            if kid not in on_record:
                # With nothing on record the first file signs. Otherwise a file the database does not know (a
                # rotation that died before its commit) is recorded as a key that never signed: it is spent.
                signs = not on_record and kid == next(iter(on_disk))
                db.session.add(
                    SigningKey(
                        kid=kid,
                        alg=alg,
                        public_jwk=_public_jwk(jose_key, kid, alg),
                        created_at=now,
                        signs_from=now,
                        retired_at=None if signs else now,
                    )
                )
        db.session.flush()
        current = self.current_kid(now)
        if current is None:
            raise KeyStoreError(
                "no signing key is active (every key is retired or revoked); run `authserver keys rotate --now`"
            )
        pending = db.session.scalars(
            select(SigningKey.kid).where(
                SigningKey.revoked_at.is_(None),
                SigningKey.signs_from > now,
                or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now),
            )
        )
        for kid in [current, *pending]:
            if kid not in on_disk:
                raise KeyStoreError(
                    f"the {'current' if kid == current else 'pending'} signing key {kid} has no private key file "
                    f"in {self.directory}; restore it from backup or run `authserver keys rotate --now`"
                )
        db.session.commit()
        self.remove_spent_key_files(now)

    def _read_directory(self) -> dict[str, tuple[_JoseKey, str]]:
        if not self.directory.exists():
            return {}
        paths = sorted(self.directory.glob("*.pem"))
        if not paths and stat.S_IMODE(self.directory.stat().st_mode) & 0o077:
            try:  # nothing secret in it yet (a fresh checkout's keys/): make it ours before the first key
                self.directory.chmod(0o700)
            except OSError:
                pass
        _refuse_loose_permissions(self.directory, "chmod 700")
        found = {}
        for path in paths:
            _refuse_loose_permissions(path, "chmod 600")
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

    def _create_key(self, now: datetime, *, signs_from: datetime) -> SigningKey:
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
        row = SigningKey(
            kid=kid,
            alg=self.alg,
            public_jwk=_public_jwk(jose_key, kid, self.alg),
            created_at=now,
            signs_from=signs_from,
        )
        db.session.add(row)
        return row

    # -- lifecycle --------------------------------------------------------------------------------
    def rotate(self, now: datetime, *, immediate: bool = False) -> SigningKey:
        """Add a new key: published at once, signing from ``now + prepublish`` (or ``now`` when ``immediate``, the
        emergency path: every other key stops signing at once, a pending one included). Older keys stay published
        while their tokens may be active.

        The key file is written before the database commit: a crash in between leaves an unused file, never a
        current key without its private half."""
        if immediate:
            for row in db.session.scalars(
                select(SigningKey).where(
                    SigningKey.revoked_at.is_(None), or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now)
                )
            ):
                row.retired_at = now
        row = self._create_key(now, signs_from=now if immediate else now + timedelta(seconds=self.prepublish))
        db.session.flush()
        self._schedule_retirements(now)
        return row

    def revoke(self, kid: str, principal: Principal, now: datetime) -> tuple[SigningKey, SigningKey | None]:
        """Make every token ``kid`` signed inactive at once and unpublish it. The liveness read joins the key, so
        every worker and instance sees it with the commit; services validating locally hear ``key.revoked`` on
        the feed. Revoking the key that signs now first rotates with ``immediate`` (it must sign nothing more).
        Returns (the revoked key, its replacement if one was made)."""
        row = db.session.get(SigningKey, kid) if isinstance(kid, str) else None
        if row is None:
            raise NotFoundError(f"no signing key {kid}")
        if row.revoked_at is not None:
            raise ConflictError(f"signing key {kid} is already revoked")
        before = {"state": key_state(row, now)}
        replacement = self.rotate(now, immediate=True) if self.current_kid(now) == kid else None
        row.revoked_at = now
        if row.retired_at is None or row.retired_at > now:
            row.retired_at = now
        db.session.flush()
        self._schedule_retirements(now)
        emit(
            de.SigningKeyRevoked(
                actor=principal,
                now=now,
                kid=kid,
                before=before,
                after={"state": REVOKED, "replaced_by": replacement.kid if replacement else None},
            )
        )
        return row, replacement

    def _schedule_retirements(self, now: datetime) -> None:
        """Each key that has not retired yet signs until the next one's ``signs_from``; the last one until further
        notice. Kept as data so every process reads the same schedule."""
        upcoming = list(
            db.session.scalars(
                select(SigningKey)
                .where(
                    SigningKey.revoked_at.is_(None), or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now)
                )
                .order_by(SigningKey.signs_from, SigningKey.created_at)
            )
        )
        for row, successor in zip(upcoming, [*upcoming[1:], None], strict=True):
            row.retired_at = successor.signs_from if successor is not None else None
        db.session.flush()

    def remove_spent_key_files(self, now: datetime) -> list[str]:
        """Delete the private key files of revoked keys and of retired keys no live token needs: nothing they
        could sign would be honoured. Run after the commit that made them spent (start-up, rotate, revoke, list)."""
        spent = db.session.scalars(
            select(SigningKey.kid).where(
                or_(SigningKey.revoked_at.is_not(None), and_(SigningKey.retired_at <= now, ~_has_live_token(now)))
            )
        )
        removed = []
        for kid in spent:
            path = self.directory / f"{kid}.pem"
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(kid)
            self._signers.pop(kid, None)
        return removed

    def current_kid(self, now: datetime | None = None) -> str | None:
        """The kid that signs at ``now`` (default: the wall clock)."""
        return db.session.scalar(
            select(SigningKey.kid)
            .where(_signing_now(now or datetime.now(UTC)))
            .order_by(SigningKey.signs_from.desc(), SigningKey.created_at.desc())
            .limit(1)
        )

    def signing_since(self, now: datetime) -> datetime | None:
        """When the key that signs at ``now`` began signing (its age, for metrics); None when none signs."""
        return db.session.scalar(
            select(SigningKey.signs_from)
            .where(_signing_now(now))
            .order_by(SigningKey.signs_from.desc(), SigningKey.created_at.desc())
            .limit(1)
        )

    # -- signing ----------------------------------------------------------------------------------
    def signing_keyset(self, now: datetime | None = None) -> tuple[str, str, KeySet]:
        """(kid, alg, a one-key KeySet) for the key that signs at ``now``; a set with more keys would sign with a
        random one. Read from the database on every call, so a key's signing start is honoured by every worker."""
        row = db.session.scalar(
            select(SigningKey)
            .where(_signing_now(now or datetime.now(UTC)))
            .order_by(SigningKey.signs_from.desc(), SigningKey.created_at.desc())
            .limit(1)
        )
        if row is None:
            raise SigningUnavailableError("no signing key is configured")
        path = self.directory / f"{row.kid}.pem"
        try:
            stat_result = path.stat()
            cached = self._signers.get(row.kid)
            if cached is None or cached[1] != stat_result.st_mtime:
                cached = (KeySet([_jose_key(path.read_bytes(), row.alg, row.kid)]), stat_result.st_mtime)
                self._signers[row.kid] = cached
        except (OSError, ValueError) as exc:
            raise SigningUnavailableError(
                f"the signing key file for {row.kid} cannot be read ({exc.__class__.__name__}); "
                "restore it or rotate keys"
            ) from None
        if row.kid not in self._verification:
            # A token this process signs must verify here at once, even within the unknown-kid refresh throttle.
            with self._lock:
                self._verification = {
                    **self._verification,
                    row.kid: VerificationKey(
                        kid=row.kid, alg=row.alg, key=pyjwt.PyJWK(row.public_jwk, algorithm=row.alg).key
                    ),
                }
        return row.kid, row.alg, cached[0]

    # -- verification -----------------------------------------------------------------------------
    def verification_key(self, kid: str) -> VerificationKey | None:
        """The public key for ``kid``. A kid not seen yet is looked up by primary key at once (a key rotated in
        by another process verifies immediately); a kid that does not exist is remembered for a second, so a
        flood of made-up kids costs at most one indexed read per kid per second.

        A key is only the signature's half of the answer: a revoked key, or a token presented under a key other
        than the one that signed it, is refused by the liveness read (tokens.TokenState), with no cache window."""
        key = self._verification.get(kid)
        if key is not None:
            return key
        now = time.monotonic()
        missed = self._unknown.get(kid)
        if missed is not None and now - missed < self.REFRESH_INTERVAL:
            return None
        row = db.session.get(SigningKey, kid)
        if row is None or row.revoked_at is not None:
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
    def published_jwks(self, now: datetime) -> dict[str, Any]:
        """Pending and active keys, plus every retired key that signed a token that may still be active; never a
        revoked key."""
        rows = db.session.scalars(
            select(SigningKey)
            .where(
                SigningKey.revoked_at.is_(None),
                or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now, _has_live_token(now)),
            )
            .order_by(SigningKey.signs_from.desc(), SigningKey.created_at.desc())
        )
        return {"keys": [dict(row.public_jwk) for row in rows]}

    def list_keys(self, now: datetime) -> list[dict[str, Any]]:
        """Every key on record, oldest first, with its state at ``now`` and its dates."""
        published = {key["kid"] for key in self.published_jwks(now)["keys"]}
        current = self.current_kid(now)
        return [
            {
                "kid": row.kid,
                "alg": row.alg,
                "state": key_state(row, now),
                "created_at": row.created_at,
                "signs_from": row.signs_from,
                "retired_at": row.retired_at,
                "revoked_at": row.revoked_at,
                "current": row.kid == current,
                "published": row.kid in published,
                "private_key_present": (self.directory / f"{row.kid}.pem").exists(),
            }
            for row in db.session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.kid))
        ]
