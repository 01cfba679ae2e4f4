"""Configuration that survives real machines (issue 16 §5).

Secrets from files (``DATABASE_URL_FILE``, ``AUTHSERVER_SECRET_KEY_FILE``, ``REDIS_URL_FILE``), durations with units,
AUTHSERVER_HOST/AUTHSERVER_PORT and the worker count from the CPU quota. A bad value stops the real ``authserver``
command with exit code 1 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from authserver import config as config_module
from authserver.config import DEFAULT_WORKER_CAP, load_config
from authserver.cpu_quota import available_cpus
from tests.support.forkserver import run_python
from tests.support.servers import free_port, make_authserver, wait_for_http

TWINS = ("DATABASE_URL", "AUTHSERVER_SECRET_KEY", "REDIS_URL")


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh instance in ``tmp_path``: nothing inherited that this module sets."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AUTHSERVER_", "DATABASE_URL", "REDIS_URL"))
    }
    env |= {
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'authserver.db'}",
        "PYTHONUNBUFFERED": "1",
    }
    env |= extra
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``python -m authserver ARGS`` as a new process, forked from one that has done the imports."""
    return run_python(["-m", "authserver", *args], env=env, cwd=Path.cwd(), timeout=120)


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    for word in words:
        assert word in lines[0]


# -- secrets from files ---------------------------------------------------------------------------------------------
def test_database_url_file_is_read_and_trimmed_by_the_command_line(tmp_path):
    database = tmp_path / "from-file.db"
    url_file = tmp_path / "database_url"
    url_file.write_text(f"  \n sqlite:///{database}\t\n\n")
    env = base_env(tmp_path, DATABASE_URL_FILE=str(url_file))
    del env["DATABASE_URL"]

    done = run_cli(env, "init", "--json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["database"] == f"sqlite:///{database}"
    assert database.exists()


def test_each_file_twin_is_read_trimmed(tmp_path, monkeypatch):
    values = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'twin.db'}",
        "AUTHSERVER_SECRET_KEY": "a-secret-key-from-a-docker-secret",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
    }
    for name, value in values.items():
        monkeypatch.delenv(name, raising=False)
        path = tmp_path / name.lower()
        path.write_text(f"\n  {value}  \r\n")
        monkeypatch.setenv(f"{name}_FILE", str(path))

    loaded = load_config(tmp_path / "instance")

    assert loaded["SQLALCHEMY_DATABASE_URI"] == values["DATABASE_URL"]
    assert loaded["SECRET_KEY"] == values["AUTHSERVER_SECRET_KEY"]
    assert loaded["REDIS_URL"] == values["REDIS_URL"]
    assert not (tmp_path / "instance" / "secret_key").exists()  # no generated key when one is given


