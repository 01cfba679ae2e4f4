"""Forged and damaged tokens, built from a real one, for the "anything else is inactive" tests.

Each forgery is what an attacker (or a confused client) could actually present: the server's own key re-signing
wrong claims (as if a key leaked into the wrong hands, to prove claims are checked, not just signatures), another
key, no signature, or an HMAC keyed with the public key (the classic algorithm-confusion attack).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict, dict]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def server_private_key(services, kid: str):
    pem = (Path(services.keystore.directory) / f"{kid}.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def resign(
    services, token: str, *, claims: dict | None = None, header: dict | None = None, drop: tuple[str, ...] = ()
) -> str:
    """The token's claims, changed, signed again with the server's own current key."""
    old_header, payload = parts(token)
    payload = {k: v for k, v in {**payload, **(claims or {})}.items() if k not in drop}
    new_header = {k: v for k, v in {**old_header, **(header or {})}.items() if k not in ("alg",)}
    new_header = {k: v for k, v in new_header.items() if v is not None}
    key = server_private_key(services, old_header["kid"])
    return jwt.encode(payload, key, algorithm=old_header["alg"], headers=new_header)


def tampered(token: str, **changes) -> str:
    """Claims edited, signature kept: what someone widening their own token's scope would try."""
    header_b64, _, signature = token.split(".")
    _, payload = parts(token)
    body = json.dumps({**payload, **changes}, separators=(",", ":")).encode()
    return f"{header_b64}.{b64(body)}.{signature}"


def alg_none(token: str) -> str:
    header, payload = parts(token)
    head = json.dumps({**header, "alg": "none"}, separators=(",", ":")).encode()
    body = json.dumps(payload, separators=(",", ":")).encode()
    return f"{b64(head)}.{b64(body)}."


def hs256_with_public_key(services, token: str) -> str:
    """HMAC-SHA256 keyed with the server's public key as published (PEM): algorithm confusion."""
    header, payload = parts(token)
    public = server_private_key(services, header["kid"]).public_key()
    secret = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64(json.dumps({**header, "alg": "HS256"}, separators=(",", ":")).encode())
    body = b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def foreign_key(token: str, *, keep_kid: bool = True) -> str:
    """Same claims, signed by a key the server never had (under its kid, or an unknown one)."""
    header, payload = parts(token)
    if header["alg"] == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    alg = "RS256" if header["alg"] == "RS256" else "ES256"
    kid = header["kid"] if keep_kid else "attacker-key"
    return jwt.encode(payload, key, algorithm=alg, headers={"typ": header["typ"], "kid": kid})
