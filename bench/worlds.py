"""Large worlds for the scale scenarios (records, lifecycle, memory): the server's environment, a database with
thousands of real tokens made by ``bulk.py``, optional filler rows, and the bodies wrk posts.

SQLite by default; ``database_url`` points at a throwaway PostgreSQL database instead (``postgres_database``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from processes import ROOT, ServerProcess

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def server_env(workdir: Path, port: int, database_url: str | None = None, **extra: str) -> dict:
    """What ``run.py`` gives its servers: fresh keys, limits off (the limiter is not what is measured)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "DATABASE_URL"))}
    env.update(
        {
            "DATABASE_URL": database_url or f"sqlite:///{workdir / 'authserver.db'}",
            "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
            "AUTHSERVER_ISSUER": f"http://127.0.0.1:{port}",
            "AUTHSERVER_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
            "AUTHSERVER_RATE_LIMIT_INTROSPECTION": "off",
            "AUTHSERVER_RATE_LIMIT_REVOCATION": "off",
            "AUTHSERVER_RATE_LIMIT_TOKEN_GENERATION": "off",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


def _bulk(env: dict, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bulk.py"), *args],
        env=env,
        capture_output=True,  # noqa: S603
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench/bulk.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


@dataclass
class BulkWorld:
    workdir: Path
    env: dict
    port: int
    made: dict
    bodies: dict[str, Path] = field(default_factory=dict)

    @property
    def authorization(self) -> str:
        return basic(self.made["client_id"], self.made["client_secret"])

    @property
    def admin_authorization(self) -> str:
        return basic(self.made["admin_id"], self.made["admin_secret"])

    def write_bodies(self, name: str, lines: list[str]) -> Path:
        path = self.workdir / f"{name}.bodies"
        path.write_text("".join(f"{line}\n" for line in lines))
        self.bodies[name] = path
        return path

    def token_bodies(self, name: str, tokens: list[str]) -> Path:
        return self.write_bodies(name, [urllib.parse.urlencode({"token": token}) for token in tokens])

    def server(self, *, workers: int, threads: int, log: str = "server.log", **extra_env: str) -> ServerProcess:
        argv = [
            sys.executable,
            "-m",
            "authserver",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ]
        return ServerProcess(argv, dict(self.env, **extra_env), self.port, self.workdir / log)


def bulk_world(
    workdir: Path, port: int, *, tokens: int, integrations: int, admin: bool = False, database_url: str | None = None
) -> BulkWorld:
    env = server_env(workdir, port, database_url)
    made = _bulk(env, "--tokens", str(tokens), "--integrations", str(integrations), *(["--admin"] if admin else []))
    return BulkWorld(workdir=workdir, env=env, port=port, made=made)


def add_filler(env: dict, count: int) -> int:
    """Filler rows into the database ``env`` points at; returns the number of token records there now."""
    return _bulk(env, "--add-filler", str(count))["records"]


@contextlib.contextmanager
def postgres_database(prefix: str = "authserver_bench") -> Iterator[tuple[str, str]]:
    """A throwaway database on the local PostgreSQL: yields (its name, its SQLAlchemy URL); dropped afterwards."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name, sqlalchemy_url(name)
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_postgres_database(source: str, prefix: str = "authserver_bench") -> contextlib.AbstractContextManager:
    """A throwaway copy of ``source`` (CREATE DATABASE ... TEMPLATE): the same rows, built once."""
    import psycopg

    @contextlib.contextmanager
    def copy() -> Iterator[tuple[str, str]]:
        name = f"{prefix}_{secrets.token_hex(4)}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        try:
            yield name, sqlalchemy_url(name)
        finally:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return copy()


def sqlalchemy_url(database: str) -> str:
    parts = urllib.parse.urlsplit(POSTGRES_ADMIN_URL)
    return urllib.parse.urlunsplit(("postgresql+psycopg", parts.netloc, f"/{database}", parts.query, ""))


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False
