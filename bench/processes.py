"""Server processes for the benchmark: start one on a free loopback port, wait for it, read its memory, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


@dataclass
class ServerProcess:
    """One server (master plus workers) started with ``argv``; ``url`` answers once it is up."""

    argv: list[str]
    env: dict
    port: int
    log: Path
    ready_path: str = "/.well-known/oauth-authorization-server"
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        handle = open(self.log, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.argv[0]} exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                urllib.request.urlopen(self.url + self.ready_path, timeout=1).read()  # noqa: S310 - loopback
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{' '.join(self.argv)} did not answer within {timeout}s")

    def rss_mib(self) -> tuple[float, list[float]]:
        """(total, per worker) resident memory of the server's processes."""
        if self.proc is None:
            return 0.0, []
        workers = _children(self.proc.pid)
        per_worker = [_rss_kib(pid) / 1024 for pid in workers]
        total = _rss_kib(self.proc.pid) / 1024 + sum(per_worker)
        return total, per_worker or [total]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes have used so far: a per-request cost that, unlike
        throughput, hardly moves when other work competes for the machine's cores."""
        if self.proc is None:
            return 0.0
        return sum(_cpu_ticks(pid) for pid in [self.proc.pid, *_children(self.proc.pid)]) / _TICKS

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        code, self.proc = self.proc.returncode, None
        return code
