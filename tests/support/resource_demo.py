"""A running ``python -m resource_demo`` on 127.0.0.1 for end-to-end tests and the benchmark.

Each instance gets its own database and clock-offset file; ``set_clock_offset`` moves its time like
``AuthServerProcess.set_clock_offset`` moves the authorization server's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from .servers import ROOT, AuthServerProcess, free_port

_BATCH_SCRIPT = """
import json, sys
from authserver import create_app
runner = create_app().test_cli_runner()
results = []
for args in json.load(sys.stdin):
    args = [arg.format(*results) for arg in args]
    done = runner.invoke(args=args)
    if done.exit_code != 0:
        sys.exit(f"authserver {' '.join(args)} failed: {done.output}")
    results.append(json.loads(done.output))
print(json.dumps(results))
"""


def cli_batch(server: AuthServerProcess, *commands: tuple[str, ...]) -> list[dict]:
    """Run several ``authserver`` CLI commands (each with --json) in one process: the CLI's start-up is the slow
    part. An argument may refer to an earlier result, e.g. ``"{0[id]}"`` for the first command's id."""
    done = subprocess.run(
        [sys.executable, "-c", _BATCH_SCRIPT],
        input=json.dumps(commands),
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=server.workdir,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class ResourceDemoProcess:
    workdir: Path
    port: int
    env: dict
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "resource_demo.log"

    def set_clock_offset(self, seconds: float) -> None:
        path = Path(self.env["RESOURCE_DEMO_CLOCK_OFFSET_FILE"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(str(seconds))
        os.replace(tmp, path)
        stamp = time.time_ns() + 1_000_000
        os.utime(path, ns=(stamp, stamp))

    def start(self, *, wait_for_feed: bool = True, timeout: float = 20.0) -> ResourceDemoProcess:
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "resource_demo"], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"resource_demo exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                health = requests.get(f"{self.url}/healthz", timeout=0.5).json()
                if not wait_for_feed or health["feed"]["live"]:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"resource_demo did not become ready within {timeout}s:\n{self.log_text()}")

    def health(self) -> dict:
        return requests.get(f"{self.url}/healthz", timeout=2).json()

    def log_text(self) -> str:
        return self.log_path.read_text()[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def make_resource_demo(
    workdir: Path,
    *,
    authserver_url: str,
    client_id: str,
    client_secret: str,
    mode: str,
    clock_offset: float = 0.0,
    **extra_env: str,
) -> ResourceDemoProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    clock_file = workdir / "clock-offset"
    clock_file.write_text(str(clock_offset))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "RESOURCE_DEMO_"))}
    env.update(
        {
            "AUTHSERVER_URL": authserver_url,
            "RESOURCE_DEMO_CLIENT_ID": client_id,
            "RESOURCE_DEMO_CLIENT_SECRET": client_secret,
            "RESOURCE_DEMO_MODE": mode,
            "RESOURCE_DEMO_HOST": "127.0.0.1",
            "RESOURCE_DEMO_PORT": str(port),
            "RESOURCE_DEMO_DATABASE_URL": f"sqlite:///{workdir / 'resource_demo.db'}",
            "RESOURCE_DEMO_CLOCK_OFFSET_FILE": str(clock_file),
            "RESOURCE_DEMO_USAGE_INTERVAL": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra_env)
    return ResourceDemoProcess(workdir=workdir, port=port, env=env)


class AdminApi:
    """An account's admin client speaking the authorization server's JSON admin API (HTTP Basic)."""

    def __init__(self, base_url: str, account_id: str, client_id: str, client_secret: str) -> None:
        self.base_url = base_url
        self.account_id = account_id
        self.session = requests.Session()
        self.session.auth = (client_id, client_secret)

    def call(self, method: str, path: str, expect: int = 200, **kwargs) -> dict:
        response = self.session.request(method, self.base_url + path, timeout=15, **kwargs)
        if response.status_code != expect:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else {}

    def create_integration(self, name: str, scopes: list[str]) -> str:
        return self.call(
            "POST", f"/api/accounts/{self.account_id}/integrations", 201, json={"name": name, "scopes": scopes}
        )["id"]

    def generate_token(self, integration_id: str, **body) -> str:
        return self.call("POST", f"/api/integrations/{integration_id}/tokens", 201, json=body)["token"]

    def set_scopes(self, integration_id: str, scopes: list[str]) -> dict:
        return self.call("PATCH", f"/api/integrations/{integration_id}", json={"scopes": scopes})

    def rotate(self, integration_id: str, **body) -> str:
        return self.call("POST", f"/api/integrations/{integration_id}/rotate", 201, json=body)["token"]

    def expire_now(self, integration_id: str) -> dict:
        return self.call("POST", f"/api/integrations/{integration_id}/expire", json={})

    def integration(self, integration_id: str) -> dict:
        return self.call("GET", f"/api/integrations/{integration_id}")
