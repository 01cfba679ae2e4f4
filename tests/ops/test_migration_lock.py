"""The migration lock, with real processes (issue 16 §6): instances that start at once on one fresh database migrate
it once and the others wait; a waiter gives up in one line after AUTHSERVER_MIGRATION_LOCK_TIMEOUT; a migrating
process that is killed does not keep the lock.

To start the processes truly at once, the test holds the lock itself until every process is seen waiting for it
(in ``pg_locks`` on PostgreSQL, by its log line on SQLite), then lets go: they all contend at the same moment.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, inspect, text

from authserver.migration_lock import LOCK_KEY, WAITING
from authserver.schema import history, upgrade, upgrade_holding_lock
from tests.support.databases import ThrowawayPostgres, postgres_available
from tests.support.servers import free_port, wait_for_http

HEAD = history()[-1].id
ALL = [revision.id for revision in history()]
AFTER_0009 = [revision for revision in ALL if revision > "0009"]
SLOW = 180  # seconds: the CI machine is shared, and each process spends seconds on its imports


@pytest.fixture
def postgres():
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL must be running for the migration lock tests in CI")
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    database = ThrowawayPostgres()
    engine = create_engine(database.url)
    yield database.url, engine
    engine.dispose()
    database.drop()


def environment(tmp_path: Path, database_url: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "DATABASE_URL"))}
    env.update(DATABASE_URL=database_url, AUTHSERVER_KEYS_DIR=str(tmp_path / "keys"), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class Started:
    """An ``authserver`` process with its stdout and stderr in files."""

    def __init__(self, env: dict, workdir: Path, *args: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.out, self.err = workdir / "stdout", workdir / "stderr"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(  # noqa: S603  (this interpreter, the test's own arguments)
                [sys.executable, "-m", "authserver", *args], env=env, stdout=out, stderr=err, cwd=workdir
            )

    def finish(self) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=SLOW)
        return code, self.out.read_text(), self.err.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def eventually(check, what: str, timeout: float = SLOW) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# -- PostgreSQL: the advisory lock ------------------------------------------------------------------------------
def advisory_locks(engine, *, granted: bool) -> int:
    """Holders (or waiters) of the migration lock in this database, as the server sees them."""
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = :granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = :high AND objid = :low AND objsubid = 1"
            ),
            {"granted": granted, "high": (LOCK_KEY >> 32) & 0xFFFFFFFF, "low": LOCK_KEY & 0xFFFFFFFF},
        ).scalar()


def hold_advisory_lock(engine):
    connection = engine.connect()
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
    connection.commit()
    return connection


def let_go(connection) -> None:
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    connection.commit()
    connection.close()  # back to the pool: the unlock, not the close, let go of the session lock


def version_rows(engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def assert_migrated_once(results: list[tuple[int, str, str]]) -> None:
    """Every process succeeded and saw the lock; exactly one applied the migrations, the others found them done."""
    for code, _, stderr in results:
        assert code == 0, stderr
        assert WAITING in stderr
        assert "already exists" not in stderr and "Traceback" not in stderr
    applied = [[step["revision"] for step in json.loads(stdout)["applied"]] for _, stdout, _ in results]
    assert sorted(applied, key=len) == [[]] * (len(results) - 1) + [ALL]


def test_db_upgrades_started_at_once_on_postgresql_migrate_once(tmp_path, postgres):
    url, engine = postgres
    env = environment(tmp_path, url)
    holder = hold_advisory_lock(engine)
    processes = [Started(env, tmp_path / f"p{n}", "db", "upgrade", "--json") for n in range(5)]
    try:
        eventually(lambda: advisory_locks(engine, granted=False) == 5, "all five to wait for the lock")
    finally:
        let_go(holder)

    results = [process.finish() for process in processes]

    assert_migrated_once(results)
    assert version_rows(engine) == [HEAD]
    assert advisory_locks(engine, granted=True) == 0  # each let go


def test_serve_instances_started_at_once_on_postgresql_migrate_once_and_share_one_first_key(tmp_path, postgres):
    url, engine = postgres
    env = environment(tmp_path, url, AUTHSERVER_ISSUER=f"http://127.0.0.1:{free_port()}")
    ports = [free_port() for _ in range(4)]
    holder = hold_advisory_lock(engine)
    servers = [
        Started(env, tmp_path / f"s{n}", "serve", "--workers", "1", "--threads", "2", "--port", str(port))
        for n, port in enumerate(ports)
    ]
    try:
        try:
            eventually(lambda: advisory_locks(engine, granted=False) == 4, "all four to wait for the lock")
        finally:
            let_go(holder)
        for server, port in zip(servers, ports, strict=True):
            wait_for_http(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", server.proc, server.err,
                          timeout=SLOW)  # fmt: skip
        kids = [
            sorted(
                key["kid"]
                for key in requests.get(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=10).json()["keys"]
            )
            for port in ports
        ]
    finally:
        for server in servers:
            server.stop()

    logs = [server.err.read_text() for server in servers]
    assert all(WAITING in log for log in logs)
    assert not any("already exists" in log or "Traceback" in log for log in logs)
    assert version_rows(engine) == [HEAD]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM signing_keys")).scalar() == 1  # one first key, not four
    assert kids == [kids[0]] * 4 and len(kids[0]) == 1


def test_with_auto_migrate_off_a_start_during_a_release_migration_waits_for_it_then_serves(tmp_path, postgres):
    url, engine = postgres
    port = free_port()
    env = environment(tmp_path, url, AUTHSERVER_AUTO_MIGRATE="off", AUTHSERVER_ISSUER=f"http://127.0.0.1:{port}")
    release = hold_advisory_lock(engine)  # the release step, migrating: the schema is still empty
    server = Started(env, tmp_path / "s", "run", "--port", str(port))
    try:
        try:
            eventually(lambda: advisory_locks(engine, granted=False) == 1, "the start to wait for the lock")
            upgrade_holding_lock(engine)
        finally:
            let_go(release)
        wait_for_http(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", server.proc, server.err,
                      timeout=SLOW)  # fmt: skip
    finally:
        server.stop()
    assert WAITING in server.err.read_text()


def test_a_waiter_gives_up_in_one_line_after_the_timeout_on_postgresql(tmp_path, postgres):
    url, engine = postgres
    holder = hold_advisory_lock(engine)
    try:
        code, stdout, stderr = Started(
            environment(tmp_path, url, AUTHSERVER_MIGRATION_LOCK_TIMEOUT="1s"), tmp_path / "p", "db", "upgrade"
        ).finish()
    finally:
        let_go(holder)

    assert code == 1 and stdout == ""
    assert stderr.splitlines() == [
        WAITING,
        "Error: gave up waiting for another instance's migration after 1s (the migration lock is still held); "
        "check for a running `authserver db upgrade`, or raise AUTHSERVER_MIGRATION_LOCK_TIMEOUT",
    ]
    assert not inspect(engine).has_table("alembic_version")  # nothing ran


def test_a_killed_migration_does_not_keep_the_lock_and_its_work_is_rolled_back(tmp_path, postgres):
    url, engine = postgres
    upgrade(engine, "0009", timeout=30)
    blocker = engine.connect()  # holds 0010's table, so the migration stops half-way with the lock held
    blocker.execute(text("LOCK TABLE integrations IN ACCESS EXCLUSIVE MODE"))
    env = environment(tmp_path, url, AUTHSERVER_DB_LOCK_TIMEOUT="10m")
    try:
        migrating = Started(env, tmp_path / "killed", "db", "upgrade", "--json")
        eventually(lambda: advisory_locks(engine, granted=True) == 1, "the migration to take the lock")
        eventually(lambda: _waits_for_integrations(engine), "the migration to reach 0010")

        migrating.proc.kill()
        migrating.proc.wait()

        # Its session ended with the process: the lock is free while the migration's table wait still stands.
        eventually(lambda: advisory_locks(engine, granted=True) == 0, "the lock to be let go", timeout=30)
    finally:
        blocker.rollback()
        blocker.close()

    code, stdout, stderr = Started(
        environment(tmp_path, url, AUTHSERVER_MIGRATION_LOCK_TIMEOUT="30s"),
        tmp_path / "next",
        "db",
        "upgrade",
        "--json",
    ).finish()

    assert code == 0, stderr
    assert [step["revision"] for step in json.loads(stdout)["applied"]] == AFTER_0009  # the killed one's rolled back
    assert version_rows(engine) == [HEAD]


def _waits_for_integrations(engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'integrations'::regclass"
                    " AND pid <> pg_backend_pid()"
                )
            ).scalar()
        )


# -- SQLite: the lock file --------------------------------------------------------------------------------------
def hold_lock_file(database: Path) -> int:
    descriptor = os.open(f"{database}.migration-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def test_db_upgrades_started_at_once_on_sqlite_migrate_once(tmp_path):
    database = tmp_path / "authserver.db"
    env = environment(tmp_path, f"sqlite:///{database}")
    holder = hold_lock_file(database)
    processes = [Started(env, tmp_path / f"p{n}", "db", "upgrade", "--json") for n in range(4)]
    try:
        eventually(lambda: all(WAITING in p.err.read_text() for p in processes), "all four to wait for the lock")
    finally:
        os.close(holder)

    results = [process.finish() for process in processes]

    assert_migrated_once(results)
    engine = create_engine(f"sqlite:///{database}")
    assert version_rows(engine) == [HEAD]
    engine.dispose()


def test_a_waiter_gives_up_in_one_line_after_the_timeout_on_sqlite(tmp_path):
    database = tmp_path / "authserver.db"
    holder = hold_lock_file(database)
    try:
        code, stdout, stderr = Started(
            environment(tmp_path, f"sqlite:///{database}", AUTHSERVER_MIGRATION_LOCK_TIMEOUT="1s"),
            tmp_path / "p",
            "db",
            "upgrade",
        ).finish()
    finally:
        os.close(holder)

    assert code == 1 and stdout == ""
    assert stderr.splitlines()[0] == WAITING and len(stderr.splitlines()) == 2
    assert stderr.splitlines()[1].startswith("Error: gave up waiting for another instance's migration after 1s")


_HOLD = """
import sys, time
from sqlalchemy import create_engine
from authserver.migration_lock import migration_lock
with migration_lock(create_engine(sys.argv[1]), timeout=5):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_of_the_sqlite_lock_file_does_not_keep_it(tmp_path):
    database = tmp_path / "authserver.db"
    url = f"sqlite:///{database}"
    holder = subprocess.Popen(  # noqa: S603  (this interpreter, a fixed script)
        [sys.executable, "-c", _HOLD, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(BlockingIOError):  # it really holds the lock
            os.close(hold_lock_file(database))
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()

    os.close(hold_lock_file(database))  # the kernel let go with the process
    code, stdout, stderr = Started(
        environment(tmp_path, url, AUTHSERVER_MIGRATION_LOCK_TIMEOUT="5s"), tmp_path / "p", "db", "upgrade", "--json"
    ).finish()
    assert code == 0, stderr
    assert WAITING not in stderr
    assert [step["revision"] for step in json.loads(stdout)["applied"]] == ALL
