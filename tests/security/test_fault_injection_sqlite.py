"""Faults of an SQLite-backed server: another writer holds the lock, the disk fills up, the signing key file
disappears, the process is killed (SIGKILL) in the middle of a rotation, a key rotation and an activity flush,
and the database is read-only at start.

The database lives on a small tmpfs of its own, so the disk can really fill up and really be read-only (mounting
needs root, which CI has). After every fault: what was acknowledged to a client holds, nothing is half-written,
and ``PRAGMA integrity_check`` says ok.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import jwt
import pytest
import requests

from tests.support.servers import make_authserver

from .conftest import PASSWORD, Admin, Browser, remember_response, run_cli, start_together
from .faults import SmallDisk, can_mount, integrity_check, sqlite_write_lock
from .forge import parts

LOCK_TIMEOUT = 2


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    if not can_mount():
        pytest.skip("mounting a small filesystem needs root")
    base = tmp_path_factory.mktemp("faults-sqlite")
    try:
        disk = SmallDisk(base / "disk")
    except PermissionError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    database = disk.path / "authserver.db"
    server = make_authserver(
        base / "work", DATABASE_URL=f"sqlite:///{database}", AUTHSERVER_DB_LOCK_TIMEOUT=str(LOCK_TIMEOUT)
    )
    account, admin, service, _ = run_cli(
        server,
        (["account", "create", "--name", "Faulty", "--json"], None),
        (["client", "create", "--name", "admin", "--kind", "admin", "--account", "{0[id]}", "--json"], None),
        (["client", "create", "--name", "svc", "--kind", "resource-service", "--json"], None),
        (
            [
                "user",
                "create",
                "--account",
                "{0[id]}",
                "--email",
                "admin@faulty.example",
                "--role",
                "admin",
                "--password-stdin",
                "--json",
            ],
            PASSWORD + "\n",
        ),
    )
    start_together(server)
    try:
        yield {
            "server": server,
            "disk": disk,
            "database": database,
            "keys": Path(server.env["AUTHSERVER_KEYS_DIR"]),
            "admin": Admin(server, admin["client_id"], admin["client_secret"], account["id"]),
            "service": (service["client_id"], service["client_secret"]),
        }
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        disk.unmount()


def introspect(lite, token: str) -> requests.Response:
    return remember_response(
        requests.post(f"{lite['server'].url}/oauth/introspect", data={"token": token}, auth=lite["service"], timeout=30)
    )


def is_active(lite, token: str) -> bool:
    response = introspect(lite, token)
    assert response.status_code == 200, response.text
    return response.json()["active"]


def revoke(lite, token: str) -> requests.Response:
    return requests.post(
        f"{lite['server'].url}/oauth/revoke", data={"token": token}, auth=lite["admin"].credentials, timeout=30
    )


def kill_and_restart(lite) -> None:
    lite["server"].stop(signal.SIGKILL)
    start_together(lite["server"])


def assert_database_problem(response: requests.Response, words: str) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert response.headers["Content-Type"] == "application/problem+json"
    assert body["type"].endswith("/database_unavailable") and words in body["detail"], body
    assert "Traceback" not in response.text


def usage_count(lite, integration_id: str) -> int:
    response = lite["admin"].request("GET", f"/integrations/{integration_id}/activity", params={"days": "2"})
    assert response.status_code == 200, response.text
    return sum(day["count"] for day in response.json()["usage"])


def eventually(check, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


def test_write_lock_held_elsewhere_reads_go_on_and_writes_fail_clearly(lite):
    admin = lite["admin"]
    token = admin.integration_with_token()["token"]
    with sqlite_write_lock(lite["database"]):
        assert is_active(lite, token)  # WAL: readers never wait for a writer
        assert revoke(lite, token).status_code == 503  # not a 200 for a revocation that was not written
        assert_database_problem(
            admin.request(
                "POST",
                f"/accounts/{admin.account_id}/integrations",
                json={"name": "x", "scopes": ["contacts.readonly"]},
            ),
            "locked",
        )
    assert is_active(lite, token)
    assert revoke(lite, token).status_code == 200
    assert not is_active(lite, token)


def test_full_disk_refuses_changes_with_a_clear_503_and_recovers(lite):
    admin = lite["admin"]
    live = admin.integration_with_token()
    waiting = admin.create_integration()
    browser = Browser(lite["server"])
    assert browser.sign_in("admin@faulty.example").status_code in (302, 303)
    new_page = f"/accounts/{admin.account_id}/settings/integrations/new"
    csrf = browser.page_csrf_token(new_page)
    lite["disk"].fill()
    try:
        assert is_active(lite, live["token"])
        page = browser.post(
            new_page,
            data={"csrf_token": csrf, "name": "x", "scopes": "contacts.readonly"},
            headers={"Origin": lite["server"].url},
        )
        assert page.status_code == 503 and "disk is full" in page.text and "Traceback" not in page.text
        for _ in range(3):  # enough writes to need new pages
            assert_database_problem(
                admin.request(
                    "POST",
                    f"/accounts/{admin.account_id}/integrations",
                    json={"name": "n" * 200, "description": "d" * 2000, "scopes": ["contacts.readonly"]},
                ),
                "full",
            )
        assert_database_problem(admin.request("POST", f"/integrations/{waiting['id']}/tokens", json={}), "full")
    finally:
        lite["disk"].free()
    assert admin.request("GET", f"/integrations/{waiting['id']}/tokens").json()["tokens"] == []
    assert is_active(lite, admin.generate(waiting["id"])["token"])
    assert integrity_check(lite["database"]) == "ok"


def test_key_file_deleted_while_running_signing_fails_clearly_and_verification_goes_on(lite):
    admin = lite["admin"]
    live = admin.integration_with_token()
    kid = parts(live["token"])[0]["kid"]
    key_file = lite["keys"] / f"{kid}.pem"
    saved = key_file.read_bytes()
    waiting = admin.create_integration()
    before = admin.request("GET", f"/integrations/{waiting['id']}").headers["ETag"]
    key_file.unlink()
    try:
        refused = admin.request("POST", f"/integrations/{waiting['id']}/tokens", json={})
        assert refused.status_code == 503, refused.text
        assert refused.json()["type"].endswith("/signing_unavailable")
        assert kid in refused.json()["detail"]
        after = admin.request("GET", f"/integrations/{waiting['id']}")
        assert after.headers["ETag"] == before and after.json()["tokens"] == []
        assert is_active(lite, live["token"])
        jwks = requests.get(f"{lite['server'].url}/.well-known/jwks.json", timeout=30).json()
        assert kid in [key["kid"] for key in jwks["keys"]]
    finally:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(saved)
    assert is_active(lite, admin.generate(waiting["id"])["token"])


def test_sigkill_mid_rotation_leaves_the_old_state_and_what_was_acknowledged(lite):
    admin, server = lite["admin"], lite["server"]
    current = admin.integration_with_token()
    acknowledged = admin.integration_with_token()
    assert revoke(lite, acknowledged["token"]).status_code == 200  # acknowledged just before the crash
    before = admin.request("GET", f"/integrations/{current['integration_id']}").headers["ETag"]
    outcome: list = []

    def rotate():
        try:
            outcome.append(
                admin.request("POST", f"/integrations/{current['integration_id']}/rotate", json={"mode": "now"})
            )
        except requests.RequestException as exc:
            outcome.append(exc)

    with sqlite_write_lock(lite["database"]):
        thread = threading.Thread(target=rotate)
        thread.start()
        time.sleep(LOCK_TIMEOUT / 2)  # the rotation has minted its token and waits to write it
        server.stop(signal.SIGKILL)
    thread.join(timeout=60)
    assert isinstance(outcome[0], requests.RequestException)  # no answer ever reached the client
    start_together(server)

    assert is_active(lite, current["token"])
    assert not is_active(lite, acknowledged["token"])
    integration = admin.request("GET", f"/integrations/{current['integration_id']}")
    assert integration.headers["ETag"] == before
    tokens = admin.request("GET", f"/integrations/{current['integration_id']}/tokens").json()["tokens"]
    assert [t["token_id"] for t in tokens] == [current["token_id"]]
    assert integrity_check(lite["database"]) == "ok"


def test_sigkill_mid_key_rotation_leaves_every_token_verifiable(lite):
    admin, server, keys = lite["admin"], lite["server"], lite["keys"]
    old = admin.integration_with_token()
    on_disk = set(keys.glob("*.pem"))
    with sqlite_write_lock(lite["database"]):
        rotation = subprocess.Popen(
            [sys.executable, "-m", "authserver", "keys", "rotate", "--json"],
            env=server.env,
            cwd=server.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The new private key is written first; the rotation then waits for the database to record it.
        assert eventually(lambda: set(keys.glob("*.pem")) - on_disk, 90)
        rotation.kill()
        rotation.wait()
    orphan = (set(keys.glob("*.pem")) - on_disk).pop()
    server.stop(signal.SIGKILL)
    start_together(server)

    assert is_active(lite, old["token"])
    new = admin.integration_with_token()
    assert is_active(lite, new["token"])
    signing = jwt.PyJWKClient(f"{server.url}/.well-known/jwks.json", cache_keys=False)
    for token in (old["token"], new["token"]):
        key = signing.get_signing_key_from_jwt(token)
        jwt.decode(token, key.key, algorithms=[parts(token)[0]["alg"]], options={"verify_aud": False})
    listed = run_cli(server, (["keys", "list", "--json"], None))[0]["keys"]
    assert sum(key["current"] for key in listed) == 1
    assert all(key["private_key_present"] for key in listed if key["current"])
    assert orphan.stem in [key["kid"] for key in listed]
    assert integrity_check(lite["database"]) == "ok"


def test_sigkill_mid_activity_flush_keeps_every_flushed_count_and_a_consistent_database(lite):
    admin, server = lite["admin"], lite["server"]
    issued = admin.integration_with_token()
    for _ in range(3):
        assert is_active(lite, issued["token"])
    assert eventually(lambda: usage_count(lite, issued["integration_id"]) == 3)
    with sqlite_write_lock(lite["database"]):
        for _ in range(2):  # buffered; every flush attempt now waits on the lock
            assert is_active(lite, issued["token"])
        time.sleep(1.0)
        server.stop(signal.SIGKILL)
    assert integrity_check(lite["database"]) == "ok"
    start_together(server)

    assert usage_count(lite, issued["integration_id"]) == 3  # the two unflushed uses: the documented bound
    tokens = admin.request("GET", f"/integrations/{issued['integration_id']}/tokens").json()["tokens"]
    assert tokens[0]["last_used_at"] is not None
    assert is_active(lite, issued["token"])
    assert eventually(lambda: usage_count(lite, issued["integration_id"]) == 4)


def test_read_only_database_at_start_is_one_clear_error_not_a_traceback(lite):
    server, disk = lite["server"], lite["disk"]
    token = lite["admin"].integration_with_token()["token"]
    server.stop()
    # Checkpoint and drop the write-ahead log and its index, as after a clean shutdown of every process.
    with contextlib.closing(sqlite3.connect(lite["database"])) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{lite['database']}{suffix}").unlink(missing_ok=True)
    disk.remount("ro")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "authserver", "run", "--port", str(server.port)],
            env=server.env,
            cwd=server.workdir,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        disk.remount("rw")
    assert done.returncode == 1
    assert "Error:" in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert "DATABASE_URL" in done.stderr
    start_together(server)
    assert is_active(lite, token)
    assert integrity_check(lite["database"]) == "ok"
