"""DPoP proof verification (RFC 9449 section 4.3), one proof against one request and one bound access token.

A proof is refused (``ProofRefusedError``, rendered as ``invalid_dpop_proof``) unless:
- the request carries exactly one ``DPoP`` header holding one compact JWS, strictly decoded (canonical base64url,
  JSON objects without duplicate members, as ``compact_jws`` reads access tokens);
- ``typ`` is ``dpop+jwt``, ``alg`` one of ``DPOP_SIGNING_ALGS`` (asymmetric only), ``jwk`` a public key of that
  algorithm's type (no private members), and the signature verifies with it;
- ``jti`` is a bounded string, ``htm`` the request's method, ``htu`` its URL without query and fragment (both
  normalized, section 4.3 point 9), ``iat`` within ``[now - max_age, now + clock_skew]``;
- ``ath`` is base64url(SHA-256(access token)) and the key's RFC 7638 thumbprint is the token's ``cnf.jkt``.

Replay (a ``jti`` seen before) and the optional server nonce are the caller's next steps (``dpop_replay``,
``dpop_nonce``), so this module stays pure: plain values in, a verdict out, ``now`` passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import jwt
from jwt.algorithms import Algorithm
from jwt.exceptions import InvalidKeyError, PyJWKError

from .dpop_algorithms import DPOP_SIGNING_ALGS
from .jwk_thumbprint import PRIVATE_MEMBERS, REQUIRED_MEMBERS, thumbprint

MAX_PROOF_LENGTH = 8192  # an RSA-4096 key in the header fits well within this
MAX_JTI_LENGTH = 256
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# Which key a proof's alg may name (a P-384 key cannot sign ES256; RSA keys for RS/PS)
_KEY_TYPES = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
    "EdDSA": ("OKP", None),
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class ProofRefusedError(Exception):
    """The proof does not prove possession for this request; ``reason`` is for the error description and logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Proof:
    """A verified proof: what the replay cache needs."""

    jti: str
    iat: int
    jkt: str
    nonce: object = None  # the ``nonce`` claim as sent, judged by the caller when it hands out nonces (dpop_nonce)


def verify_proof(
    headers: Sequence[str],
    *,
    method: str,
    url: str,
    access_token: str,
    jkt: str,
    now: float,
    max_age: float = 60.0,
    clock_skew: float = 5.0,
    algorithms: Sequence[str] = DPOP_SIGNING_ALGS,
) -> Proof:
    """The proof in ``headers`` (every ``DPoP`` header value of the request) checked against the request and the
    token bound to ``jkt``; ``ProofRefusedError`` for anything else. Never judges replay."""
    proof = _one_proof(headers)
    header_segment, payload_segment, signature_segment = proof.split(".")
    signer = _signer(header_segment)
    if signer.alg not in algorithms:
        raise ProofRefusedError("alg is not one of the supported DPoP algorithms")
    signing_input = f"{header_segment}.{payload_segment}".encode()
    if not _signature_matches(signer.algorithm, signer.key, signing_input, _decode(signature_segment)):
        raise ProofRefusedError("the signature does not verify with the jwk header")
    claims = _json_object(_decode(payload_segment), "payload")
    jti, iat = _check_claims(
        claims, method=method, url=url, access_token=access_token, now=now, window=(max_age, clock_skew)
    )
    if not hmac.compare_digest(signer.jkt, jkt):
        raise ProofRefusedError("the proof's key is not the key the access token is bound to")
    return Proof(jti=jti, iat=iat, jkt=signer.jkt, nonce=claims.get("nonce"))


@dataclass(frozen=True)
class _Signer:
    alg: str
    algorithm: Algorithm
    key: object  # the public key object PyJWT's algorithm verifies with
    jkt: str


@lru_cache(maxsize=4096)
def _signer(header_segment: str) -> _Signer:
    """The checked header of a proof, its key imported and thumbprinted. A client sends the same header (typ, alg,
    jwk) with every proof, so this is memoized by the header's text: key import and thumbprint once per client
    (bench/dpop.py). Refusals are exceptions, which are never memoized."""
    header = _json_object(_decode(header_segment), "header")
    alg, jwk = _check_header(header)
    algorithm = _algorithm(alg)
    try:
        key = algorithm.from_jwk(jwk)
    except (InvalidKeyError, PyJWKError, ValueError, TypeError, KeyError):
        raise ProofRefusedError("the jwk header is not a usable public key") from None
    return _Signer(alg=alg, algorithm=algorithm, key=key, jkt=jwk_thumbprint(jwk))


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638: base64url(SHA-256) of the key's required members, sorted, without whitespace."""
    members = REQUIRED_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise ProofRefusedError("the jwk header lacks the members its key type requires")
    return thumbprint(jwk)


def access_token_hash(access_token: str) -> str:
    """Section 4.2 ``ath``: base64url(SHA-256(ASCII of the token))."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@lru_cache(maxsize=4096)
def normalize_htu(url: str) -> str:
    """Section 4.3 point 9: the URL without query and fragment, after RFC 3986 syntax- and scheme-based
    normalization (case of scheme and host, default port, empty path, percent-encoding), so an ``htu`` spelt
    differently from the server's view of the same URL still matches. ``ValueError`` for a URL that is not one."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        raise ValueError("not an absolute http(s) URL")
    host = parts.hostname.lower()  # urlsplit lowercases already; explicit for the reader
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # ValueError for a bad port
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return urlunsplit((scheme, netloc, _normalize_path(parts.path), "", ""))


