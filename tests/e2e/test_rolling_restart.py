"""A rolling restart behind nginx loses no request and no activity (issue 16 §7), with the deploy/ files themselves.

Two instances started by deploy/docker-entrypoint.sh ``serve`` on PostgreSQL + Redis, after its ``migrate`` step,
behind a real nginx configured from deploy/nginx/authserver.conf. Threads drive introspections and admin reads
through nginx while instance A, then B, is stopped with SIGTERM, started again and waited for; every response must
be right, and the tokens' use counts in the database must equal the active introspections answered.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
import requests
import yaml
from sqlalchemy import create_engine, text

from tests.support.databases import ThrowawayPostgres, postgres_available
from tests.support.nginx import Nginx, envsubst, nginx_available
from tests.support.servers import ROOT, AuthServerProcess, free_port

ENTRYPOINT = ROOT / "deploy" / "docker-entrypoint.sh"
REDIS_URL = "redis://127.0.0.1:6379/0"
TOKENS = 3


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def _secret_file(path: Path, value: str) -> str:
    path.write_text(value + "\n")  # surrounding whitespace is trimmed, as a secrets mount often has a newline
    path.chmod(0o600)
    return str(path)


@dataclass
class Instance:
    """One ``docker-entrypoint.sh serve`` on its own port; each start writes a new log file."""

    name: str
    workdir: Path
    env: dict
    port: int = field(default_factory=free_port)
    starts: int = 0
    proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}-{self.starts}.log"

    def start(self) -> Instance:
        self.starts += 1
        env = self.env | {"AUTHSERVER_PORT": str(self.port)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own script
                [str(ENTRYPOINT), "serve", "--workers", "1", "--threads", "4"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + 90  # a busy machine: starting Python and the app can take this long
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready within 90s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> int:
        """SIGTERM (what `docker stop` and systemd send) and the exit code once drained and flushed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=45)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def served_introspections(self) -> int:
        """Introspections this start answered, from its access log (written at once in this test)."""
        if not self.log_path.exists():
            return 0
        return sum('"path": "/oauth/introspect"' in line for line in self.log_path.read_text().splitlines())