@pytest.mark.parametrize("name", TWINS)
@pytest.mark.parametrize("problem", ["missing", "directory", "not-utf8", "empty", "blank", "both-set"])
def test_a_file_twin_that_cannot_be_used_stops_the_command_with_one_line(tmp_path, name, problem):
    path = tmp_path / f"{name.lower()}-file"
    if problem == "directory":
        path.mkdir()
    elif problem == "not-utf8":
        path.write_bytes(b"\xff\xfe\x00sqlite")
    elif problem == "empty":
        path.write_text("")
    elif problem in ("blank", "both-set"):
        path.write_text(" \n\t\n" if problem == "blank" else "value-from-file")
    env = base_env(tmp_path, **{f"{name}_FILE": str(path)})
    if problem == "both-set":
        env[name] = "sqlite:///other.db" if name == "DATABASE_URL" else "value-from-variable"
    else:
        env.pop(name, None)

    done = run_cli(env, "init", "--json")

    assert_one_line_error(done, f"{name}_FILE" if problem != "both-set" else f"{name} and {name}_FILE")
    assert done.stdout == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_file_twin_without_read_permission_stops_the_command(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("secret")
    path.chmod(0)
    done = run_cli(base_env(tmp_path, AUTHSERVER_SECRET_KEY_FILE=str(path)), "init", "--json")
    assert_one_line_error(done, "AUTHSERVER_SECRET_KEY_FILE", "Permission denied")


# -- bad values: one line, exit 1 -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTHSERVER_MAX_TOKEN_LIFETIME", "abc"),
        ("AUTHSERVER_MAX_TOKEN_LIFETIME", "-5"),
        ("AUTHSERVER_MAX_TOKEN_LIFETIME", "999999w"),
        ("AUTHSERVER_ACTIVITY_FLUSH_INTERVAL", "0"),
        ("AUTHSERVER_ACTIVITY_FLUSH_INTERVAL", "5 minutes"),
        ("AUTHSERVER_RETAIN_AUDIT", "forever"),
        ("AUTHSERVER_PRUNE_INTERVAL", "1y"),
        ("AUTHSERVER_WORKERS", "0"),
        ("AUTHSERVER_WORKERS", "many"),
        ("AUTHSERVER_WORKERS", "100000"),
        ("AUTHSERVER_WORKERS", "²"),
        ("AUTHSERVER_WORKERS", "9" * 5000),
        ("AUTHSERVER_PORT", "0"),
        ("AUTHSERVER_PORT", "65536"),
        ("AUTHSERVER_PORT", "http"),
        ("AUTHSERVER_LOG_LEVEL", "verbose"),
        ("AUTHSERVER_LOG_LEVEL", "critical"),
    ],
)
def test_a_bad_value_stops_the_command_with_one_line(tmp_path, name, value):
    done = run_cli(base_env(tmp_path, **{name: value}), "init", "--json")
    assert_one_line_error(done, name)


def test_durations_with_units_are_read_as_seconds(tmp_path, monkeypatch):
    settings = {
        "AUTHSERVER_MAX_TOKEN_LIFETIME": "90d",
        "AUTHSERVER_DEFAULT_TOKEN_LIFETIME": "2w",
        "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": "500ms",
        "AUTHSERVER_DB_LOCK_TIMEOUT": "1.5s",
        "AUTHSERVER_KEY_PREPUBLISH": "15m",
        "AUTHSERVER_WEBHOOK_TIMEOUT": "30",
        "AUTHSERVER_RETAIN_EVENTS": "off",
        "AUTHSERVER_RETAIN_AUDIT": "400D",
        "AUTHSERVER_PRUNE_INTERVAL": " 12h ",
        "AUTHSERVER_LOG_LEVEL": "WARNING",
        "AUTHSERVER_PORT": "8081",
        "AUTHSERVER_HOST": "0.0.0.0",  # noqa: S104 - read back, not bound
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)

    loaded = load_config(tmp_path)

    assert loaded["AUTHSERVER_MAX_TOKEN_LIFETIME"] == 90 * 86400
    assert loaded["AUTHSERVER_DEFAULT_TOKEN_LIFETIME"] == 14 * 86400
    assert loaded["AUTHSERVER_ACTIVITY_FLUSH_INTERVAL"] == pytest.approx(0.5)
    assert loaded["AUTHSERVER_DB_LOCK_TIMEOUT"] == pytest.approx(1.5)
    assert loaded["AUTHSERVER_KEY_PREPUBLISH"] == 900
    assert loaded["AUTHSERVER_WEBHOOK_TIMEOUT"] == 30
    assert loaded["AUTHSERVER_RETAIN_EVENTS"] is None
    assert loaded["AUTHSERVER_RETAIN_AUDIT"] == 400 * 86400
    assert loaded["AUTHSERVER_PRUNE_INTERVAL"] == 12 * 3600
    assert loaded["AUTHSERVER_LOG_LEVEL"] == "warning"
    assert loaded["AUTHSERVER_PORT"] == 8081
    assert loaded["AUTHSERVER_HOST"] == "0.0.0.0"  # noqa: S104


# -- workers from the CPU quota -------------------------------------------------------------------------------------
@pytest.fixture
def cpus(monkeypatch):
    """Pretend the process may run on ``count`` CPUs (its affinity mask)."""

    def pretend(count: int) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(count)))

    return pretend


