"""A small HTTP load balancer for multi-instance tests: one issuer URL in front of several authserver instances.

It routes by the calling client (the HTTP Basic user), the way a real balancer can hash on a header: each
resource service then talks to "its" instance while every instance shares the one issuer URL."""

from __future__ import annotations

import base64
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


class Balancer:
    def __init__(self, port: int, default_backend: int) -> None:
        self.port = port
        self.default_backend = default_backend
        self.routes: dict[str, int] = {}  # client id -> backend port
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                backend = balancer.backend_for(self.headers.get("Authorization", ""))
                connection = http.client.HTTPConnection("127.0.0.1", backend, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    upstream = connection.getresponse()
                    payload = upstream.read()
                except OSError:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                finally:
                    connection.close()
                self.send_response(upstream.status)
                for key, value in upstream.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def backend_for(self, authorization: str) -> int:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id = base64.b64decode(value).decode().partition(":")[0]
            except ValueError:
                return self.default_backend
            return self.routes.get(client_id, self.default_backend)
        return self.default_backend

    def start(self) -> Balancer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