def _normalize_path(path: str) -> str:
    """Percent-encodings in one spelling (unreserved characters decoded, hex upper case), dot segments removed."""
    if not path:
        return "/"
    out = []
    for segment in path.split("/"):
        text = unquote(segment, errors="strict") if "%" in segment else segment
        out.append("".join(ch if ch in _UNRESERVED else quote(ch, safe="!$&'()*+,;=:@") for ch in text))
    segments: list[str] = []
    for segment in out[1:] if out[0] == "" else out:
        if segment == ".":
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    trailing = "/" if out[-1] in (".", "..") else ""
    return "/" + "/".join(segments) + trailing


def _one_proof(headers: Sequence[str]) -> str:
    """Section 4.3 points 1 and 2: exactly one ``DPoP`` header holding one JWT (a comma means two values folded)."""
    values = [value.strip() for value in headers]
    if not values or values == [""]:
        raise ProofRefusedError("the request has no DPoP proof: send one in the DPoP header")
    if len(values) != 1 or "," in values[0]:
        raise ProofRefusedError("the request must carry exactly one DPoP proof")
    proof = values[0]
    if len(proof) > MAX_PROOF_LENGTH or not proof.isascii() or proof.count(".") != 2:
        raise ProofRefusedError("the DPoP header is not a compact JWS")
    return proof


def _decode(segment: str) -> bytes:
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise ProofRefusedError("the proof is not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise ProofRefusedError("the proof is not base64url") from None
    if b64url(data) != segment:
        raise ProofRefusedError("the proof is not canonical base64url")
    return data


def _json_object(data: bytes, what: str) -> dict:
    def unique(pairs: list[tuple[str, object]]) -> dict:
        members = dict(pairs)
        if len(members) != len(pairs):
            raise ValueError("duplicate member")
        return members

    def no_constant(name: str) -> object:
        raise ValueError(name)

    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=unique, parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProofRefusedError(f"the proof's {what} is not a JSON object without duplicate members") from None
    if not isinstance(value, dict):
        raise ProofRefusedError(f"the proof's {what} is not a JSON object")
    return value


def _check_header(header: dict) -> tuple[str, dict]:
    typ, alg, jwk = header.get("typ"), header.get("alg"), header.get("jwk")
    if not isinstance(typ, str) or typ.lower() not in ("dpop+jwt", "application/dpop+jwt"):
        raise ProofRefusedError("typ must be dpop+jwt")
    if not isinstance(alg, str) or alg not in DPOP_SIGNING_ALGS or alg not in _KEY_TYPES:
        raise ProofRefusedError("alg is not one of the supported DPoP algorithms")
    if "crit" in header or "b64" in header:
        raise ProofRefusedError("critical header extensions are not understood")
    if not isinstance(jwk, dict):
        raise ProofRefusedError("the jwk header must hold the public key")
    if PRIVATE_MEMBERS & jwk.keys():
        raise ProofRefusedError("the jwk header must not hold private key members")
    kty, crv = _KEY_TYPES[alg]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        raise ProofRefusedError("the jwk header's key type does not match alg")
    if alg == "EdDSA" and jwk.get("crv") not in ("Ed25519", "Ed448"):
        raise ProofRefusedError("the jwk header's key type does not match alg")
    if kty == "RSA" and len(_decode(str(jwk.get("n", "")))) < 256:
        raise ProofRefusedError("RSA keys of fewer than 2048 bits are refused")
    return alg, jwk


def _check_claims(
    claims: dict, *, method: str, url: str, access_token: str, now: float, window: tuple[float, float]
) -> tuple[str, int]:
    jti, htm, htu, iat, ath = (claims.get(name) for name in ("jti", "htm", "htu", "iat", "ath"))
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise ProofRefusedError("jti must be a unique identifier of at most 256 characters")
    if not isinstance(htm, str) or htm != method.upper():
        raise ProofRefusedError("htm does not match the request's method")
    if not isinstance(htu, str) or not _same_url(htu, url):
        raise ProofRefusedError("htu does not match the request's URL")
    if type(iat) is not int:
        raise ProofRefusedError("iat must be an integer NumericDate")
    max_age, clock_skew = window
    if iat < now - max_age:
        raise ProofRefusedError("the proof is too old (iat)")
    if iat > now + clock_skew:
        raise ProofRefusedError("the proof is issued in the future (iat)")
    if not isinstance(ath, str):
        raise ProofRefusedError("ath (the access token's hash) is missing")
    if not hmac.compare_digest(ath.encode(), access_token_hash(access_token).encode()):
        raise ProofRefusedError("ath does not match the access token")
    return jti, iat


def _same_url(htu: str, url: str) -> bool:
    if len(htu) > 2048:
        return False
    try:
        return normalize_htu(htu) == normalize_htu(url)
    except (ValueError, UnicodeDecodeError):
        return False


_ALGORITHMS: dict[str, Algorithm] = {}


def _algorithm(alg: str) -> Algorithm:
    algorithm = _ALGORITHMS.get(alg)
    if algorithm is None:
        algorithm = _ALGORITHMS.setdefault(alg, jwt.get_algorithm_by_name(alg))
    return algorithm


def _signature_matches(algorithm: Algorithm, key: object, signing_input: bytes, signature: bytes) -> bool:
    try:
        return bool(algorithm.verify(signing_input, key, signature))
    except (ValueError, TypeError, AttributeError, InvalidKeyError):
        return False