def cgroup(tmp_path: Path, files: dict[str, str], own: str = "0::/\n") -> tuple[Path, Path]:
    """A fake cgroup mount (``files`` relative to it) and a fake /proc/self/cgroup naming the process's cgroup."""
    root = tmp_path / "cgroup"
    root.mkdir()
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(own)
    return root, proc


@pytest.mark.parametrize(
    ("files", "own", "expected"),
    [
        ({"cpu.max": "150000 100000\n"}, "0::/\n", 2),  # 1.5 CPUs: rounded up
        ({"cpu.max": "max 100000\n"}, "0::/\n", 96),
        ({"cpu.max": "400000 100000\n"}, "0::/\n", 4),
        ({}, "0::/\n", 96),  # no cgroup files at all
        ({"cpu.max": "garbage here\n"}, "0::/\n", 96),
        # systemd: the unit's own folder sets CPUQuota=300%, a slice above it 8 CPUs
        (
            {"system.slice/cpu.max": "800000 100000", "system.slice/authserver.service/cpu.max": "300000 100000"},
            "0::/system.slice/authserver.service\n",
            3,
        ),
        ({"system.slice/cpu.max": "200000 100000"}, "0::/system.slice/authserver.service\n", 2),  # the parent's
        # cgroup v1 (the cpu controller's folder)
        ({"cpu/cpu.cfs_quota_us": "250000\n", "cpu/cpu.cfs_period_us": "100000\n"}, "1:cpu,cpuacct:/\n", 3),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, "1:cpu,cpuacct:/\n", 96),
        (
            {"cpu/docker/abc/cpu.cfs_quota_us": "100000", "cpu/docker/abc/cpu.cfs_period_us": "100000"},
            "1:cpu,cpuacct:/docker/abc\n",
            1,
        ),
    ],
)
def test_available_cpus_follow_the_cgroup_quota(tmp_path, cpus, files, own, expected):
    cpus(96)
    root, proc = cgroup(tmp_path, files, own)
    assert available_cpus(root, proc) == expected


def test_available_cpus_never_exceed_the_affinity_mask(tmp_path, cpus):
    cpus(2)
    root, proc = cgroup(tmp_path, {"cpu.max": "800000 100000"})
    assert available_cpus(root, proc) == 2


@pytest.mark.parametrize(("count", "quota", "expected"), [(96, None, 32), (200, None, 32), (96, "150000 100000", 2)])
def test_the_default_worker_count_is_the_usable_cpus_at_most_32(tmp_path, monkeypatch, cpus, count, quota, expected):
    """A big machine starts DEFAULT_WORKER_CAP workers, without an error; a container's quota lowers the count."""
    cpus(count)
    root, proc = cgroup(tmp_path, {"cpu.max": quota} if quota else {})
    monkeypatch.setattr(config_module, "available_cpus", lambda: available_cpus(root, proc))
    monkeypatch.delenv("AUTHSERVER_WORKERS", raising=False)
    assert DEFAULT_WORKER_CAP == 32
    assert load_config(tmp_path)["AUTHSERVER_WORKERS"] == expected


# -- AUTHSERVER_HOST / AUTHSERVER_PORT, and the twins in a real server ----------------------------------------------
def test_serve_listens_on_authserver_port_with_every_secret_from_a_file(tmp_path):
    server = make_authserver(tmp_path)
    port = free_port()
    while port == server.port:
        port = free_port()
    files = {
        "DATABASE_URL": server.env.pop("DATABASE_URL"),
        "AUTHSERVER_SECRET_KEY": "served-secret-key-from-a-file",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    env = dict(server.env, AUTHSERVER_HOST="127.0.0.1", AUTHSERVER_PORT=str(port))
    env["AUTHSERVER_REDIS_PREFIX"] = f"ops-config-{port}"
    for name, value in files.items():
        (tmp_path / name.lower()).write_text(f"  {value}\n")
        env[f"{name}_FILE"] = str(tmp_path / name.lower())
    with open(server.log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", "authserver", "serve", "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", proc, server.log_path, timeout=60)
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.url}/healthz", timeout=5)  # not the issuer's port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["redis"] == "ok", ready.text  # REDIS_URL_FILE read and trimmed
    assert f"authserver listening on http://127.0.0.1:{port}" in server.log_path.read_text()
