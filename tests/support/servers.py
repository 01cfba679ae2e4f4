"""Real processes on 127.0.0.1 for end-to-end tests: the authorization server (and, later, resource_demo).

Each server gets its own database, keys directory and a clock-offset file so tests can move its time. Its CLI
commands run as processes forked from an already-imported interpreter (``forkserver.run_python``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .forkserver import run_python

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            requests.get(url, timeout=0.5)
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


_CLI_BATCH = """
import contextlib, io, json, sys
from authserver.cli import main
results = []
for argv in json.load(sys.stdin):
    sys.argv = ["authserver", *[arg.format(*results) for arg in argv]]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            if exc.code not in (0, None):
                sys.exit(f"authserver {' '.join(sys.argv[1:])} failed with {exc.code}")
    results.append(json.loads(out.getvalue()))
print(json.dumps(results))
"""


@dataclass
class AuthServerProcess:
    """A running ``authserver run`` plus the environment to drive its CLI against the same database."""

    workdir: Path
    port: int
    env: dict
    proc: subprocess.Popen | None = None
    extra_env: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "authserver.log"

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> dict | subprocess.CompletedProcess:
        """Run ``authserver ARGS --json`` and return the parsed object (or the completed process if check=False)."""
        done = run_python(["-m", "authserver", *args], env=self.env, cwd=self.workdir, input=stdin, timeout=60)
        if not check:
            return done
        if done.returncode != 0:
            raise RuntimeError(f"authserver {' '.join(args)} failed: {done.stderr}")
        return json.loads(done.stdout)

    def cli_batch(self, *commands: list[str]) -> list[dict]:
        """Run several ``authserver ... --json`` commands through the real CLI entry point in one process (the
        imports cost ~1.5 s per process). An argument may refer to earlier results with ``str.format`` fields:
        ``"{0[id]}"`` is the ``id`` of the first command's output."""
        done = run_python(["-c", _CLI_BATCH], env=self.env, cwd=self.workdir, input=json.dumps(commands), timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"authserver batch failed: {done.stderr}")
        return json.loads(done.stdout)

    def set_clock_offset(self, seconds: float) -> None:
        """Move the server's clock (it re-reads the file when it changes)."""
        path = Path(self.env["AUTHSERVER_CLOCK_OFFSET_FILE"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(str(seconds))
        os.replace(tmp, path)
        stamp = time.time_ns() + 1_000_000
        os.utime(path, ns=(stamp, stamp))

    def start(self) -> AuthServerProcess:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "authserver", "run", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        wait_for_http(f"{self.url}/.well-known/oauth-authorization-server", self.proc, self.log_path)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def make_authserver(workdir: Path, **extra_env: str) -> AuthServerProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    clock_file = workdir / "clock-offset"
    clock_file.write_text("0")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "DATABASE_URL"))}
    env.update(
        {
            "AUTHSERVER_ISSUER": f"http://127.0.0.1:{port}",
            "DATABASE_URL": f"sqlite:///{workdir / 'authserver.db'}",
            "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
            "AUTHSERVER_CLOCK_OFFSET_FILE": str(clock_file),
            "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra_env)
    server = AuthServerProcess(workdir=workdir, port=port, env=env)
    server.cli("init", "--json")
    return server
