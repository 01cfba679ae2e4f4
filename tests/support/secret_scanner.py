"""A stand-in for a secret scanner on 127.0.0.1: its key document served over HTTP, and alerts signed with its key
the way GitHub's partner program signs them (ECDSA P-256, SHA-256, DER, base64), by ``cryptography`` directly."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALERT_PATH = "/secret-scanning/alerts"


class ScannerKey:
    """A P-256 key pair and its identifier (hex, like GitHub's)."""

    def __init__(self, identifier: str | None = None, curve: ec.EllipticCurve | None = None) -> None:
        self.private = ec.generate_private_key(curve or ec.SECP256R1())
        der = self.public_pem().encode()
        self.identifier = identifier or hashlib.sha256(der).hexdigest()

    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self.private.sign(body, ec.ECDSA(hashes.SHA256()))).decode()

    def entry(self, is_current: bool = True) -> dict:
        return {"key_identifier": self.identifier, "key": self.public_pem(), "is_current": is_current}

    def headers(self, body: bytes) -> dict[str, str]:
        return {
            "Github-Public-Key-Identifier": self.identifier,
            "Github-Public-Key-Signature": self.sign(body),
            "Content-Type": "application/json",
        }


def key_document(*keys: ScannerKey) -> bytes:
    return json.dumps({"public_keys": [key.entry() for key in keys]}).encode()


def alert_body(*tokens: str, url: str = "https://github.com/octo/app/blob/main/.env", source: str = "content") -> bytes:
    return json.dumps(
        [{"token": token, "type": "authserver_access_token", "url": url, "source": source} for token in tokens]
    ).encode()


class KeyServer:
    """Serves ``document`` (bytes) with ``status`` at /keys; counts the requests it answered."""

    def __init__(self, document: bytes, status: int = 200) -> None:
        self.document, self.status, self.hits = document, status, 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                server.hits += 1
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.document)))
                self.end_headers()
                self.wfile.write(server.document)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/keys"

    def __enter__(self) -> KeyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
