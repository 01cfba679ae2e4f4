"""Security primitives, small and in one place: random secrets, digests, constant-time compare, passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError


def new_id(prefix: str) -> str:
    """A public identifier: prefix plus 24 random base32 characters (120 bits)."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode().lower()
    return f"{prefix}_{raw}"


def new_jti() -> str:
    """A token's ``jti``: ``tok_`` plus 32 random base32 characters (160 bits; at least 128 are required). RFC 7519
    section 4.1.7 asks for a negligible chance of collision, and every liveness and revocation lookup is by jti."""
    raw = base64.b32encode(secrets.token_bytes(20)).decode().lower()
    return f"tok_{raw}"


def is_identifier(value: object) -> bool:
    """Could ``value`` be one of our ids (``new_id``, a jti, a kid)? Anything else is simply not found, before it
    reaches the database: PostgreSQL refuses NUL characters in a parameter with an error instead of no rows."""
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isprintable()


def new_secret() -> str:
    """A high-entropy client secret (256 bits)."""
    return secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    """SHA-256 is right for random high-entropy secrets; slow hashes are for passwords."""
    return hashlib.sha256(secret.encode()).hexdigest()


def digests_match(secret: str, digest: str) -> bool:
    return hmac.compare_digest(secret_digest(secret), digest)


# Passwords: argon2id with argon2-cffi's RFC 9106 "low memory" profile (t=3, m=64 MiB, p=4; also the library's
# default), the RFC's second recommended option for hosts that cannot give 2 GiB to each hash. Hashes made before
# (stdlib scrypt, "scrypt$N$r$p$salt$key", N=2^14) still verify and are replaced on the next sign-in.
_ARGON2 = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)


def hash_password(password: str) -> str:
    return _ARGON2.hash(password)


def check_password(password: str, stored: str) -> bool:
    """Constant-time for either format; a malformed ``stored`` is simply no match."""
    if stored.startswith("$argon2"):
        try:
            return _ARGON2.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    return _check_scrypt(password, stored)


def password_needs_rehash(stored: str) -> bool:
    """True for any hash not made with today's argon2id parameters (old scrypt hashes, weaker argon2)."""
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return _ARGON2.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _check_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, key_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        key = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(key.hex(), key_hex)
