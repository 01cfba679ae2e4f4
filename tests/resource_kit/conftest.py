"""Real processes on 127.0.0.1 for the resource kit: one authorization server per module, with an account, its
admin client and a resource-service client; helpers to start the gate, nginx and node."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.nginx import wrap_site
from tests.support.resource_demo import AdminApi, cli_batch
from tests.support.servers import ROOT, AuthServerProcess, free_port, make_authserver

RESOURCE = "https://api.example.com/v2"
READ, WRITE = "contacts.readonly", "contacts.write"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NODE = shutil.which("node") or "/usr/bin/node"


@dataclass
class Kit:
    server: AuthServerProcess
    service: dict  # a resource-service client: client_id, client_secret
    admin: AdminApi

    def token(self, scopes: list[str], name: str) -> str:
        return self.admin.generate_token(self.admin.create_integration(name, scopes))

    def revoke(self, token: str) -> None:
        response = requests.post(f"{self.server.url}/oauth/revoke", data={"token": token}, timeout=10)
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("authserver"))
    server.start()
    try:
        account, service, admin = cli_batch(
            server,
            ("account", "create", "--name", "Acme", "--json"),
            ("client", "create", "--name", "kit-service", "--kind", "resource-service", "--json"),
            ("client", "create", "--name", "acme-admin", "--kind", "admin", "--account", "{0[id]}", "--json"),
        )
        yield Kit(server, service, AdminApi(server.url, account["id"], admin["client_id"], admin["client_secret"]))
    finally:
        server.stop()


class Process:
    """A child process with its output in a file, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, args: list[str], log: Path, *, env: dict | None = None, cwd: Path = ROOT) -> None:
        self.log = log
        with open(log, "ab") as handle:
            self.proc = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd)  # noqa: S603

    def wait_until(self, ready, *, timeout: float = 20.0) -> Process:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if ready():
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"not ready within {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_gate(kit: Kit, workdir: Path, *, mode: str, routes: str | None = None, extra: tuple = ()) -> tuple:
    """``authserver-resource gate`` (as ``python -m authserver_resource``), ready once its feed is live."""
    workdir.mkdir(parents=True, exist_ok=True)
    secret_file = workdir / "client-secret"
    secret_file.write_text(kit.service["client_secret"])
    secret_file.chmod(0o600)
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "authserver_resource",
        "gate",
        "--listen",
        f"127.0.0.1:{port}",
        "--authserver",
        kit.server.url,
        "--client-id",
        kit.service["client_id"],
        "--client-secret-file",
        str(secret_file),
        "--mode",
        mode,
        "--resource",
        RESOURCE,
        *extra,
    ]
    if routes is not None:
        (workdir / "routes").write_text(routes)
        args += ["--routes", str(workdir / "routes")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")} | {"PYTHONUNBUFFERED": "1"}
    gate = Process(args, workdir / "gate.log", env=env)
    url = f"http://127.0.0.1:{port}"
    return gate.wait_until(lambda: requests.get(f"{url}/healthz", timeout=1).json()["status"] == "ok"), port


def start_node(script: Path, workdir: Path, *args: str, env: dict | None = None) -> tuple[Process, int]:
    port = free_port()
    node = Process(
        [NODE, str(script), str(port), *args],
        workdir / f"{script.stem}.log",
        env=(env or dict(os.environ)),
        cwd=script.parent,
    )
    return node, port


def render_nginx(workdir: Path, *, listen: int, gate: int, upstream: int) -> Path:
    """The copy-paste template of deploy/nginx/gate.conf, placeholders filled, inside a minimal main config."""
    template = (ROOT / "deploy" / "nginx" / "gate.conf").read_text()
    site = (
        template.replace("{{LISTEN}}", f"127.0.0.1:{listen}")
        .replace("{{GATE}}", f"127.0.0.1:{gate}")
        .replace("{{UPSTREAM}}", f"127.0.0.1:{upstream}")
    )
    return wrap_site(workdir, site)


def start_nginx(workdir: Path, *, gate: int, upstream: int) -> tuple[Process, int]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = render_nginx(workdir, listen=port, gate=gate, upstream=upstream)
    nginx = Process([NGINX, "-p", str(workdir), "-c", str(config)], workdir / "nginx.log", cwd=workdir)
    return nginx.wait_until(
        lambda: (
            requests.get(f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/v2", timeout=1).status_code
            == 200
        )
    ), port


def seconds_until(predicate, *, timeout: float, interval: float = 0.01) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - started
