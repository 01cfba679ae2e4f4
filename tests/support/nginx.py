"""A real nginx (Debian's) on 127.0.0.1, configured from deploy/nginx/authserver.conf exactly as the nginx
container's entrypoint configures it: envsubst over the named variables only, the result inside ``http {}``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests

from .servers import ROOT

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = ROOT / "deploy" / "nginx" / "authserver.conf"
_PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def nginx_available() -> bool:
    return os.access(NGINX, os.X_OK)


def envsubst(template: str, values: dict[str, str]) -> str:
    """``envsubst '${A} ${B}'``: each ``${NAME}`` given is replaced; nginx's own ``$variables`` are left alone. A
    placeholder left without a value would be a broken config, so it is an error here."""
    missing = sorted({name for name in _PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def write_config(workdir: Path, values: dict[str, str]) -> Path:
    """The template filled in, inside a minimal main config that keeps every path under ``workdir``."""
    return wrap_site(workdir, envsubst(TEMPLATE.read_text(), values))


def wrap_site(workdir: Path, site: str) -> Path:
    """``site`` (server and upstream blocks) inside a minimal main config that keeps every path under ``workdir``;
    the file's path. Shared by the deployment's config and the resource kit's gate.conf tests."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / f"{name}_temp").mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = f"""{user}daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body_temp;
    proxy_temp_path {workdir}/proxy_temp;
    fastcgi_temp_path {workdir}/fastcgi_temp;
    uwsgi_temp_path {workdir}/uwsgi_temp;
    scgi_temp_path {workdir}/scgi_temp;
{site}
}}
"""
    path = workdir / "nginx.conf"
    path.write_text(main)
    return path


class Nginx:
    """nginx in the foreground, its output in ``workdir/nginx.log``; stopped with SIGQUIT (graceful)."""

    def __init__(self, workdir: Path, port: int, values: dict[str, str]) -> None:
        self.workdir, self.port = workdir, port
        self.config = write_config(workdir, values)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def check(self) -> None:
        """``nginx -t``: the filled-in file is a valid configuration."""
        done = subprocess.run(  # noqa: S603 - our own binary and file
            [NGINX, "-t", "-p", str(self.workdir), "-c", str(self.config)], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{done.stderr}")

    def start(self, ready_path: str = "/healthz", timeout: float = 20.0) -> Nginx:
        with open(self.workdir / "nginx.log", "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [NGINX, "-p", str(self.workdir), "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.errors()}")
            try:
                if requests.get(f"{self.url}{ready_path}", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not answer within {timeout}s:\n{self.errors()}")

    def errors(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