@pytest.fixture
def stack(tmp_path):
    if not nginx_available():
        pytest.skip("nginx is not installed (Debian package nginx): the rolling restart runs behind a real nginx")
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432: the rolling restart needs a shared database")
    if not _redis_available():
        if os.environ.get("CI"):
            pytest.fail("Redis must be running for the rolling-restart test in CI")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    database = ThrowawayPostgres()
    prefix = f"authserver-rolling-{secrets.token_hex(4)}"
    nginx_port = free_port()
    keys = tmp_path / "keys"  # the one keys volume every instance mounts
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "DATABASE_URL", "REDIS_URL"))}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # the venv's `authserver`
        "PYTHONUNBUFFERED": "1",
        "AUTHSERVER_HOST": "127.0.0.1",
        "AUTHSERVER_ISSUER": f"http://127.0.0.1:{nginx_port}",
        "AUTHSERVER_KEYS_DIR": str(keys),
        "DATABASE_URL_FILE": _secret_file(tmp_path / "database-url", database.url),
        "REDIS_URL_FILE": _secret_file(tmp_path / "redis-url", REDIS_URL),
        "AUTHSERVER_SECRET_KEY_FILE": _secret_file(tmp_path / "secret-key", secrets.token_urlsafe(32)),
        "AUTHSERVER_REDIS_PREFIX": prefix,
        "AUTHSERVER_TRUSTED_PROXIES": "1",
        "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": "0.5",
        "AUTHSERVER_RATE_LIMIT_INTROSPECTION": "off",
        "AUTHSERVER_ACCESS_LOG": "immediate",
    }
    instances: list[Instance] = []
    nginx = None
    try:
        migrated = subprocess.run(  # noqa: S603
            [str(ENTRYPOINT), "migrate"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert migrated.returncode == 0, migrated.stderr
        upgrade, init = (json.loads(line) for line in migrated.stdout.splitlines())
        assert upgrade["status"] == "ok" and upgrade["applied"] and init["current_kid"]  # a new database

        seeder = AuthServerProcess(workdir=tmp_path, port=nginx_port, env=env)
        account, admin, service, *made = seeder.cli_batch(
            ["account", "create", "--name", "Acme", "--json"],
            ["client", "create", "--name", "ops", "--kind", "admin", "--account", "{0[id]}", "--json"],
            ["client", "create", "--name", "contacts", "--kind", "resource-service", "--json"],
            *(
                ["integration", "create", "--account", "{0[id]}", "--name", f"Zap {n}", "--scope", "contacts.readonly"]
                + ["--json"]
                for n in range(TOKENS)
            ),
            *(["token", "generate", f"{{{3 + n}[id]}}", "--json"] for n in range(TOKENS)),
        )
        tokens = {issued["token_id"]: issued["token"] for issued in made[TOKENS:]}

        env_a, env_b = (env | {"AUTHSERVER_AUTO_MIGRATE": "off"} for _ in range(2))
        instances = [Instance("a", tmp_path, env_a).start(), Instance("b", tmp_path, env_b).start()]
        nginx = Nginx(
            tmp_path / "nginx",
            nginx_port,
            {
                "AUTHSERVER_LISTEN": f"127.0.0.1:{nginx_port}",
                "AUTHSERVER_INSTANCE_A": f"127.0.0.1:{instances[0].port}",
                "AUTHSERVER_INSTANCE_B": f"127.0.0.1:{instances[1].port}",
            },
        )
        nginx.check()
        nginx.start()
        yield {
            "nginx": nginx,
            "instances": instances,
            "tokens": tokens,
            "account": account["id"],
            "admin": (admin["client_id"], admin["client_secret"]),
            "service": (service["client_id"], service["client_secret"]),
            "database": database,
        }
    finally:
        if nginx is not None:
            nginx.stop()
        for instance in instances:
            if instance.proc is not None and instance.proc.poll() is None:
                instance.stop()
        database.drop()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


class Load:
    """Threads sending introspections of every token and admin reads through nginx, checking every answer."""

    def __init__(self, stack: dict, threads: int = 3, pause: float = 0.005) -> None:
        self.base, self.stack = stack["nginx"].url, stack
        self.stopping, self.pause = threading.Event(), pause  # steady, not flat out: the restarts need CPU too
        self.lock = threading.Lock()
        self.active = Counter()  # jti -> introspections answered active
        self.answered = 0
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(self, n: int) -> None:
        session = requests.Session()  # keep-alive to nginx, as a resource service keeps it
        jtis = list(self.stack["tokens"])
        account = self.stack["account"]
        step = n
        while not self.stopping.wait(self.pause):
            step += 1
            try:
                if step % 5 == 0:
                    response = session.get(
                        f"{self.base}/api/accounts/{account}/integrations", auth=self.stack["admin"], timeout=30
                    )
                    ok = response.status_code == 200 and len(response.json()["integrations"]) == TOKENS
                    jti = None
                else:
                    jti = jtis[step % len(jtis)]
                    response = session.post(
                        f"{self.base}/oauth/introspect",
                        data={"token": self.stack["tokens"][jti]},
                        auth=self.stack["service"],
                        timeout=30,
                    )
                    ok = response.status_code == 200 and response.json().get("jti") == jti
                    ok = ok and response.json()["active"] is True
            except (requests.RequestException, ValueError) as exc:
                with self.lock:
                    self.failures.append(f"{exc.__class__.__name__}: {exc}")
                continue
            with self.lock:
                self.answered += 1
                if not ok:
                    self.failures.append(
                        f"{response.request.method} {response.url}: {response.status_code} {response.text[:200]}"
                    )
                elif jti is not None:
                    self.active[jti] += 1

    def wait_for(self, count: int, timeout: float = 30) -> None:
        """Until this many more requests have been answered (the load is flowing)."""
        target = self.answered + count
        deadline = time.monotonic() + timeout
        while self.answered < target:
            assert time.monotonic() < deadline, f"the load stalled at {self.answered} answers"
            time.sleep(0.02)


def uses_in_database(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT jti, SUM(count) FROM token_usage_daily GROUP BY jti"))
            return {jti: int(total) for jti, total in rows}
    finally:
        engine.dispose()


def test_a_rolling_restart_behind_nginx_loses_no_request_and_no_activity(stack):
    instances = stack["instances"]
    base = stack["nginx"].url
    # nginx's X-Forwarded-For is the one believed (AUTHSERVER_TRUSTED_PROXIES=1): a client's own copy is not.
    spoofed = requests.post(
        f"{base}/oauth/introspect",
        data={"token": "not-a-token"},
        auth=stack["service"],
        headers={"X-Forwarded-For": "203.0.113.7"},
        timeout=30,
    )
    assert spoofed.status_code == 200 and spoofed.json() == {"active": False}
    logged = "".join(instance.log_path.read_text() for instance in instances)
    assert '"remote_addr": "127.0.0.1"' in logged and "203.0.113.7" not in logged
    # A body past AUTHSERVER_MAX_REQUEST_BYTES (1 MiB) is refused by nginx itself.
    too_big = requests.post(f"{base}/oauth/introspect", data=b"t" * (1024 * 1024 + 1), timeout=30)
    assert too_big.status_code == 413

    with Load(stack) as load:
        load.wait_for(200)
        for instance in instances:
            assert instance.stop() == 0, instance.log_path.read_text()[-3000:]  # drained and flushed
            during = load.answered
            load.wait_for(50)  # the other instance carries everything meanwhile
            assert load.answered > during
            instance.start()
            # Back in rotation before the next one goes: nginx sends it introspections again.
            deadline = time.monotonic() + 20
            while instance.served_introspections() < 20:
                assert time.monotonic() < deadline, f"nginx sent nothing to the restarted {instance.name}"
                time.sleep(0.05)
        load.wait_for(200)

    assert load.failures == [], load.failures[:10]
    assert sum(load.active.values()) >= 500
    assert set(load.active) == set(stack["tokens"])

    # Every active introspection is counted once: flushed by the instances while they run (through Redis) and by
    # each on SIGTERM. Wait for the last handed-off counts to reach the database, then stop both and look again.
    url = stack["database"].url
    expected = dict(load.active)
    deadline = time.monotonic() + 20
    while uses_in_database(url) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert uses_in_database(url) == expected
    for instance in instances:
        assert instance.stop() == 0
    assert uses_in_database(url) == expected  # stopping added nothing twice


# -- the deploy/ files themselves: well-formed, and saying what the test above relies on ------------------------------
DEPLOY = ROOT / "deploy"
REPLICAS = ("authserver-a", "authserver-b")


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    instructions = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def _unit() -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in (DEPLOY / "systemd" / "authserver.service").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        assert current is not None and key, f"not a unit file line: {line}"
        current.append((key, value))
    return sections


def test_the_compose_file_runs_migrations_once_before_two_replicas_behind_nginx():
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "redis", "migrate", *REPLICAS, "nginx", "resource-demo"} <= set(services)
    assert services["migrate"]["command"] == ["migrate"] and services["migrate"]["restart"] == "no"
    for name in REPLICAS:
        replica = services[name]
        assert replica["command"] == ["serve"]
        assert replica["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert replica["environment"]["AUTHSERVER_AUTO_MIGRATE"] == "off"
        assert replica["environment"]["AUTHSERVER_TRUSTED_PROXIES"] == "1"
        assert int(replica["stop_grace_period"].removesuffix("s")) > 30  # the server's drain time
        # Secrets only through *_FILE twins naming a compose secret, never a value in the file.
        assert not {"DATABASE_URL", "AUTHSERVER_SECRET_KEY"} & set(replica["environment"])
        for variable, path in replica["environment"].items():
            if variable.endswith("_FILE"):
                assert path.removeprefix("/run/secrets/") in replica["secrets"]
        assert set(replica["secrets"]) <= set(compose["secrets"])
    # One keys volume for the migrate job (which creates the first key) and every replica.
    mounts = {name: services[name]["volumes"] for name in ("migrate", *REPLICAS)}
    assert len({tuple(volumes) for volumes in mounts.values()}) == 1
    assert "keys:/var/lib/authserver/keys" in mounts["migrate"] and "keys" in compose["volumes"]

    nginx = services["nginx"]
    assert "./nginx/authserver.conf:/etc/nginx/templates/default.conf.template:ro" in nginx["volumes"]
    filled = envsubst((DEPLOY / "nginx" / "authserver.conf").read_text(), nginx["environment"])  # none missing
    for name in REPLICAS:
        assert f"server {name}:8000 " in filled
        assert nginx["depends_on"][name] == {"condition": "service_healthy"}


def test_the_dockerfile_runs_the_entrypoint_as_a_fixed_non_root_user_with_a_health_check():
    final = _dockerfile()
    names = [name for name, _ in final]
    assert final[0] == ("FROM", "python:3.11-slim")
    user = [args for name, args in final if name == "USER"]
    assert user == ["authserver:authserver"]
    runs = " ".join(args for name, args in final if name == "RUN")
    assert re.search(r"useradd --system --uid \"\$\{AUTHSERVER_UID\}\"", runs)
    assert ("ARG", "AUTHSERVER_UID=10001") in final
    assert names.index("USER") > max(i for i, name in enumerate(names) if name == "RUN")  # nothing runs as root after
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["docker-entrypoint.sh"]
    assert json.loads(dict(final)["CMD"]) == ["serve"]
    env = " ".join(args for name, args in final if name == "ENV")
    keys_dir = re.search(r"AUTHSERVER_KEYS_DIR=(\S+)", env).group(1)
    assert keys_dir in json.loads(dict(final)["VOLUME"])
    health = dict(final)["HEALTHCHECK"]
    path = re.search(r"/(readyz|healthz)", health).group(0)
    assert f'@bp.get("{path}")' in (ROOT / "authserver" / "health.py").read_text()
    # Every file the build copies from the repository exists.
    text = (DEPLOY / "Dockerfile").read_text()
    for arguments in re.findall(r"^COPY (?!--from=)(.+)$", text, re.MULTILINE):
        for item in [word for word in arguments.split() if not word.startswith("--")][:-1]:  # the last is the target
            assert (ROOT / item).exists(), item


def test_the_entrypoint_runs_any_other_command_as_given():
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=False).returncode == 0  # noqa: S603, S607
    done = subprocess.run(  # noqa: S603
        [str(ENTRYPOINT), "printf", "%s|", "a b", "c"], capture_output=True, text=True, timeout=10, check=False
    )
    assert done.returncode == 0 and done.stdout == "a b|c|"


def test_the_systemd_unit_migrates_first_drains_on_sigterm_and_is_confined(tmp_path):
    unit = _unit()
    service = unit["Service"]
    values = dict(service)  # the last of a repeated key
    assert values["ExecStart"].endswith("/authserver serve")
    assert values["ExecStartPre"].endswith("/authserver db upgrade --json")
    assert ("Environment", "AUTHSERVER_AUTO_MIGRATE=off") in service
    assert values["KillSignal"] == "SIGTERM" and values["Restart"] == "on-failure"
    assert int(values["TimeoutStopSec"].removesuffix("s")) > 30  # the server's drain time
    assert values["NoNewPrivileges"] == "yes" and values["PrivateTmp"] == "yes"
    assert values["ProtectSystem"] == "strict"
    assert values.get("User") == "authserver" or values.get("DynamicUser") == "yes"
    env_file = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / "authserver.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    writable = values["ReadWritePaths"].split()
    assert any(env_file["AUTHSERVER_KEYS_DIR"].startswith(path) for path in writable)
    assert unit["Install"] == [("WantedBy", "multi-user.target")]

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    # The unit as installed, but with this machine's `authserver` (verify checks that the binaries exist).
    copy = tmp_path / "authserver.service"
    authserver = Path(sys.executable).with_name("authserver")
    copy.write_text(
        (DEPLOY / "systemd" / "authserver.service")
        .read_text()
        .replace("/opt/authserver/bin/authserver", str(authserver))
    )
    done = subprocess.run(  # noqa: S603
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [line for line in done.stderr.splitlines() if "authserver.service" in line]
    assert done.returncode == 0 and not problems, done.stderr


def test_the_nginx_template_is_a_valid_configuration(tmp_path):
    if not nginx_available():
        pytest.skip("nginx is not installed (Debian package nginx)")
    Nginx(
        tmp_path,
        free_port(),
        {
            "AUTHSERVER_LISTEN": "127.0.0.1:8080",
            "AUTHSERVER_INSTANCE_A": "127.0.0.1:8001",
            "AUTHSERVER_INSTANCE_B": "127.0.0.1:8002",
        },
    ).check()


class _Answers(BaseHTTPRequestHandler):
    """Instance B of the retry test: answers every request 200."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"served_by": "b"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args) -> None:  # quiet
        pass


class _Crashes(socketserver.StreamRequestHandler):
    """Instance A of the retry test: reads each request, notes its method and path, and closes the connection
    without answering, like an instance that dies after the request reached it."""

    seen: list[str]

    def handle(self) -> None:
        head = self.rfile.readline().decode()
        length = 0
        while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        self.rfile.read(length)
        self.seen.append(" ".join(head.split()[:2]))


def test_nginx_sends_again_only_what_is_safe_to_repeat(tmp_path):
    """After a request reached an instance that then failed, nginx retries introspection, revocation and reads on
    the next instance, but never an admin write (it may have committed)."""
    if not nginx_available():
        pytest.skip("nginx is not installed (Debian package nginx)")
    seen: list[str] = []
    crashing = socketserver.ThreadingTCPServer(("127.0.0.1", 0), type("A", (_Crashes,), {"seen": seen}))
    answering = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    servers = (crashing, answering)
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_port()
    nginx = Nginx(
        tmp_path,
        port,
        {
            "AUTHSERVER_LISTEN": f"127.0.0.1:{port}",
            "AUTHSERVER_INSTANCE_A": f"127.0.0.1:{crashing.server_address[1]}",
            "AUTHSERVER_INSTANCE_B": f"127.0.0.1:{answering.server_address[1]}",
        },
    )
    try:
        nginx.start(ready_path="/healthz")
        cases = [
            ("POST", "/oauth/introspect", 200),
            ("POST", "/oauth/revoke", 200),
            ("GET", "/api/accounts", 200),
            ("POST", "/api/accounts/acc_1/integrations", 502),
            ("PATCH", "/api/integrations/int_1", 502),
        ]
        for method, path, expected in cases:
            time.sleep(3.1)  # past fail_timeout (2 s, counted in whole seconds): A is in rotation again
            seen.clear()
            for _ in range(4):  # round robin: A gets one of the first two
                response = requests.request(method, nginx.url + path, data="token=x", timeout=30)
                if seen:
                    break
                assert response.status_code == 200
            assert seen == [f"{method} {path}"], (method, path, seen)
            assert response.status_code == expected, (method, path, response.status_code)
            if expected == 200:
                assert response.json() == {"served_by": "b"}
    finally:
        nginx.stop()
        for server in servers:
            server.shutdown()
            server.server_close()
