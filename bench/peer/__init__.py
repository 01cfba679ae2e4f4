"""The reference peer, node-oidc-provider, as the benchmark runs it: installed from npm into ``node_modules`` here
(ignored by git), started by ``server.mjs`` on a loopback port, and handed one opaque token to introspect.

``run.py introspection`` measures it interleaved with our server; nothing here knows about our server.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from processes import ServerProcess, free_port

HERE = Path(__file__).resolve().parent
SCOPES = "contacts.readonly calendars.readonly"


class PeerUnavailableError(RuntimeError):
    """Node or npm is missing, or the install failed: the benchmark says so and goes on without the peer."""


def ensure_installed() -> str:
    """The provider's version, installing it (``npm ci`` from the lock file) on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise PeerUnavailableError("node and npm are needed for the peer (apt-get install -y nodejs npm)")
    manifest = HERE / "node_modules" / "oidc-provider" / "package.json"
    if not manifest.exists():
        done = subprocess.run(  # noqa: S603 (npm from PATH, fixed arguments)
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or not manifest.exists():
            raise PeerUnavailableError(f"npm ci in {HERE} failed: {(done.stderr or done.stdout)[-2000:]}")
    return json.loads(manifest.read_text())["version"]


@dataclass
class Peer:
    """One running provider with one registered client and the token it was issued."""

    server: ServerProcess
    client_id: str
    client_secret: str
    token: str = ""

    @property
    def authorization(self) -> str:
        raw = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        return f"Basic {raw}"

    @property
    def introspection_path(self) -> str:
        return "/token/introspection"

    def _post(self, path: str, form: dict) -> dict:
        body, headers = urllib.parse.urlencode(form).encode(), {"Authorization": self.authorization}
        request = urllib.request.Request(self.server.url + path, data=body, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (loopback only)
            return json.load(response)

    def obtain_token(self, token_file: Path | None = None) -> str:
        """A client credentials grant (RFC 6749 section 4.4), or for a cluster the token its primary minted and
        seeded into every worker; checked active by introspecting it (a few times: each worker must know it)."""
        if token_file is None:
            issued = self._post("/token", {"grant_type": "client_credentials", "scope": SCOPES})
            self.token = issued["access_token"]
        else:
            self.token = token_file.read_text().strip()
        for _ in range(6):
            if self._post(self.introspection_path, {"token": self.token}).get("active") is not True:
                raise RuntimeError("the peer does not report its own fresh token active")
        if self._post(self.introspection_path, {"token": "not-a-token"}).get("active") is not False:
            raise RuntimeError("the peer reports garbage active")
        return self.token

    def write_bodies(self, path: Path) -> Path:
        path.write_text(urllib.parse.urlencode({"token": self.token}) + "\n")
        return path

    def stop(self) -> None:
        self.server.stop()


def start_peer(workdir: Path, *, workers: int = 1) -> Peer:
    """Start the provider on a free loopback port and obtain its token. The caller stops it. ``workers`` > 1 runs
    it as a node ``cluster`` of that many processes sharing the port (server.mjs)."""
    ensure_installed()
    port = free_port()
    token_file = workdir / f"peer-{port}.token" if workers > 1 else None
    client_id, client_secret = "bench-service", secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEER_", "NODE_OPTIONS"))}
    env.update(
        {
            "PEER_PORT": str(port),
            "PEER_CLIENT_ID": client_id,
            "PEER_CLIENT_SECRET": client_secret,
            "NODE_ENV": "production",
        }
    )
    if token_file is not None:
        env.update({"PEER_WORKERS": str(workers), "PEER_TOKEN_FILE": str(token_file)})
    argv = [shutil.which("node") or "node", str(HERE / "server.mjs")]
    log = workdir / f"peer-{workers}.log"
    server = ServerProcess(argv, env, port, log, ready_path="/.well-known/openid-configuration")
    peer = Peer(server.start(timeout=60), client_id, client_secret)
    try:
        peer.obtain_token(token_file)
    except Exception:
        peer.stop()
        raise
    return peer
