"""The key an integration's tokens are bound to (RFC 9449 DPoP): a public JWK's RFC 7638 thumbprint, or a
thumbprint given directly. Only the thumbprint is kept; it is what a token's ``cnf.jkt`` carries (section 6.1).

Accepted keys are the ones a DPoP proof can be signed with here (``dpop_signing_alg_values_supported``): RSA of at
least 2048 bits, EC P-256 or P-384, OKP Ed25519. A private or symmetric key is refused outright: pasting one would
mean the secret has already left the developer's hands.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from authserver_resource.jwk_thumbprint import PRIVATE_MEMBERS, REQUIRED_MEMBERS, thumbprint

from .errors import InvalidInputError

THUMBPRINT_LENGTH = 43  # SHA-256, base64url without padding
MIN_RSA_BITS = 2048
MAX_JWK_LENGTH = 16384  # characters of JSON: a 16384-bit RSA key is under 3 kB
_CURVES: dict[str, tuple[ec.EllipticCurve, int]] = {"P-256": (ec.SECP256R1(), 32), "P-384": (ec.SECP384R1(), 48)}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def parse_thumbprint(value: object, *, field: str = "dpop_jkt") -> str:
    """A SHA-256 JWK thumbprint as ``cnf.jkt`` carries it: 43 characters of canonical unpadded base64url."""
    if not isinstance(value, str) or len(value) != THUMBPRINT_LENGTH or _decode(value) is None:
        raise InvalidInputError(
            "the key thumbprint must be 43 characters of base64url: the RFC 7638 SHA-256 thumbprint of the key",
            field=field,
        )
    return value


def parse_jwk(value: object, *, field: str = "dpop_jwk") -> str:
    """A public JWK (an object, or its JSON text) checked as a usable DPoP key; its RFC 7638 thumbprint."""
    jwk = _as_object(value, field)
    kty = jwk.get("kty")
    if kty == "oct":
        raise InvalidInputError("a symmetric (oct) key cannot sign DPoP proofs; register a public key", field=field)
    private = sorted(PRIVATE_MEMBERS & jwk.keys())
    if private:
        raise InvalidInputError(
            f"this is a private key (it has {', '.join(private)}); register only the public key, and replace "
            "this key pair if the private key was shared",
            field=field,
        )
    if not isinstance(kty, str) or kty not in REQUIRED_MEMBERS:
        raise InvalidInputError("kty must be RSA, EC or OKP", field=field)
    members = {name: item for name in REQUIRED_MEMBERS[kty] if isinstance(item := jwk.get(name), str) and item}
    if len(members) != len(REQUIRED_MEMBERS[kty]):
        raise InvalidInputError(f"a {kty} key needs {', '.join(REQUIRED_MEMBERS[kty])} as text", field=field)
    _check_key(kty, members, field)
    return thumbprint(members)


def parse_binding(*, jkt: object = None, jwk: object = None) -> str | None:
    """The thumbprint from exactly one of a thumbprint or a JWK; None (unbound) when neither is given."""
    if jkt is not None and jwk is not None:
        raise InvalidInputError("give either a key thumbprint or a JWK, not both", field="dpop_jwk")
    if jwk is not None:
        return parse_jwk(jwk)
    if jkt is not None:
        return parse_thumbprint(jkt)
    return None


def parse_key_text(text: str, *, field: str = "dpop_key") -> str | None:
    """What a form field holds: empty (unbound), a JWK as JSON, or a thumbprint."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("{"):
        return parse_jwk(text, field=field)
    return parse_thumbprint(text, field=field)


def _as_object(value: object, field: str) -> dict[str, Any]:
    if isinstance(value, str):
        if len(value) > MAX_JWK_LENGTH:
            raise InvalidInputError("the JWK is too long", field=field)
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise InvalidInputError("the JWK is not valid JSON", field=field) from None
    if not isinstance(value, dict):
        raise InvalidInputError("the JWK must be a JSON object", field=field)
    return value


def _check_key(kty: str, members: dict[str, str], field: str) -> None:
    """Load the key, so that only a key a proof could really be signed with is accepted."""
    values = {name: _decode(item) for name, item in members.items() if name not in ("kty", "crv")}
    if any(item is None for item in values.values()):
        raise InvalidInputError("the key's members must be canonical base64url without padding", field=field)
    raw: dict[str, bytes] = {name: item for name, item in values.items() if item is not None}
    try:
        if kty == "RSA":
            modulus, exponent = int.from_bytes(raw["n"], "big"), int.from_bytes(raw["e"], "big")
            if modulus.bit_length() < MIN_RSA_BITS:
                raise InvalidInputError(f"an RSA key must have at least {MIN_RSA_BITS} bits", field=field)
            rsa.RSAPublicNumbers(exponent, modulus).public_key()
        elif kty == "EC":
            curve, size = _CURVES.get(members["crv"], (None, 0))
            if curve is None:
                raise InvalidInputError("an EC key must be on P-256 or P-384", field=field)
            if len(raw["x"]) != size or len(raw["y"]) != size:
                raise InvalidInputError(f"{members['crv']} coordinates are {size} bytes each", field=field)
            ec.EllipticCurvePublicNumbers(
                int.from_bytes(raw["x"], "big"), int.from_bytes(raw["y"], "big"), curve
            ).public_key()
        else:
            if members["crv"] != "Ed25519":
                raise InvalidInputError("an OKP key must be Ed25519", field=field)
            ed25519.Ed25519PublicKey.from_public_bytes(raw["x"])
    except (ValueError, TypeError):
        raise InvalidInputError("this is not a valid public key", field=field) from None


def _decode(text: str) -> bytes | None:
    """Canonical unpadded base64url (RFC 7515 section 2), so one key has one spelling and one thumbprint."""
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") == text else None
