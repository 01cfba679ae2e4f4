"""Building blocks for forged tokens: raw JOSE segments, the server's own key (read from its keys directory, so a
test can sign a token with a valid signature but a wrong claim), foreign keys, and a listener that records any
request, to prove a URL in a token header is never fetched."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def decode_segment(segment: str):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    return decode_segment(header), decode_segment(payload)


def server_key(server, kid: str):
    pem = (server.workdir / "keys" / f"{kid}.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def sign(header: dict, claims: dict, key, alg: str) -> str:
    """Sign exactly this header (nothing added) with ``alg``; ``key`` is a private key or HMAC bytes."""
    signing_input = f"{b64json(header)}.{b64json(claims)}".encode()
    if alg.startswith("HS"):
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        signature = hmac.new(key, signing_input, digest).digest()
    else:
        signature = jwt.get_algorithm_by_name(alg).sign(signing_input, key)
    return f"{signing_input.decode()}.{b64url(signature)}"


def resign(
    server, token: str, *, header: dict | None = None, claims: dict | None = None, drop: tuple[str, ...] = ()
) -> str:
    """The genuine token with changed header fields or claims (None removes one), signed with the server's key."""
    genuine_header, genuine_claims = parts(token)
    new_header = {k: v for k, v in (genuine_header | (header or {})).items() if v is not None}
    new_claims = {k: v for k, v in (genuine_claims | (claims or {})).items() if v is not None and k not in drop}
    return sign(new_header, new_claims, server_key(server, genuine_header["kid"]), genuine_header["alg"])


def foreign_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    return jwk | {"kid": kid, "alg": "RS256", "use": "sig"}


def self_signed_certificate(private_key) -> str:
    """A base64 DER certificate for an ``x5c`` header."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.example")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private_key, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def foreign_ec():
    return ec.generate_private_key(ec.SECP256R1())


class Listener:
    """An HTTP server on 127.0.0.1 that answers anything with ``body`` and remembers every request path."""

    def __init__(self, body: bytes = b"{}") -> None:
        seen: list[str] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
